"""``manage.py canister``: manage canisters on a running replica through ``aaaaa-aa``.

``create`` makes an empty canister (recording ``NAME`` → id in
``.icframework/canister_ids.json``; a name that already records a live canister is
refused unless ``--force``, since re-pointing it would orphan that canister and its
state), ``install``/``reinstall``/``upgrade`` load a module, ``status``, ``start``,
``stop``, ``delete`` (which also drops the canister's names from the record) and
``topup`` do what they say, and ``id`` prints a named canister's id. Canisters are
given by id or by recorded name. ``upgrade`` first checks the new module's interface
against the installed one with Candid subtyping and refuses an upgrade that breaks
callers unless ``--yes``. A canister the anonymous principal controls can be stopped,
upgraded, reinstalled or deleted by anyone, so ``create`` and ``install`` warn when
that is what they make.
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from icframework.agent import (
    AgentError,
    CanisterSettings,
    CanisterStatus,
    ManagementCanister,
    RejectError,
)
from icframework.candid import CandidError, encode, parse_did, parse_values
from icframework.candid.textvalue import parse_values_inferred
from icframework.core import ErrorCode, Principal
from icframework.deployments import breaking_changes, format_module_hash, network_name
from icframework.management.commands.call import (
    add_connection_arguments,
    add_network_argument,
    agent_errors,
    forget_canister,
    load_canister_ids,
    make_agent,
    network_url,
    read_did,
    recorded_id,
    resolve_canister,
    save_canister_id,
)
from icframework.replica import ReplicaError, load_canister_module

ANONYMOUS = Principal.anonymous()

ACTIONS = {
    "create": "create an empty canister (NAME is recorded in .icframework/canister_ids.json)",
    "install": "install a module into an empty canister",
    "reinstall": "replace a canister's module and wipe its state",
    "upgrade": "replace a canister's module keeping its stable memory (and heap with keep)",
    "status": "print status, module hash, controllers, memory and cycles",
    "start": "start a stopped canister",
    "stop": "stop a canister (waits for its open calls)",
    "delete": "delete a stopped canister (and drop its names from the record)",
    "topup": "mint cycles into a canister (development replicas)",
    "id": "print the id recorded for a canister name",
}


class Command(BaseCommand):
    help = (
        "Manage canisters on a running replica: "
        + ", ".join(ACTIONS)
        + ". Example: manage.py canister create counter && "
        "manage.py canister install counter --wasm counter.wasm"
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for action, text in ACTIONS.items():
            sub = actions.add_parser(action, help=text, description=text)
            if action == "create":
                sub.add_argument("name", nargs="?", help="name to record for the new canister")
                sub.add_argument(
                    "--cycles",
                    type=int,
                    default=None,
                    help="initial cycles (default: the replica's provisional amount, 100T)",
                )
                sub.add_argument(
                    "--controller",
                    action="append",
                    default=None,
                    metavar="PRINCIPAL",
                    help="controller (repeatable; default: the calling identity)",
                )
                sub.add_argument("--specified-id", default=None, help="ask for this canister id")
                sub.add_argument(
                    "--force",
                    action="store_true",
                    help="record NAME for the new canister even if it names another one "
                    "(which stays on the replica, with its state, but unnamed)",
                )
            else:
                sub.add_argument("canister", help="canister id or recorded name")
            if action in ("install", "reinstall", "upgrade"):
                sub.add_argument(
                    "--wasm", type=Path, required=True, help="module file (.wasm or .wasm.gz)"
                )
                sub.add_argument("--arg", default="()", help="init/upgrade argument as Candid text")
                sub.add_argument(
                    "--candid",
                    type=Path,
                    default=None,
                    help=".did whose service arguments type --arg (default: inferred)",
                )
            if action == "upgrade":
                sub.add_argument(
                    "--yes",
                    action="store_true",
                    help="upgrade even if the new interface breaks callers of the old one "
                    "(the breaking methods are listed)",
                )
                sub.add_argument(
                    "--wasm-memory-persistence",
                    choices=("keep", "replace"),
                    default=None,
                    help="keep the heap (enhanced orthogonal persistence); default: keep if "
                    "the module declares it, else replace",
                )
                sub.add_argument(
                    "--skip-pre-upgrade", action="store_true", help="do not run pre_upgrade"
                )
            if action == "topup":
                sub.add_argument("--cycles", type=int, required=True, help="cycles to mint")
            if action == "id":
                add_network_argument(sub)
            else:
                add_connection_arguments(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        action: str = options["action"]
        check_cycles(options.get("cycles"))
        if action == "id":
            self._id(options)
            return
        agent = make_agent(options)
        management = ManagementCanister(agent)
        if action == "create":
            self._create(management, options)
            return
        canister = resolve_canister(options["canister"], agent.url)
        method = {"topup": "provisional_top_up_canister", "status": "canister_status"}.get(
            action,
            "install_code"
            if action in ("install", "reinstall", "upgrade")
            else f"{action}_canister",
        )
        with agent_errors(f"aaaaa-aa.{method} for canister {canister}"):
            getattr(self, f"_{action}", self._install)(management, canister, options)

    def _id(self, options: dict[str, Any]) -> None:
        url = network_url(options.get("network"))
        name = options["canister"]
        if name not in load_canister_ids():
            raise CommandError(
                f"no canister named {name!r} is recorded; create it with "
                f"`manage.py canister create {name}` or `manage.py deploy {name}`"
            )
        self.stdout.write(resolve_canister(name, url).to_text())

    def _create(self, management: ManagementCanister, options: dict[str, Any]) -> None:
        name: str | None = options["name"]
        if name and not options["force"]:
            self._refuse_recorded(management, name)
        settings = None
        controllers = [management.agent.identity.principal]
        if options["controller"]:
            controllers = [resolve_principal(p) for p in options["controller"]]
            settings = CanisterSettings(controllers=controllers)
        if ANONYMOUS in controllers:
            self.stderr.write(anonymous_warning(
                "the new canister",
                "leave it out of --controller" if options["controller"] else None))
        with agent_errors("aaaaa-aa.provisional_create_canister_with_cycles"):
            canister = management.provisional_create_canister_with_cycles(
                options["cycles"], settings, specified_id=options["specified_id"]
            )
        if name:
            save_canister_id(name, canister, management.agent.url)
            self.stdout.write(f"Created canister {name} with id {canister.to_text()}")
        else:
            self.stdout.write(canister.to_text())

    def _refuse_recorded(self, management: ManagementCanister, name: str) -> None:
        """`CommandError` if ``name`` already records a canister that still exists."""
        url = management.agent.url
        existing = recorded_id(name, url)
        if existing is None:
            return
        with agent_errors(f"aaaaa-aa.canister_status for canister {existing}"):
            try:
                management.canister_status(existing)
            except RejectError as exc:
                # Any other rejection (e.g. not a controller) still means it exists.
                if exc.error_code == str(ErrorCode.CANISTER_NOT_FOUND):
                    self.stderr.write(
                        f"Note: {name} recorded canister {existing.to_text()}, which no "
                        f"longer exists on {url}; recording the new canister instead.")
                    return
        raise CommandError(
            f"{name!r} already names canister {existing.to_text()} on the "
            f"{network_name(url)} network; use it as it is, delete it first "
            f"(`manage.py canister stop {name}` then `manage.py canister delete {name}`), "
            "or pass --force to record the new canister under this name (the old one "
            "keeps running, with its state, unnamed)"
        )

    def _install(
        self, management: ManagementCanister, canister: Principal, options: dict[str, Any]
    ) -> None:
        path: Path = options["wasm"]
        try:
            wasm = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read module {path}: {exc.strerror}") from None
        arg = init_argument(options["arg"], options["candid"])
        mode = options["action"]
        if mode == "upgrade":
            check_upgrade(
                management,
                canister,
                new_interface(wasm, options["candid"]),
                canister.to_text(),
                yes=options["yes"],
                warn=self.stderr.write,
            )
        management.install_code(
            canister,
            wasm,
            arg,
            mode,
            wasm_memory_persistence=options.get("wasm_memory_persistence"),
            skip_pre_upgrade=True if options.get("skip_pre_upgrade") else None,
        )
        if management.agent.identity.principal == ANONYMOUS:  # it was allowed: a controller
            self.stderr.write(anonymous_warning(f"canister {canister.to_text()}"))
        verb = {"install": "Installed", "reinstall": "Reinstalled", "upgrade": "Upgraded"}[mode]
        self.stdout.write(f"{verb} {path.name} ({len(wasm):,} bytes) in {canister.to_text()}")

    def _status(
        self, management: ManagementCanister, canister: Principal, options: dict[str, Any]
    ) -> None:
        self.stdout.write(format_status(canister, management.canister_status(canister)))

    def _start(
        self, management: ManagementCanister, canister: Principal, options: dict[str, Any]
    ) -> None:
        management.start_canister(canister)
        self.stdout.write(f"Started {canister.to_text()}")

    def _stop(
        self, management: ManagementCanister, canister: Principal, options: dict[str, Any]
    ) -> None:
        management.stop_canister(canister)
        self.stdout.write(f"Stopped {canister.to_text()}")

    def _delete(
        self, management: ManagementCanister, canister: Principal, options: dict[str, Any]
    ) -> None:
        management.delete_canister(canister)
        names = forget_canister(canister, management.agent.url)
        dropped = f" (its name {', '.join(names)} is dropped from the record)" if names else ""
        self.stdout.write(f"Deleted {canister.to_text()}{dropped}")

    def _topup(
        self, management: ManagementCanister, canister: Principal, options: dict[str, Any]
    ) -> None:
        management.provisional_top_up_canister(canister, options["cycles"])
        cycles = management.canister_status(canister).cycles
        self.stdout.write(
            f"Topped up {canister.to_text()} by {options['cycles']:,} cycles; "
            f"balance {cycles:,} cycles"
        )


def anonymous_warning(what: str, fix: str | None = None) -> str:
    """The warning for ``what``, controlled by the anonymous principal; ``fix`` says
    how to avoid it (default: sign with a real identity)."""
    fix = fix or ("sign with a real identity (--identity NAME, or `manage.py identity use "
                  "default`)")
    return (f"Warning: the anonymous principal {ANONYMOUS.to_text()} controls {what}, and "
            "anyone can call as it, so anyone can stop, upgrade, reinstall or delete what it "
            f"controls. Unless that is what you want, {fix}.")


def check_cycles(cycles: int | None) -> None:
    """`CommandError` for a negative ``--cycles``."""
    if cycles is not None and cycles < 0:
        raise CommandError(f"--cycles {cycles} is negative; give a number of cycles, e.g. "
                           "--cycles 1000000000000 (1T)")


def resolve_principal(text: str) -> Principal:
    """A principal given on the command line; `CommandError` if malformed."""
    try:
        return Principal.from_text(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a principal: {exc}") from None


def init_argument(text: str, did_path: Path | None) -> bytes:
    """Binary Candid for ``--arg``, typed by the .did's service arguments when given;
    `CommandError` naming the expected types if it does not fit them."""
    if did_path is not None:
        did = read_did(did_path)
        if did.service_args is not None:
            try:
                return encode(
                    did.service_args, parse_values(text, did.service_args, env=did.env)
                )
            except CandidError as exc:
                wanted = service_class_arguments(did_path)
                raise CommandError(
                    f"--arg {text!r} does not fit the init argument types {wanted} of "
                    f"{did_path}: {exc}; pass them with --arg '(...)'"
                ) from None
    try:
        types, values = parse_values_inferred(text)
        return encode(types, values)
    except CandidError as exc:
        raise CommandError(
            f"--arg {text!r} is not Candid text: {exc}; e.g. --arg '(5 : nat, \"x\")'"
        ) from None


def service_class_arguments(did_path: Path) -> str:
    """``(LedgerArg)``: the argument list of the .did's ``service : (...) -> ...``, as
    written in the file (the types by their names)."""
    text = did_path.read_text(encoding="utf-8")
    start = text.find("service")
    colon = text.find(":", start) if start >= 0 else -1
    arrow = text.find("->", colon) if colon >= 0 else -1
    if arrow < 0:
        return "(?)"
    return " ".join(text[colon + 1 : arrow].split())


def new_interface(wasm: bytes, did_path: Path | None) -> str | None:
    """The Candid interface of an upgrade: the ``--candid`` file, else the module's own
    ``candid:service`` metadata; None if neither is there or the module is invalid (the
    replica then says why it refuses it)."""
    if did_path is not None:
        try:
            return did_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {did_path}: {exc.strerror}") from None
    try:
        section = load_canister_module(wasm).metadata.get("candid:service")
    except ReplicaError:
        return None
    return None if section is None else section.content.decode("utf-8", errors="replace")


def check_upgrade(
    management: ManagementCanister,
    canister: Principal,
    new_did: str | None,
    label: str,
    *,
    yes: bool,
    warn: Callable[[str], None],
) -> None:
    """Compare the interface ``new_did`` (.did text) with the one the installed module
    publishes (``candid:service``) by Candid subtyping, as dfx does before an upgrade.

    Raises `CommandError` listing the breaking methods unless ``yes``, in which case
    they are written to ``warn``. Nothing to compare (no interface on either side)
    passes, with a note on ``warn`` when the installed one cannot be read.
    """
    if new_did is None:
        return
    try:
        old_text = management.agent.canister_metadata(canister, "candid:service")
    except AgentError as exc:
        warn(f"Note: the interface of {label} is not checked: its candid:service "
                   f"metadata cannot be read ({exc})")
        return
    if old_text is None:
        return
    try:
        changes = breaking_changes(
            parse_did(old_text.decode("utf-8", errors="replace")), parse_did(new_did)
        )
    except CandidError as exc:
        warn(f"Note: the interface of {label} is not checked: {exc}")
        return
    if not changes:
        return
    listed = "; ".join(changes)
    if not yes:
        raise CommandError(
            f"upgrading {label} would break callers of its current interface ({listed}); "
            "keep the old methods' types (adding methods, optional arguments and results "
            "is safe), or pass --yes to upgrade anyway"
        )
    warn(f"Warning: upgrading {label} breaks callers of its current interface "
               f"({listed}); upgrading anyway (--yes)")


def format_status(canister: Principal, status: CanisterStatus) -> str:
    """A readable multi-line report of a canister's status."""
    module = format_module_hash(status.module_hash)
    rows = [
        ("Canister", canister.to_text()),
        ("Status", status.status),
        ("Module hash", module),
        ("Controllers", ", ".join(c.to_text() for c in status.controllers) or "none"),
        ("Memory size", f"{status.memory_size:,} bytes"),
        ("Balance", f"{status.cycles:,} cycles"),
    ]
    if status.freezing_threshold is not None:
        rows.append(("Freezing threshold", f"{status.freezing_threshold:,} seconds"))
    if status.idle_cycles_burned_per_day is not None:
        rows.append(("Idle cycles burned", f"{status.idle_cycles_burned_per_day:,} per day"))
    if status.version is not None:
        rows.append(("Version", str(status.version)))
    width = max(len(label) for label, _ in rows) + 1
    return "\n".join(f"{label + ':':<{width}} {value}" for label, value in rows)
