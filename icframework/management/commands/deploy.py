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

``--target ic`` deploys the standard IC module instead (``manage.py build --target ic``),
or with ``--wasm PATH`` a module built elsewhere (raw or gzipped, its interface read
from its ``candid:service`` section), after checking it against the IC's limits. A
module too large for one ingress message (2 MiB) is uploaded to the canister's chunk
store in 1 MiB chunks and installed with ``install_chunked_code``
(`ManagementCanister.install_large_code`), the uploads shown as progress.
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError

from icframework.agent import AgentError, ManagementCanister, RejectError
from icframework.agent.actor import service_methods
from icframework.candid import CandidError, parse_did
from icframework.compiler.ic_package import IcPackageError, load_ic_module
from icframework.core import ErrorCode, Principal
from icframework.deployments import format_module_hash, module_hash, network_name
from icframework.management.commands.build import (
    TARGETS,
    app_dirs,
    apps_dir,
    build,
    build_ic,
    ic_out_dir,
)
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


@dataclass(frozen=True, slots=True)
class Deployment:
    """What is deployed under ``name``: the ``module`` as installed (raw or gzipped), its
    Candid ``did`` text and the .did file typing ``--arg`` (if any)."""

    name: str
    module: bytes
    did: str
    did_path: Path | None


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


def app_urls(app_dir: Path, result: Deployment, url: str, canister: Principal) -> list[str]:
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
    result: Deployment,
    arg: Callable[[], bytes],
    *,
    yes: bool,
    warn: Callable[[str], None],
    progress: Callable[[str], None] | None = None,
) -> tuple[Principal, str]:
    """Create (if needed) and install or upgrade; returns (canister, what was done).

    ``arg`` makes the init/upgrade argument, only when the module is installed. An
    upgrade that breaks the installed interface raises `CommandError` unless ``yes``
    (then the breaking methods go to ``warn``). A module over the ingress limit goes up
    in chunks, each reported to ``progress``.
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
    if canister is not None and installed == module_hash(result.module):
        return canister, "unchanged"
    mode: Literal["install", "upgrade"] = "install" if installed is None else "upgrade"
    if canister is not None and mode == "upgrade":
        check_upgrade(
            management, canister, result.did, f"{result.name} ({canister.to_text()})",
            yes=yes, warn=warn,
        )
    argument = arg()  # before creating: a bad --arg must not leave an empty canister
    if canister is None and network_name(url) == "ic":
        # mainnet has no provisional creation: canisters are paid for with cycles
        raise CommandError(
            f"no canister is recorded for {result.name} on the IC mainnet, and deploy "
            "cannot create one there (provisional creation is for local replicas): create "
            "it with cycles (the NNS app, or `dfx canister create --network ic`) with this "
            "identity as a controller, then record its id in .icframework/canister_ids.json "
            f'as {{"{result.name}": {{"ic": "<canister id>"}}}}'
        )
    if canister is None:
        with agent_errors("aaaaa-aa.provisional_create_canister_with_cycles"):
            canister = management.provisional_create_canister_with_cycles()
        save_canister_id(result.name, canister, url)
        created = True
    with agent_errors(f"aaaaa-aa.install_code ({mode}) for canister {canister}"):
        management.install_large_code(canister, result.module, argument, mode, progress=progress)
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
            "--target",
            choices=TARGETS,
            default="component",
            help="component (default): the module this project's replica runs; ic: the "
            "standard IC module (manage.py build --target ic), installed in 1 MiB chunks "
            "when it is over the 2 MiB ingress limit",
        )
        parser.add_argument(
            "--wasm",
            default=None,
            metavar="PATH",
            help="with --target ic and one name: install this prebuilt module (raw or "
            "gzipped) as that canister instead of building the app",
        )
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
        wasm = options["wasm"]
        if wasm is not None and options["target"] != "ic":
            raise CommandError("--wasm installs a standard IC module: add --target ic")
        if wasm is not None and len(options["apps"]) != 1:
            raise CommandError(
                "--wasm installs one module: name the canister it is for, e.g. "
                "manage.py deploy counter --target ic --wasm counter.wasm.gz")
        dirs = [apps_dir() / options["apps"][0]] if wasm else app_dirs(options["apps"])
        agent = make_agent(options)
        management = ManagementCanister(agent)
        if agent.identity.principal.is_anonymous:
            self.stderr.write(anonymous_warning("the canisters this deploys"))
        for app_dir in dirs:
            result = self.prepare(app_dir, options)

            def argument(result: Deployment = result) -> bytes:
                return init_argument(options["arg"], result.did_path)

            canister, done = deploy(
                management, result, argument, yes=options["yes"], warn=self.stderr.write,
                progress=lambda line: self.stderr.write(f"[deploy] {line}"),
            )
            digest = format_module_hash(module_hash(result.module))
            lines = [
                f"{result.name}: canister {canister.to_text()} ({done}, "
                f"{len(result.module):,} bytes, module {digest})"
            ]
            lines += [f"  {line}" for line in app_urls(app_dir, result, agent.url, canister)]
            self.stdout.write("\n".join(lines))

    def prepare(self, app_dir: Path, options: dict[str, Any]) -> Deployment:
        """The module to deploy for ``app_dir``: built for the chosen target, or the
        ``--wasm`` file; `CommandError` if it cannot be built, read or breaks a limit."""
        def progress(line: str) -> None:
            self.stderr.write(f"[build] {line}")

        if options["target"] != "ic":
            built = build(app_dir, progress=progress)
            return Deployment(built.name, built.wasm, built.did, Path(built.did_path))
        if options["wasm"] is None:
            package = build_ic(app_dir, ic_out_dir(), progress=progress)
        else:
            try:
                package = load_ic_module(app_dir.name, Path(options["wasm"]),
                                         out_dir=ic_out_dir(), progress=progress)
            except IcPackageError as exc:
                raise CommandError(f"cannot deploy {options['wasm']}: {exc}") from None
        return Deployment(package.name, package.installed, package.did, package.did_path)
