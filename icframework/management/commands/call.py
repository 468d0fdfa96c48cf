"""``manage.py call``: call a canister method on a running replica and print the reply.

Arguments and replies are textual Candid. They are typed by ``--candid FILE.did`` when
given, else by the canister's own ``candid:service`` metadata, else arguments are
typed by inference (``(5 : nat8)``) and replies by the types on the wire. A method the
interface declares is refused more arguments than it takes. The canister may be named
through ``.icframework/canister_ids.json`` in the project (as ``manage.py canister
create NAME`` records it). This module also holds the helpers the other commands
share: ``--network`` and ``--identity`` handling, canister names and turning agent
errors into `CommandError`.
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from icframework import deployments
from icframework.agent import (
    MAINNET_URL,
    Agent,
    AgentError,
    HttpError,
    IdentityStore,
    RejectError,
)
from icframework.agent.actor import service_methods
from icframework.candid import (
    CandidError,
    DidFile,
    Func,
    decode,
    decode_wire_types,
    encode,
    format_type,
    format_values,
    load_did,
    parse_did,
    parse_values,
)
from icframework.candid.lexer import tokenize
from icframework.candid.textvalue import parse_values_inferred
from icframework.core import Principal, PrincipalError
from icframework.deployments import (
    NETWORK_VARIABLE,
    NETWORKS,
    DeploymentError,
    canister_ids_path,
    network_name,
)


def add_network_argument(parser: ArgumentParser) -> None:
    """``--network``, the one name every command gives the replica it talks to."""
    parser.add_argument(
        "--network",
        default=None,
        metavar="URL|NAME",
        help=f"replica URL, or 'local' ({NETWORKS['local']}) or 'ic' ({MAINNET_URL}); "
        f"default: ${NETWORK_VARIABLE}, else ICFRAMEWORK['NETWORK'] in the project's "
        "settings, else 'local'",
    )


def add_connection_arguments(parser: ArgumentParser) -> None:
    """``--network`` and ``--identity``, shared by the commands that talk to a replica."""
    add_network_argument(parser)
    parser.add_argument(
        "--identity",
        default=None,
        help="identity to sign with (see `manage.py identity list`; default: the selected one)",
    )


def network_url(network: str | None) -> str:
    """The replica URL for a ``--network`` value (None: the environment's or project's
    network, see `icframework.deployments.network_url`)."""
    try:
        return deployments.network_url(network)
    except DeploymentError as exc:
        raise CommandError(str(exc)) from None


def make_agent(options: dict[str, Any]) -> Agent:
    """An agent for ``--network`` signing as ``--identity``; local replicas' keys are fetched."""
    url = network_url(options.get("network"))
    with agent_errors():
        identity = IdentityStore().get_identity(options.get("identity"))
    return Agent(url, identity=identity, fetch_root_key=url != MAINNET_URL)


def load_canister_ids() -> dict[str, Any]:
    """`icframework.deployments.load_canister_ids`, its error as a `CommandError`."""
    try:
        return deployments.load_canister_ids()
    except DeploymentError as exc:
        raise CommandError(str(exc)) from None


def save_canister_id(name: str, canister_id: Principal, url: str) -> None:
    """`icframework.deployments.save_canister_id`, its error as a `CommandError`."""
    try:
        deployments.save_canister_id(name, canister_id, url)
    except DeploymentError as exc:
        raise CommandError(str(exc)) from None


def forget_canister(canister_id: Principal, url: str) -> list[str]:
    """`icframework.deployments.forget_canister`, its error as a `CommandError`."""
    try:
        return deployments.forget_canister(canister_id, url)
    except DeploymentError as exc:
        raise CommandError(str(exc)) from None


def recorded_id(name: str, url: str) -> Principal | None:
    """`icframework.deployments.recorded_id`, its error as a `CommandError`."""
    try:
        return deployments.recorded_id(name, url)
    except DeploymentError as exc:
        raise CommandError(str(exc)) from None


def resolve_canister(text: str, url: str) -> Principal:
    """A canister name from ``canister_ids.json``, or a textual canister id."""
    entry = load_canister_ids().get(text)
    if isinstance(entry, dict):
        entry = entry.get(network_name(url))
    if isinstance(entry, str):
        text = entry
    try:
        return Principal.from_text(text)
    except PrincipalError as exc:
        names = ", ".join(sorted(load_canister_ids())) or "none"
        raise CommandError(
            f"{text!r} is neither a canister id nor a canister name in {canister_ids_path()} "
            f"(names: {names}): {exc}"
        ) from None


@contextmanager
def agent_errors(target: str = "") -> Iterator[None]:
    """Turn agent and Candid errors into `CommandError`; ``target`` names the call."""
    try:
        yield
    except RejectError as exc:
        code = f", {exc.error_code}" if exc.error_code else ""
        target = target or f"{exc.canister_id}.{exc.method}"
        raise CommandError(
            f"{target} was rejected (reject code {exc.reject_code}{code}): {exc.reject_message}"
        ) from None
    except (AgentError, CandidError) as exc:
        raise CommandError(f"{target}: {exc}" if target else str(exc)) from None


def read_did(path: Path) -> DidFile:
    """Parse a .did file with its imports; `CommandError` if it is missing or malformed."""
    try:
        return load_did(path)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    except CandidError as exc:
        raise CommandError(f"{path}: {exc}") from None


def format_wire_reply(data: bytes) -> str:
    """Candid text of a reply typed by its own wire types (record fields show as numbers)."""
    types = decode_wire_types(data)
    return format_values(decode(data, types), types)


def management_effective_id(values: tuple[Any, ...]) -> Principal | None:
    """The effective canister id of a call to ``aaaaa-aa``: the argument's target canister."""
    if values and isinstance(values[0], dict):
        for field in ("canister_id", "target_canister"):
            if isinstance(values[0].get(field), Principal):
                return values[0][field]  # type: ignore[no-any-return]
    return None


def call_canister(
    agent: Agent,
    canister: Principal,
    method: str,
    arguments: str,
    *,
    query: bool,
    did: DidFile | None,
) -> str:
    """Make the call and return the reply as Candid text (see the module docstring).

    A method the interface declares is typed by it and called as it declares (``--query``
    forces a query); any other method is typed by inference and by its reply's wire types.
    """
    func = service_methods(did).get(method) if did is not None else None
    if did is not None and func is not None:
        values = parse_values(arguments, func.args, env=did.env)
        refuse_surplus(method, func, arguments)
        arg = encode(func.args, values)
        query = query or "query" in func.modes or "composite_query" in func.modes
        reply = agent.query(canister, method, arg) if query else agent.update(canister, method, arg)
        return format_values(decode(reply, func.results), func.results)
    types, inferred = parse_values_inferred(arguments)
    arg = encode(types, inferred)
    ecid = management_effective_id(inferred) if canister.is_management_canister else None
    if query:
        return format_wire_reply(agent.query(canister, method, arg, ecid))
    return format_wire_reply(agent.update(canister, method, arg, ecid))


def count_values(arguments: str) -> int:
    """How many values the (well-formed) textual argument list ``arguments`` holds."""
    tokens = tokenize(arguments)
    if not tokens[0].is_sym("("):
        return 1
    count, depth, starts = 0, 0, False
    for token in tokens:
        if token.kind == "sym" and token.text in ("(", "{"):
            depth += 1
        elif token.kind == "sym" and token.text in (")", "}"):
            depth -= 1
        if depth == 1 and starts and not token.is_sym(")"):
            count += 1
        starts = depth == 1 and (token.is_sym("(") or token.is_sym(","))
    return count


def refuse_surplus(method: str, func: Func, arguments: str) -> None:
    """`CommandError` if ``arguments`` holds more values than ``method`` takes (the
    canister would silently drop them)."""
    given, takes = count_values(arguments), len(func.args)
    if given <= takes:
        return
    if takes == 0:
        raise CommandError(
            f"{method} takes no arguments, but {arguments!r} gives {given}; call it with '()'"
        )
    types = ", ".join(format_type(t) for t in func.args)
    plural = "s" if takes > 1 else ""
    raise CommandError(
        f"{method} takes {takes} argument{plural}, ({types}), but {arguments!r} gives {given}; "
        "drop the extra values"
    )


class Command(BaseCommand):
    help = (
        "Call METHOD of CANISTER (an id or a name from .icframework/canister_ids.json) on a "
        "running replica, with textual Candid arguments, and print the reply as Candid. "
        "Example: manage.py call counter add '(5 : nat64)'"
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("canister", help="canister id or name")
        parser.add_argument("method", help="method name")
        parser.add_argument(
            "arguments", nargs="?", default="()", help="arguments as Candid text, e.g. '(1, \"x\")'"
        )
        parser.add_argument(
            "--query", action="store_true", help="make a query call (default: typed by the .did)"
        )
        parser.add_argument(
            "--candid",
            type=Path,
            default=None,
            help="the canister's .did file (default: its candid:service metadata)",
        )
        add_connection_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        agent = make_agent(options)
        canister = resolve_canister(options["canister"], agent.url)
        method: str = options["method"]
        with agent_errors(f"{canister}.{method}"):
            did = (
                read_did(options["candid"])
                if options["candid"]
                else fetch_interface(agent, canister)
            )
            self.stdout.write(
                call_canister(
                    agent, canister, method, options["arguments"], query=options["query"], did=did
                )
            )


def fetch_interface(agent: Agent, canister: Principal) -> DidFile | None:
    """The canister's ``candid:service`` metadata parsed, or None if absent or unreadable."""
    if canister.is_management_canister:
        return None
    try:
        text = agent.canister_metadata(canister, "candid:service")
        return None if text is None else parse_did(text.decode("utf-8", errors="replace"))
    except (HttpError, CandidError):
        # Not readable (private, or an older replica) or not parseable: fall back to the
        # types on the wire, which print every value, with numbers for field names.
        return None
