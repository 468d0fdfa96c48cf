"""The ``ledger`` template: scaffolded, its own tests run, built, deployed with init
arguments on a live ``runreplica``, and driven over HTTP by the unmodified
``IcrcLedgerCanister`` of ``@dfinity/ledger-icrc`` (tests/js/ledger_icrc.mjs) as four
Ed25519 identities: metadata, balances, transfers and their errors, mint and burn,
approve, allowance and transfer_from by a third identity, and the supply at the end;
then ``manage.py call`` and an upgrade with ``Upgrade`` arguments.

The replica-backed tests need Node.js (`requires_node`); the generated tests do not.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from icframework.core import Principal
from icframework.identity import Ed25519Identity
from tests.node import requires_node, run_node

SEEDS = {name: bytes([i + 1]) * 32 for i, name in enumerate(("minter", "alice", "bob", "carol"))}
PRINCIPALS = {name: Ed25519Identity.from_seed(seed).principal for name, seed in SEEDS.items()}
FEE = 10_000
ALICE_START = 100_000_000
BOB_SUBACCOUNT = bytes(range(32))


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def candid_account(owner: Principal, subaccount: bytes | None = None) -> str:
    if subaccount is None:
        sub = "null"
    else:
        escaped = "".join(f"\\{byte:02x}" for byte in subaccount)
        sub = f'opt blob "{escaped}"'
    return f'record {{ owner = principal "{owner.to_text()}"; subaccount = {sub} }}'


def init_arg() -> str:
    return (
        "(variant { Init = record {"
        ' token_name = "Python Token"; token_symbol = "PYT"; decimals = opt (6 : nat8);'
        f" transfer_fee = {FEE};"
        f" minting_account = {candid_account(PRINCIPALS['minter'])};"
        " initial_balances = vec {"
        f" record {{ {candid_account(PRINCIPALS['alice'])}; {ALICE_START} }};"
        f" record {{ {candid_account(PRINCIPALS['bob'], BOB_SUBACCOUNT)}; 5_000 }};"
        " };"
        ' metadata = vec { record { "icrc1:logo"; variant { Text = "data:," } } };'
        " } })"
    )


def golden_did(test_file: Path) -> str:
    """The ``GOLDEN_DID`` constant of the template's generated tests."""
    for node in ast.parse(test_file.read_text()).body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "GOLDEN_DID":
            text: str = ast.literal_eval(node.value)
            return text
    raise AssertionError(f"{test_file} has no GOLDEN_DID")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("ledger_project")
    with pytest.MonkeyPatch.context() as env, override_settings(BASE_DIR=root):
        env.setenv("ICFRAMEWORK_HOME", str(root / "home"))
        env.setenv("DFX_CONFIG_ROOT", str(root / "dfxroot"))
        created = run("startdapp", "ledger", "--template", "ledger")
        assert created.startswith(f"Created {root / 'apps' / 'ledger'} from the ledger template.")
        yield root


@pytest.fixture(scope="module")
def session(project: Path, replica_url: str) -> Iterator[dict[str, Any]]:
    """Deploy the ledger on the package's replica (a canister of its own) and run the Node
    client against it."""
    with override_settings(BASE_DIR=project):
        built = run("build", "ledger")
        assert re.match(r"ledger: [\d,]+ bytes, module 0x[0-9a-f]{64}, ", built), built
        url = replica_url
        deployed = run("deploy", "ledger", "--network", url, "--arg", init_arg())
        found = re.match(r"ledger: canister (\S+) \(created and installed, ", deployed)
        assert found, deployed
        payload = {
            "host": url,
            "canisterId": found[1],
            "seeds": {name: seed.hex() for name, seed in SEEDS.items()},
        }
        result: dict[str, Any] = run_node("ledger_icrc.mjs", payload, timeout=300)
        result["canisterId"] = found[1]
        # the commands docs/ledger.md shows, typed by the canister's candid:service
        bob = candid_account(PRINCIPALS["bob"])
        result["cli"] = {
            "supply": run("call", "ledger", "icrc1_total_supply", "--network", url),
            "balance": run("call", "ledger", "icrc1_balance_of", f"({bob})", "--network", url),
            "transfer": run("call", "ledger", "icrc1_transfer",
                            f"(record {{ to = {bob}; amount = 1_000 }})", "--network", url),
        }
        # an upgrade (the source changed) keeps the balances and applies its arguments
        code = project / "apps" / "ledger" / "canister.py"
        code.write_text(code.read_text() + "\n# version 2\n")
        raise_fee = "(variant { Upgrade = opt record { transfer_fee = opt 20_000 } })"
        result["cli"]["upgrade"] = run("deploy", "ledger", "--network", url, "--arg", raise_fee)
        result["cli"]["feeAfterUpgrade"] = run("call", "ledger", "icrc1_fee", "--network", url)
        result["cli"]["balanceAfterUpgrade"] = run(
            "call", "ledger", "icrc1_balance_of", f"({bob})", "--network", url
        )
        yield result


def test_the_generated_tests_pass(project: Path) -> None:
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(project / "apps" / "ledger" / "tests")],
        cwd=project, capture_output=True, text=True, check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b2\d passed\b", tests.stdout), tests.stdout


@requires_node
def test_the_build_writes_the_standard_interface(project: Path, session: dict[str, Any]) -> None:
    did = (project / "apps" / "ledger" / "ledger.did").read_text()
    assert did == golden_did(project / "apps" / "ledger" / "tests" / "test_canister.py")
    for line in (
        "service : (LedgerArg) -> {",
        "  icrc1_transfer : (TransferArg) -> (TransferResult);",
        "  icrc1_balance_of : (Account) -> (nat) query;",
        "  icrc2_transfer_from : (TransferFromArgs) -> (TransferFromResult);",
        "  icrc2_allowance : (AllowanceArgs) -> (Allowance) query;",
    ):
        assert line in did.splitlines()


@requires_node
def test_identities_and_metadata(session: dict[str, Any]) -> None:
    assert session["principals"] == {k: p.to_text() for k, p in PRINCIPALS.items()}
    assert session["metadata"] == {
        "name": "Python Token", "symbol": "PYT", "decimals": 6, "fee": str(FEE), "icon": "data:,",
    }
    assert session["rawMetadataKeys"] == [
        "icrc1:name", "icrc1:symbol", "icrc1:decimals", "icrc1:fee", "icrc1:max_memo_length",
        "icrc1:logo",
    ]
    assert session["fee"] == str(FEE)
    assert [s["name"] for s in session["standards"]] == ["ICRC-1", "ICRC-2", "ICRC-10"]
    assert session["icrc10Standards"] == session["standards"]
    assert session["mintingAccount"] == [{"owner": PRINCIPALS["minter"].to_text(),
                                          "subaccount": []}]
    assert session["supplyBefore"] == str(ALICE_START + 5_000)
    assert session["aliceBefore"] == session["aliceBeforeCertified"] == str(ALICE_START)


@requires_node
def test_transfers_and_their_errors(session: dict[str, Any]) -> None:
    assert session["transferIndex"] == "2"  # after the two initial mints
    assert session["duplicate"] == {"icrcError": {"Duplicate": {"duplicate_of": "2"}}}
    assert session["badFee"] == {"icrcError": {"BadFee": {"expected_fee": str(FEE)}}}
    assert session["insufficientFunds"] == {"icrcError": {"InsufficientFunds": {"balance": "0"}}}
    assert session["tooOld"] == {"icrcError": {"TooOld": None}}
    assert "subaccount must be 32 bytes, got 5" in session["badSubaccount"]["rejected"]


@requires_node
def test_mint_and_burn(session: dict[str, Any]) -> None:
    assert (session["mintIndex"], session["burnIndex"]) == ("3", "4")
    assert session["badBurn"] == {"icrcError": {"BadBurn": {"min_burn_amount": str(FEE)}}}


@requires_node
def test_approve_allowance_and_transfer_from(session: dict[str, Any]) -> None:
    assert session["approveIndex"] == "5"
    assert session["allowance"] == {"allowance": "300000", "expires_at": [session["expiresAt"]]}
    assert session["allowanceChanged"] == {
        "icrcError": {"AllowanceChanged": {"current_allowance": "300000"}}
    }
    assert session["transferFromIndex"] == "6"
    left = 300_000 - 200_000 - FEE
    assert session["allowanceAfter"] == {
        "allowance": str(left), "expires_at": [session["expiresAt"]]
    }
    assert session["insufficientAllowance"] == {
        "icrcError": {"InsufficientAllowance": {"allowance": str(left)}}
    }
    assert session["notApproved"] == {"icrcError": {"InsufficientAllowance": {"allowance": "0"}}}


@requires_node
def test_balances_and_supply_add_up(session: dict[str, Any]) -> None:
    alice = ALICE_START - (1_000_000 + FEE) - FEE - (200_000 + FEE)  # transfer, approve, spent
    bob = 1_000_000 + 200_000
    carol = 50_000 - 20_000
    assert session["balances"] == {
        "minter": "0", "alice": str(alice), "bob": str(bob), "carol": str(carol),
    }
    bob_subaccount = 5_000
    assert int(session["supplyAfter"]) == alice + bob + carol + bob_subaccount
    assert int(session["supplyAfter"]) == ALICE_START + 5_000 + 50_000 - 20_000 - 3 * FEE


@requires_node
def test_the_command_line_client(session: dict[str, Any]) -> None:
    cli = session["cli"]
    assert cli["supply"] == f"({int(session['supplyAfter']):_} : nat)"
    assert cli["balance"] == f"({int(session['balances']['bob']):_} : nat)"
    # the CLI's default identity holds nothing
    assert "InsufficientFunds" in cli["transfer"] and "balance = 0" in cli["transfer"]
    assert cli["upgrade"].startswith(f"ledger: canister {session['canisterId']} (upgraded, ")
    assert cli["feeAfterUpgrade"] == "(20_000 : nat)"
    assert cli["balanceAfterUpgrade"] == cli["balance"]
