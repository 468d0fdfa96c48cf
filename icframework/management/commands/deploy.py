"""``manage.py deploy [app ...]``: build Python canister apps and install them on a replica.

For each app (default: every app with canister code): build it (``manage.py build``),
create its canister if ``.icframework/canister_ids.json`` has no id for the app's name
on this network (provisional creation with the replica's default cycles) — or if the
recorded canister no longer exists — then install the module into an empty canister
or upgrade the installed one (state in stable structures is kept). An upgrade whose
interface is no Candid subtype of the installed one is refused unless ``--yes``
(`canister.check_upgrade`). A canister already running exactly this module (same
module hash) is left alone. Prints the canister id, its module hash and the URLs that
answer: the app's page (``/<app>/``, when the app has ``urls.py``) and the canister's
own origin on the gateway (when it exports ``http_request``); and warns when the
caller is the anonymous identity (whose canisters anyone controls).
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand

from icframework.agent import AgentError, ManagementCanister, RejectError
from icframework.agent.actor import service_methods
from icframework.candid import CandidError, parse_did
from icframework.compiler.app_build import BuildResult
from icframework.core import ErrorCode, Principal
from icframework.deployments import format_module_hash, module_hash, network_name
from icframework.management.commands.build import app_dirs, build
from icframework.management.commands.call import (
    add_connection_arguments,
    agent_errors,
    make_agent,
    recorded_id,
    save_canister_id,
)
from icframework.management.commands.canister import (
    anonymous_warning,
    check_upgrade,
    init_argument,
)


def gateway_url(url: str, canister: Principal) -> str:
    """The browser URL of ``canister``'s own origin behind the replica at ``url``."""
    parts = urlsplit(url)
    if parts.hostname in ("127.0.0.1", "localhost"):
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{canister.to_text()}.localhost{port}/"
    if parts.hostname in ("ic0.app", "icp0.io", "icp-api.io"):
        return f"https://{canister.to_text()}.icp0.io/"
    return f"{url}/?canisterId={canister.to_text()}"


def interface_methods(did: str) -> list[str]:
    """The method names the .did text's service declares (none if it cannot be read)."""
    try:
        return sorted(service_methods(parse_did(did)))
    except (CandidError, AgentError):
        return []


def app_urls(app_dir: Path, result: BuildResult, url: str, canister: Principal) -> list[str]:
    """The ``label: URL`` lines that answer for a deployed app: its page (served by the
    replica's Django site at ``/<app>/`` when the app has ``urls.py``; not on mainnet)
    and its canister's gateway origin (only when it exports ``http_request``, else the
    gateway answers 502)."""
    lines = []
    if (app_dir / "urls.py").is_file() and network_name(url) == "local":
        lines.append(f"page:    {url}/{result.name}/")
    if "http_request" in interface_methods(result.did):
        lines.append(f"gateway: {gateway_url(url, canister)}")
    return lines


def deploy(
    management: ManagementCanister,
    result: BuildResult,
    arg: Callable[[], bytes],
    *,
    yes: bool,
    warn: Callable[[str], None],
) -> tuple[Principal, str]:
    """Create (if needed) and install or upgrade; returns (canister, what was done).

    ``arg`` makes the init/upgrade argument, only when the module is installed. An
    upgrade that breaks the installed interface raises `CommandError` unless ``yes``
    (then the breaking methods go to ``warn``).
    """
    url = management.agent.url
    canister = recorded_id(result.name, url)
    installed: bytes | None = None
    created = False
    if canister is not None:
        with agent_errors(f"aaaaa-aa.canister_status for canister {canister}"):
            try:
                installed = management.canister_status(canister).module_hash
            except RejectError as exc:
                if exc.error_code != str(ErrorCode.CANISTER_NOT_FOUND):
                    raise
                canister = None  # gone, e.g. a fresh replica state: create a new one
    if canister is not None and installed == module_hash(result.wasm):
        return canister, "unchanged"
    mode: Literal["install", "upgrade"] = "install" if installed is None else "upgrade"
    if canister is not None and mode == "upgrade":
        check_upgrade(
            management, canister, result.did, f"{result.name} ({canister.to_text()})",
            yes=yes, warn=warn,
        )
    argument = arg()  # before creating: a bad --arg must not leave an empty canister
    if canister is None:
        with agent_errors("aaaaa-aa.provisional_create_canister_with_cycles"):
            canister = management.provisional_create_canister_with_cycles()
        save_canister_id(result.name, canister, url)
        created = True
    with agent_errors(f"aaaaa-aa.install_code ({mode}) for canister {canister}"):
        management.install_code(canister, result.wasm, argument, mode)
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
            "--arg",
            default="()",
            help="init/post_upgrade argument as Candid text, typed by the app's .did "
            "(e.g. --arg '(variant { Init = record { ... } })' for a ledger)",
        )
        parser.add_argument(
            "--yes",
            action="store_true",
            help="upgrade even if the new interface breaks callers of the installed one "
            "(the breaking methods are listed)",
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

            def argument(result: BuildResult = result) -> bytes:
                return init_argument(options["arg"], Path(result.did_path))

            canister, done = deploy(
                management, result, argument, yes=options["yes"], warn=self.stderr.write
            )
            digest = format_module_hash(module_hash(result.wasm))
            lines = [
                f"{result.name}: canister {canister.to_text()} ({done}, "
                f"{len(result.wasm):,} bytes, module {digest})"
            ]
            lines += [f"  {line}" for line in app_urls(app_dir, result, agent.url, canister)]
            self.stdout.write("\n".join(lines))
