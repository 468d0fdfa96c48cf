"""Typed canister proxies: call a canister's methods as Python methods, typed by its .did.

``counter = Actor(agent, "bkyz2-fmaaa-aaaaa-qaaaq-cai", did_text)`` then
``counter.inc()`` encodes the arguments at the method's Candid argument types, makes a
query (``query``/``composite_query`` methods) or an update call, and decodes the reply
at the result types: no result gives None, one result the value itself, several a
tuple. With an `AsyncAgent` the same calls return awaitables. `Actor.call_text` does
the same from and to textual Candid, which is what ``manage.py call`` prints.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from icframework.agent.client import Agent, AsyncAgent, CanisterLike, as_principal
from icframework.agent.errors import AgentError
from icframework.candid import (
    CandidType,
    DidFile,
    Func,
    Service,
    TypeRef,
    decode,
    encode,
    format_values,
    parse_did,
    parse_values,
)
from icframework.core import Principal


def service_methods(did: DidFile) -> dict[str, Func]:
    """The methods of ``did``'s main service, each resolved to its `Func` type.

    Raises `AgentError` if the file declares no service.
    """
    service: CandidType | None = did.service
    if isinstance(service, TypeRef):
        service = service.resolve()
    if not isinstance(service, Service):
        raise AgentError("the Candid interface declares no service (`service : { ... }`)")
    methods: dict[str, Func] = {}
    for name, method_type in service.methods:
        resolved = method_type.resolve() if isinstance(method_type, TypeRef) else method_type
        if not isinstance(resolved, Func):
            raise AgentError(f"service method {name!r} is not a function type")
        methods[name] = resolved
    return methods


def unwrap_results(values: tuple[Any, ...]) -> Any:
    """None for no result, the value for one, the tuple for several."""
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class Actor:
    """A proxy for canister ``canister_id`` with the interface ``did`` (.did text or `DidFile`).

    Attribute access gives the service's methods; calling one raises
    `icframework.agent.RejectError` when the call is rejected and
    `icframework.candid.CandidError` when the arguments do not fit the method's types
    or the reply does not fit its results.
    """

    def __init__(
        self,
        agent: Agent | AsyncAgent,
        canister_id: CanisterLike,
        did: str | DidFile,
        *,
        effective_canister_id: CanisterLike | None = None,
    ) -> None:
        self._agent = agent
        self._canister_id = as_principal(canister_id)
        self._effective_canister_id = (
            None if effective_canister_id is None else as_principal(effective_canister_id)
        )
        self._did = parse_did(did) if isinstance(did, str) else did
        self._methods = service_methods(self._did)

    @classmethod
    def from_canister(cls, agent: Agent, canister_id: CanisterLike) -> Actor:
        """An actor typed by the canister's own ``candid:service`` metadata.

        Raises `AgentError` if the canister publishes no Candid interface.
        """
        did = agent.canister_metadata(canister_id, "candid:service")
        if did is None:
            raise AgentError(
                f"canister {canister_id} publishes no 'candid:service' metadata; pass its .did"
            )
        return cls(agent, canister_id, did.decode("utf-8"))

    @property
    def canister_id(self) -> Principal:
        """The canister this actor calls."""
        return self._canister_id

    @property
    def did(self) -> DidFile:
        """The parsed interface."""
        return self._did

    @property
    def methods(self) -> dict[str, Func]:
        """Method name → `Func` type, as declared by the service."""
        return dict(self._methods)

    def method_type(self, name: str) -> Func:
        """The `Func` type of method ``name``; raise `AgentError` listing the methods if unknown."""
        func = self._methods.get(name)
        if func is None:
            known = ", ".join(sorted(self._methods)) or "none"
            raise AgentError(
                f"canister {self._canister_id} has no method {name!r} in its interface "
                f"(methods: {known})"
            )
        return func

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return _Method(self, name, self.method_type(name))
        except AgentError as exc:
            raise AttributeError(str(exc)) from None

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._methods})

    def call_raw(self, method: str, arg: bytes) -> Any:
        """Call ``method`` with Candid bytes; the reply bytes (or None for ``oneway``).

        Awaitable when the agent is an `AsyncAgent`.
        """
        func = self.method_type(method)
        agent, target, ecid = self._agent, self._canister_id, self._effective_canister_id
        if "oneway" in func.modes:
            if isinstance(agent, AsyncAgent):
                return _discard(agent.submit(target, method, arg, ecid))
            agent.submit(target, method, arg, ecid)
            return None
        if "query" in func.modes or "composite_query" in func.modes:
            return agent.query(target, method, arg, ecid)
        return agent.update(target, method, arg, ecid)

    def call(self, method: str, *args: Any) -> Any:
        """Call ``method`` with Python ``args``; decoded result(s) as described above."""
        func = self.method_type(method)
        reply = self.call_raw(method, encode(func.args, args))
        if isinstance(self._agent, AsyncAgent):
            return _then(reply, lambda data: self._decode_results(func, data))
        return self._decode_results(func, reply)

    def call_text(self, method: str, arguments: str = "()") -> Any:
        """Call ``method`` with textual Candid ``arguments``; return the reply as Candid text."""
        func = self.method_type(method)
        values = parse_values(arguments, func.args, env=self._did.env)
        reply = self.call_raw(method, encode(func.args, values))
        if isinstance(self._agent, AsyncAgent):
            return _then(reply, lambda data: self._format_results(func, data))
        return self._format_results(func, reply)

    def _decode_results(self, func: Func, data: bytes | None) -> Any:
        if data is None:
            return None
        return unwrap_results(decode(data, func.results))

    def _format_results(self, func: Func, data: bytes | None) -> str:
        if data is None:
            return "()"
        return format_values(decode(data, func.results), func.results)

    def __repr__(self) -> str:
        return f"Actor({self._canister_id.to_text()!r}, methods={sorted(self._methods)})"


class _Method:
    """One bound canister method; call it with Python values."""

    __slots__ = ("_actor", "func", "name")

    def __init__(self, actor: Actor, name: str, func: Func) -> None:
        self._actor = actor
        self.name = name
        self.func = func

    def __call__(self, *args: Any) -> Any:
        return self._actor.call(self.name, *args)

    def __repr__(self) -> str:
        return f"<method {self.name} of {self._actor.canister_id}>"


async def _discard(awaitable: Awaitable[Any]) -> None:
    await awaitable


async def _then(awaitable: Awaitable[Any], convert: Any) -> Any:
    return convert(await awaitable)
