"""``manage.py deploy [app ...]``: build Python canister apps and install them on a replica.

For each app (default: every app with canister code): build it (``manage.py build``),
create its canister if ``.icframework/canister_ids.json`` has no id for the app's name
on this network (provisional creation with the replica's default cycles) — or if the
recorded canister no longer exists — then install the module into an empty canister
or upgrade the installed one (state in stable structures is kept). A canister already
running exactly this module is left alone. Prints the canister id and its gateway URL,
and warns when the caller is the anonymous identity (whose canisters anyone controls).
"""

from __future__ import annotations

import hashlib
from argparse import ArgumentParser
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand

from icframework.agent import ManagementCanister, RejectError
from icframework.compiler.app_build import BuildResult
from icframework.core import Principal
from icframework.management.commands.build import app_dirs, build
from icframework.management.commands.call import (
    add_connection_arguments,
    agent_errors,
    make_agent,
    recorded_id,
    save_canister_id,
)
from icframework.management.commands.canister import anonymous_warning, init_argument


def gateway_url(url: str, canister: Principal) -> str:
    """The browser URL of ``canister`` behind the replica at ``url``."""
    parts = urlsplit(url)
    if parts.hostname in ("127.0.0.1", "localhost"):
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{canister.to_text()}.localhost{port}/"
    if parts.hostname in ("ic0.app", "icp0.io", "icp-api.io"):
        return f"https://{canister.to_text()}.icp0.io/"
    return f"{url}/?canisterId={canister.to_text()}"


def deploy(
    management: ManagementCanister, result: BuildResult, arg: bytes
) -> tuple[Principal, str]:
    """Create (if needed) and install or upgrade; returns (canister, what was done)."""
    url = management.agent.url
    canister = recorded_id(result.name, url)
    module_hash: bytes | None = None
    created = False
    if canister is not None:
        try:
            module_hash = management.canister_status(canister).module_hash
        except RejectError:
            canister = None  # gone, e.g. a fresh replica state: create a new one
    if canister is None:
        with agent_errors("aaaaa-aa.provisional_create_canister_with_cycles"):
            canister = management.provisional_create_canister_with_cycles()
        save_canister_id(result.name, canister, url)
        created = True
    if module_hash == hashlib.sha256(result.wasm).digest():
        return canister, "unchanged"
    mode: Literal["install", "upgrade"] = "install" if module_hash is None else "upgrade"
    with agent_errors(f"aaaaa-aa.install_code ({mode}) for canister {canister}"):
        management.install_code(canister, result.wasm, arg, mode)
    done = "installed" if mode == "install" else "upgraded"
    return canister, f"created and {done}" if created else done


class Command(BaseCommand):
    help = (
        "Build Python canister apps and create, install or upgrade their canisters on a "
        "replica (ids in .icframework/canister_ids.json). Example: manage.py deploy counter"
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("apps", nargs="*", help="app names (default: every app with code)")
        parser.add_argument(
            "--arg", default="()", help="init/post_upgrade argument as Candid text"
        )
        add_connection_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        dirs = app_dirs(options["apps"])
        agent = make_agent(options)
        management = ManagementCanister(agent)
        if agent.identity.principal.is_anonymous:
            self.stderr.write(anonymous_warning("the canisters this deploys"))
        for app_dir in dirs:
            result = build(app_dir, progress=lambda line: self.stderr.write(f"[build] {line}"))
            arg = init_argument(options["arg"], Path(result.did_path))
            canister, done = deploy(management, result, arg)
            self.stdout.write(
                f"{result.name}: canister {canister.to_text()} ({done}, "
                f"{len(result.wasm):,} bytes, hash {result.key[:8]})\n"
                f"  URL: {gateway_url(agent.url, canister)}"
            )
