"""Acceptance of the IC target through the project's CLI on a running ``runreplica``: the
counter template (``startdapp x --template counter``, ``build x --target ic``, ``deploy x
--target ic``) called by the unmodified npm ``@dfinity/agent`` (tests/js/ic_target_counter.mjs),
and the ledger template built for the IC target driven by ``@dfinity/ledger-icrc``
(tests/js/ledger_icrc.mjs): the ledger client tests of tests/management/test_ledger_template.py
run here again against the IC-target build (their ``session`` fixture is this module's).

Needs Node.js (agent-js, and binaryen's wasm-merge for the build). The IC runtime's base is
shared with the other IC-target tests (``<repo>/.build/ic``), so only the app builds run here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from icframework.management.commands import build as build_command
from tests.agent.live_replica import running_replica
from tests.management.test_ledger_template import (
    PRINCIPALS,
    SEEDS,
    candid_account,
    init_arg,
    test_approve_allowance_and_transfer_from,
    test_balances_and_supply_add_up,
    test_identities_and_metadata,
    test_mint_and_burn,
    test_the_command_line_client,
    test_transfers_and_their_errors,
)
from tests.node import requires_node, run_node

pytestmark = requires_node

CACHE = Path(__file__).resolve().parents[2] / ".build" / "ic"

# The ledger client's tests, collected again in this module with its IC-target ``session``.
__all__ = [
    "test_approve_allowance_and_transfer_from", "test_balances_and_supply_add_up",
    "test_identities_and_metadata", "test_mint_and_burn", "test_the_command_line_client",
    "test_transfers_and_their_errors",
]


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


@pytest.fixture(scope="module")
def replica_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_replica(tmp_path_factory.mktemp("replica") / "state",
                         startup_seconds=60) as url:
        yield url


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("ic_project")
    with pytest.MonkeyPatch.context() as env, override_settings(BASE_DIR=root):
        env.setenv("ICFRAMEWORK_HOME", str(root / "home"))
        env.setenv("DFX_CONFIG_ROOT", str(root / "dfxroot"))
        # the IC runtime's toolchain and base are the repository's, shared with the other tests
        env.setattr(build_command, "ic_cache_dir", lambda: CACHE)
        yield root


def deploy_ic(app: str, url: str, *args: str) -> str:
    """``build APP --target ic`` then ``deploy APP --target ic``: the canister id."""
    built = run("build", app, "--target", "ic")
    assert re.match(rf"{app}: [\d,]+ bytes \([\d,]+ gzipped\), module 0x[0-9a-f]{{64}}, ",
                    built), built
    assert "imports only ic0: True" in built, built
    deployed = run("deploy", app, "--target", "ic", "--network", url, *args)
    found = re.match(rf"{app}: canister (\S+) \(created and installed, ", deployed)
    assert found, deployed
    return found[1]


def test_the_counter_template_answers_agent_js(project: Path, replica_url: str) -> None:
    with override_settings(BASE_DIR=project):
        run("startdapp", "x", "--template", "counter")
        canister = deploy_ic("x", replica_url)
    result = run_node("ic_target_counter.mjs", {"host": replica_url, "canisterId": canister},
                      timeout=300)
    assert result["before"] == "0"
    assert result["increments"] == ["1", "2", "3"]
    assert result["after"] == "3"
    # the IC's answer for an export the module lacks, as agent-js reports it
    assert "Canister has no query method 'missing'" in result["missing"], result["missing"]
    assert "Error code: IC0536" in result["missing"], result["missing"]


@pytest.fixture(scope="module")
def session(project: Path, replica_url: str) -> Iterator[dict[str, Any]]:
    """The ledger template built for the IC target, deployed with its init arguments and
    driven by the Node client; then the CLI calls and an upgrade, as for the component."""
    url = replica_url
    with override_settings(BASE_DIR=project):
        run("startdapp", "ledger", "--template", "ledger")
        canister = deploy_ic("ledger", url, "--arg", init_arg())
        payload = {
            "host": url, "canisterId": canister,
            "seeds": {name: seed.hex() for name, seed in SEEDS.items()},
        }
        result: dict[str, Any] = run_node("ledger_icrc.mjs", payload, timeout=300)
        result["canisterId"] = canister
        bob = candid_account(PRINCIPALS["bob"])
        result["cli"] = {
            "supply": run("call", "ledger", "icrc1_total_supply", "--network", url),
            "balance": run("call", "ledger", "icrc1_balance_of", f"({bob})", "--network", url),
            "transfer": run("call", "ledger", "icrc1_transfer",
                            f"(record {{ to = {bob}; amount = 1_000 }})", "--network", url),
        }
        code = project / "apps" / "ledger" / "canister.py"
        code.write_text(code.read_text() + "\n# version 2\n")
        raise_fee = "(variant { Upgrade = opt record { transfer_fee = opt 20_000 } })"
        run("build", "ledger", "--target", "ic")
        result["cli"]["upgrade"] = run("deploy", "ledger", "--target", "ic", "--network", url,
                                       "--arg", raise_fee)
        result["cli"]["feeAfterUpgrade"] = run("call", "ledger", "icrc1_fee", "--network", url)
        result["cli"]["balanceAfterUpgrade"] = run(
            "call", "ledger", "icrc1_balance_of", f"({bob})", "--network", url
        )
        yield result


def test_deploying_to_mainnet_without_a_canister_says_how_to_get_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--network ic`` is the mainnet (its root key built in); deploy cannot create a
    canister there, so with none recorded it stops before any call, saying what to do."""
    monkeypatch.setenv("ICFRAMEWORK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DFX_CONFIG_ROOT", str(tmp_path / "dfxroot"))
    monkeypatch.setattr(build_command, "ic_cache_dir", lambda: CACHE)
    with override_settings(BASE_DIR=tmp_path):
        run("startdapp", "x", "--template", "counter")
        with pytest.raises(CommandError) as failed:
            run("deploy", "x", "--target", "ic", "--network", "ic")
    message = str(failed.value)
    assert "no canister is recorded for x on the IC mainnet" in message
    assert 'as {"x": {"ic": "<canister id>"}}' in message
