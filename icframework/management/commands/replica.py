"""``manage.py replica``: inspect and drive the embedded replica's state directly.

Works on the state directory without a running server (the directory is locked while a
replica uses it). Calls are made as ``--sender`` (a principal or an identity name, given
before or after the action), by default the state directory's admin identity
(`icframework.replica.admin`, ``<state dir>/admin.pem``, made on first use), so what
``create`` makes is controlled by that key once a replica serves the directory. Acting
as the anonymous principal, which anyone can send as, is warned about on stderr.
Canisters are given by id or by the name recorded for the local network in
``.icframework/canister_ids.json``.
"""

from __future__ import annotations

from argparse import SUPPRESS, ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from icframework.agent import IdentityStore, IdentityStoreError
from icframework.candid import CandidError, decode, decode_wire_types, encode, format_values
from icframework.candid.textvalue import parse_values_inferred
from icframework.conf import state_dir
from icframework.core import Principal, PrincipalError
from icframework.deployments import NETWORKS, format_module_hash
from icframework.management.commands.call import resolve_canister
from icframework.management.commands.canister import anonymous_warning, check_cycles
from icframework.replica import CanisterError, Replica, ReplicaError, admin_identity, admin_pem_path

SENDER_HELP = (
    "principal or identity name (`manage.py identity list`) the calls are made as; "
    "default: the state directory's admin identity, <state dir>/admin.pem"
)
CANISTER_HELP = "canister id, or a name recorded in .icframework/canister_ids.json"


def sender_principal(text: str) -> Principal:
    """``--sender``: a textual principal, else the principal of the identity so named."""
    try:
        return Principal.from_text(text)
    except PrincipalError as exc:
        reason = str(exc)
    try:
        return IdentityStore().principal(text)
    except IdentityStoreError as exc:
        raise CommandError(
            f"--sender {text!r} is neither a principal ({reason}) nor an identity: {exc}"
        ) from None


def canister_id(text: str) -> Principal:
    """A canister id, or a name recorded for the local network."""
    return resolve_canister(text, NETWORKS["local"])


def format_reply(data: bytes) -> str:
    """Candid text of a reply, typed by the message's own type table."""
    try:
        types = decode_wire_types(data)
        return format_values(decode(data, types), types)
    except CandidError as exc:
        return f"(undecodable reply: {exc}) 0x{data.hex()}"


class Command(BaseCommand):
    help = "Inspect the embedded replica's state and create, install and call canisters."

    #: How to stop acting as the anonymous principal, for its warning (set per run).
    _fix: str

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--state-dir", type=Path, default=None,
            help="replica state directory (default: ICFRAMEWORK['STATE_DIR'])",
        )
        parser.add_argument("--sender", default=None, help=SENDER_HELP)
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        info = commands.add_parser("info", help="subnet height, time and every canister")
        create = commands.add_parser("create", help="create an empty canister")
        create.add_argument("--cycles", type=int, default=None,
                            help="initial balance in cycles (default 100T)")
        install = commands.add_parser("install", help="install, reinstall or upgrade code")
        install.add_argument("canister", help=CANISTER_HELP)
        install.add_argument("wasm", type=Path, help="path to a .wasm or .wasm.gz module")
        install.add_argument("--mode", choices=("install", "reinstall", "upgrade"),
                             default="install",
                             help="install into an empty canister (default), reinstall "
                                  "(wiping its state) or upgrade (keeping stable memory)")
        install.add_argument("--arg", default="()",
                             help="init/post_upgrade argument as Candid text, e.g. '(5 : nat)'")
        status = commands.add_parser("status", help="canister_status of a canister")
        status.add_argument("canister", help=CANISTER_HELP)
        call = commands.add_parser("call", help="call a method; prints the reply as Candid")
        call.add_argument("canister", help=CANISTER_HELP)
        call.add_argument("method", help="method name")
        call.add_argument("arguments", nargs="?", default="()",
                          help="arguments as Candid text, typed by inference, e.g. '(5 : nat)'")
        call.add_argument("--query", action="store_true", help="make a query call")
        for sub in (info, create, install, status, call):
            # SUPPRESS: absent after the action, it leaves the value given before it
            sub.add_argument("--sender", default=SUPPRESS, help=SENDER_HELP)

    def handle(self, *args: Any, **options: Any) -> None:
        check_cycles(options.get("cycles"))
        directory = Path(options["state_dir"] or state_dir())
        if options["sender"] is None:
            try:
                sender = admin_identity(directory).principal
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        else:
            sender = sender_principal(options["sender"])
        self._fix = (f"leave out --sender to act as this state directory's admin "
                     f"({admin_pem_path(directory)})")
        try:
            with Replica.open(directory) as replica:
                getattr(self, f"_{options['action']}")(replica, sender, options)
        except CanisterError as exc:
            raise CommandError(f"rejected ({exc.error_code}): {exc.message}") from None
        except (ReplicaError, CandidError) as exc:
            raise CommandError(str(exc)) from None

    def _info(self, replica: Replica, sender: Principal, options: dict[str, Any]) -> None:
        records = replica.canister_records()
        self.stdout.write(f"height {replica.height}, time {replica.time_ns} ns, "
                          f"{len(records)} canister(s)")
        for canister_id, state in sorted(records.items()):
            module = format_module_hash(state.module_hash)
            self.stdout.write(
                f"  {Principal(canister_id).to_text():<30} {state.status.value:<9} "
                f"{state.cycles:>22,} cycles  module {module}  "
                f"heap {state.heap_size:,} B  stable {state.stable_size:,} B"
            )

    def _create(self, replica: Replica, sender: Principal, options: dict[str, Any]) -> None:
        if sender.is_anonymous:
            self.stderr.write(anonymous_warning("the new canister", self._fix))
        canister = replica.create_canister(sender=sender, cycles=options["cycles"])
        self.stdout.write(canister.to_text())

    def _install(self, replica: Replica, sender: Principal, options: dict[str, Any]) -> None:
        path: Path = options["wasm"]
        if not path.is_file():
            raise CommandError(f"no module file at {path}")
        arg = _encode_text(options["arg"])
        canister = canister_id(options["canister"])
        replica.install_code(canister, path.read_bytes(), arg, mode=options["mode"],
                             sender=sender)
        if sender.is_anonymous:  # it was allowed: a controller
            self.stderr.write(anonymous_warning(f"canister {canister.to_text()}", self._fix))
        self.stdout.write(f"{options['mode']} of {path.name} into {canister.to_text()}: done")

    def _status(self, replica: Replica, sender: Principal, options: dict[str, Any]) -> None:
        canister = canister_id(options["canister"])
        status = replica.canister_status(canister, sender=sender)
        if sender.is_anonymous:  # it was allowed: a controller
            self.stderr.write(anonymous_warning(f"canister {canister.to_text()}", self._fix))
        for name in ("status", "cycles", "memory_size", "module_hash", "version"):
            value = status[name]
            if isinstance(value, dict):
                value = next(iter(value))
            elif name == "module_hash":
                value = format_module_hash(value)
            self.stdout.write(f"{name:<12} {value}")
        controllers = ", ".join(p.to_text() for p in status["settings"]["controllers"])
        self.stdout.write(f"{'controllers':<12} {controllers}")

    def _call(self, replica: Replica, sender: Principal, options: dict[str, Any]) -> None:
        canister = canister_id(options["canister"])
        arg = _encode_text(options["arguments"])
        make = replica.query if options["query"] else replica.update
        self.stdout.write(format_reply(make(canister, options["method"], arg, sender=sender)))


def _encode_text(text: str) -> bytes:
    """Binary Candid for a textual argument list, typed by inference (``(5 : nat8)``)."""
    types, values = parse_values_inferred(text)
    return encode(types, values)
