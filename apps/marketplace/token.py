"""The marketplace's payment token: the framework's ``ledger`` template, deployed for the demo.

The marketplace takes payments in any ICRC-1/ICRC-2 ledger; the demo (and the
integration tests) use the framework's own Python ledger (docs/ledger.md) rendered from
the ``ledger`` app template into ``<state dir>/demo/apps/marketplace_token``, built
like any app (cached by source hash) and installed once, with demo balances. It is
recorded as ``marketplace_token`` in the project's deploy record, where the page finds
it; the demo's admin identity (`icframework.demo.admin_identity`) deploys it and is its
only controller. ``apps/marketplace/icrc.did`` is that ledger's interface, which the page's actor is
built from (a test keeps the two equal).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from icframework.candid import encode, parse_did, parse_values
from icframework.compiler.app_build import BuildResult, build_app, scaffold_app
from icframework.core import Principal
from icframework.demo import admin_identity, install_recorded
from icframework.replica import Replica, pack_python_module

__all__ = ["DECIMALS", "SYMBOL", "TOKEN_NAME", "TRANSFER_FEE", "DemoToken", "build_token",
           "deploy_token", "token_init_arg"]

TOKEN_NAME = "marketplace_token"
SYMBOL = "MKT"
DECIMALS = 8
TRANSFER_FEE = 10_000  # 0.0001 MKT


@dataclass(frozen=True, slots=True)
class DemoToken:
    canister_id: Principal
    done: str  # what install_recorded did
    minter: Principal


def build_token(state_dir: Path, progress: Callable[[str], None] | None = None) -> BuildResult:
    """Render the ``ledger`` template afresh under ``state_dir`` and build it."""
    apps = state_dir / "demo" / "apps"
    shutil.rmtree(apps / TOKEN_NAME, ignore_errors=True)
    app_dir = scaffold_app(TOKEN_NAME, "ledger", apps)
    return build_app(app_dir, pack_python_module,
                     cache_dir=Path(settings.BASE_DIR) / ".build" / "apps", progress=progress)


def token_init_arg(did: str, minter: Principal, balances: dict[Principal, int]) -> bytes:
    """The ledger's ``Init`` argument: MKT with ``balances`` (in e8s) minted at install."""
    service = parse_did(did)
    assert service.service_args is not None
    initial = "; ".join(
        f'record {{ record {{ owner = principal "{who.to_text()}"; subaccount = null }}; '
        f"{amount} }}" for who, amount in balances.items())
    text = (
        f'(variant {{ Init = record {{ token_name = "Market Token"; token_symbol = "{SYMBOL}"; '
        f"decimals = opt {DECIMALS}; transfer_fee = {TRANSFER_FEE}; "
        f'minting_account = record {{ owner = principal "{minter.to_text()}"; '
        f"subaccount = null }}; initial_balances = vec {{ {initial} }}; metadata = vec {{}} }} }})"
    )
    return encode(service.service_args, parse_values(text, service.service_args, env=service.env))


def deploy_token(replica: Replica, url: str, state_dir: Path, minter: Principal,
                 balances: dict[Principal, int],
                 progress: Callable[[str], None] | None = None) -> DemoToken:
    """Install the demo token as the admin of ``state_dir`` (or keep the recorded one;
    upgrades keep its balances)."""
    built = build_token(state_dir, progress)
    service = parse_did(built.did)
    args = service.service_args or ()
    upgrade = encode(args, parse_values("(variant { Upgrade = null })", args, env=service.env))
    canister, done = install_recorded(
        replica, url, TOKEN_NAME, built.wasm, admin=admin_identity(state_dir).principal,
        init_arg=token_init_arg(built.did, minter, balances), upgrade_arg=upgrade)
    return DemoToken(canister, done, minter)
