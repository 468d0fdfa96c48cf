"""Entry-point decorators and the method registry they fill.

``@query``, ``@update``, ``@init``... leave the function unchanged (so unit tests call
it directly) and record a `Method` under the function's module. A canister is the set
of methods registered by one module and its submodules; `methods_of` collects them and
`icframework.sdk.dispatch.load_canister` compiles their codecs once. Type hints are
read at load time, not at decoration time, so a method may use types defined further
down its module.

Guards: ``@update(guard=is_owner)`` (or a list of guards) run, in order, before the
method's arguments are decoded. A guard takes no arguments and returns None or True to
allow the call, or a string (the reject message) or False to refuse it; it may also
raise `Reject`. Any other exception traps like an error in the method itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from icframework.sdk.errors import RegistrationError

__all__ = [
    "CALL_KINDS",
    "LIFECYCLE_KINDS",
    "Guard",
    "Method",
    "heartbeat",
    "init",
    "inspect_message",
    "methods_of",
    "post_upgrade",
    "pre_upgrade",
    "query",
    "update",
]

QUERY = "query"
COMPOSITE_QUERY = "composite_query"
UPDATE = "update"
INIT = "init"
PRE_UPGRADE = "pre_upgrade"
POST_UPGRADE = "post_upgrade"
HEARTBEAT = "heartbeat"
INSPECT_MESSAGE = "inspect_message"
GLOBAL_TIMER = "global_timer"

CALL_KINDS = frozenset({QUERY, COMPOSITE_QUERY, UPDATE})
LIFECYCLE_KINDS = frozenset({INIT, PRE_UPGRADE, POST_UPGRADE, HEARTBEAT, INSPECT_MESSAGE})

Guard = Callable[[], object]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Method:
    """One registered entry point.

    ``name`` is the Candid method name (for lifecycle hooks: the kind); ``kind`` one of
    ``query``, ``composite_query``, ``update`` or a lifecycle kind.
    """

    name: str
    kind: str
    fn: Callable[..., Any]
    module: str
    guards: tuple[Guard, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.module}.{getattr(self.fn, '__qualname__', self.name)}"


# module name -> (method name or lifecycle kind) -> Method
_REGISTRY: dict[str, dict[str, Method]] = {}
_generation = 0


def registry_generation() -> int:
    """Increases on every registration (lets loaded canisters notice late additions)."""
    return _generation


def _register(method: Method) -> None:
    global _generation
    table = _REGISTRY.setdefault(method.module, {})
    key = method.name if method.kind in CALL_KINDS else "@" + method.kind
    old = table.get(key)
    if old is not None and getattr(old.fn, "__qualname__", None) != getattr(
        method.fn, "__qualname__", None
    ):
        what = f"method {method.name!r}" if method.kind in CALL_KINDS else f"@{method.kind} hook"
        raise RegistrationError(
            f"{method.module} declares the {what} twice ({old.where} and {method.where}); "
            "rename one (for methods: name='...')"
        )
    table[key] = method
    _generation += 1


def methods_of(module: str) -> list[Method]:
    """Every method registered by ``module`` and its submodules, sorted by module then key.

    Raises `RegistrationError` when two submodules declare the same method or hook.
    """
    found: dict[str, Method] = {}
    prefix = module + "."
    for mod in sorted(_REGISTRY):
        if mod != module and not mod.startswith(prefix):
            continue
        for key, method in _REGISTRY[mod].items():
            old = found.get(key)
            if old is not None:
                raise RegistrationError(
                    f"{key.lstrip('@')!r} is declared by both {old.where} and {method.where}"
                )
            found[key] = method
    return [found[k] for k in sorted(found)]


def forget(module: str) -> None:
    """Drop the registrations of ``module`` and its submodules (tests, re-installs)."""
    global _generation
    for mod in [m for m in _REGISTRY if m == module or m.startswith(module + ".")]:
        del _REGISTRY[mod]
    _generation += 1


def _guards(guard: Guard | Sequence[Guard] | None) -> tuple[Guard, ...]:
    if guard is None:
        return ()
    if callable(guard):
        return (guard,)
    guards = tuple(guard)
    for g in guards:
        if not callable(g):
            raise RegistrationError(f"guard {g!r} is not callable")
    return guards


def _call_decorator(
    kind: str, fn: F | None, name: str | None, guard: Guard | Sequence[Guard] | None
) -> Any:
    guards = _guards(guard)

    def register(f: F) -> F:
        if not callable(f):
            raise RegistrationError(f"@{kind} decorates a function, not {f!r}")
        method_name = name or f.__name__
        _register(Method(method_name, kind, f, f.__module__, guards))
        return f

    return register(fn) if fn is not None else register


@overload
def query(fn: F, /) -> F: ...
@overload
def query(
    *,
    composite: bool = False,
    name: str | None = None,
    guard: Guard | Sequence[Guard] | None = None,
) -> Callable[[F], F]: ...
def query(
    fn: F | None = None,
    /,
    *,
    composite: bool = False,
    name: str | None = None,
    guard: Guard | Sequence[Guard] | None = None,
) -> Any:
    """Declare a query method (read-only, fast, not certified); ``composite=True`` for a
    composite query. ``name`` overrides the Candid name; ``guard`` adds guards."""
    return _call_decorator(COMPOSITE_QUERY if composite else QUERY, fn, name, guard)


@overload
def update(fn: F, /) -> F: ...
@overload
def update(
    *, name: str | None = None, guard: Guard | Sequence[Guard] | None = None
) -> Callable[[F], F]: ...
def update(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    guard: Guard | Sequence[Guard] | None = None,
) -> Any:
    """Declare an update method (goes through consensus; its writes are committed)."""
    return _call_decorator(UPDATE, fn, name, guard)


def _hook(kind: str, fn: F | None) -> Any:
    def register(f: F) -> F:
        _register(Method(kind, kind, f, f.__module__))
        return f

    return register(fn) if fn is not None else register


@overload
def init(fn: F, /) -> F: ...
@overload
def init() -> Callable[[F], F]: ...
def init(fn: F | None = None, /) -> Any:
    """Run once at install; its parameters are the canister's init arguments."""
    return _hook(INIT, fn)


@overload
def pre_upgrade(fn: F, /) -> F: ...
@overload
def pre_upgrade() -> Callable[[F], F]: ...
def pre_upgrade(fn: F | None = None, /) -> Any:
    """Run in the old code before an upgrade (stable structures need no saving)."""
    return _hook(PRE_UPGRADE, fn)


@overload
def post_upgrade(fn: F, /) -> F: ...
@overload
def post_upgrade() -> Callable[[F], F]: ...
def post_upgrade(fn: F | None = None, /) -> Any:
    """Run in the new code after an upgrade; takes the same arguments as ``@init``."""
    return _hook(POST_UPGRADE, fn)


@overload
def heartbeat(fn: F, /) -> F: ...
@overload
def heartbeat() -> Callable[[F], F]: ...
def heartbeat(fn: F | None = None, /) -> Any:
    """Run at every round (prefer timers: a heartbeat costs cycles every round)."""
    return _hook(HEARTBEAT, fn)


@overload
def inspect_message(fn: F, /) -> F: ...
@overload
def inspect_message() -> Callable[[F], F]: ...
def inspect_message(fn: F | None = None, /) -> Any:
    """Filter ingress update calls before they are accepted.

    The hook takes no arguments (read ``ic.method_name()``, ``ic.caller()`` and
    ``ic.arg_data()``) and returns True to accept the message; anything else refuses it.
    """
    return _hook(INSPECT_MESSAGE, fn)
