"""``manage.py canister``: manage canisters on a running replica through ``aaaaa-aa``.

``create`` makes an empty canister (recording ``NAME`` → id in
``.icframework/canister_ids.json``), ``install``/``reinstall``/``upgrade`` load a
module, ``status``, ``start``, ``stop``, ``delete`` and ``topup`` do what they say, and
``id`` prints a named canister's id. Canisters are given by id or by recorded name.
A canister the anonymous principal controls can be stopped, upgraded, reinstalled or
deleted by anyone, so ``create`` and ``install`` warn when that is what they make.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from icframework.agent import CanisterSettings, CanisterStatus, ManagementCanister
from icframework.candid import encode, parse_values
from icframework.candid.textvalue import parse_values_inferred
from icframework.core import Principal
from icframework.management.commands.call import (
    add_connection_arguments,
    agent_errors,
    load_canister_ids,
    make_agent,
    network_url,
    read_did,
    resolve_canister,
    save_canister_id,
)

ANONYMOUS = Principal.anonymous()

ACTIONS = {
    "create": "create an empty canister (NAME is recorded in .icframework/canister_ids.json)",
    "install": "install a module into an empty canister",
    "reinstall": "replace a canister's module and wipe its state",
    "upgrade": "replace a canister's module keeping its stable memory (and heap with keep)",
    "status": "print status, module hash, controllers, memory and cycles",
    "start": "start a stopped canister",
    "stop": "stop a canister (waits for its open calls)",
    "delete": "delete a stopped canister",
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
            if action != "id":
                add_connection_arguments(sub)

    def handle(self, *args: Any, **options: Any) -> None:
        action: str = options["action"]
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
        url = network_url(options.get("network") or "local")
        name = options["canister"]
        if name not in load_canister_ids():
            raise CommandError(f"no canister named {name!r} is recorded; create it with a name")
        self.stdout.write(resolve_canister(name, url).to_text())

    def _create(self, management: ManagementCanister, options: dict[str, Any]) -> None:
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
        if options["name"]:
            save_canister_id(options["name"], canister, management.agent.url)
            self.stdout.write(f"Created canister {options['name']} with id {canister.to_text()}")
        else:
            self.stdout.write(canister.to_text())

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
        self.stdout.write(f"Deleted {canister.to_text()}")

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


def resolve_principal(text: str) -> Principal:
    """A principal given on the command line; `CommandError` if malformed."""
    try:
        return Principal.from_text(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a principal: {exc}") from None


def init_argument(text: str, did_path: Path | None) -> bytes:
    """Binary Candid for ``--arg``, typed by the .did's service arguments when given."""
    if did_path is not None:
        did = read_did(did_path)
        if did.service_args is not None:
            return encode(did.service_args, parse_values(text, did.service_args, env=did.env))
    types, values = parse_values_inferred(text)
    return encode(types, values)


def format_status(canister: Principal, status: CanisterStatus) -> str:
    """A readable multi-line report of a canister's status."""
    module = "0x" + status.module_hash.hex() if status.module_hash else "none (empty canister)"
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
