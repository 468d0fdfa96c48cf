"""Running entry points: decode the Candid argument, call the Python function, encode.

How it works: `load_canister(module)` collects the module's registered methods and
compiles, once, each method's argument and result types (through one `TypeMapper`, so
the .did and the codecs agree) and its value converters. `Canister.dispatch(kind,
method, arg)` then does only: guards → ``candid.decode`` → converters (usually none) →
the call → converter → ``candid.encode``. The outcome is a `Reply` or a `Rejected`;
any other exception becomes a trap through ``Backend.trap`` whose message carries the
exception type, its text and the user's frames as ``file:line in function``.

Entry-point kinds (the ``kind`` argument), named after the IC's exports:
``query``, ``composite_query``, ``update`` (``method`` = the Candid method name),
``init``, ``post_upgrade`` (``arg`` = the init arguments), ``pre_upgrade``,
``heartbeat``, ``global_timer`` (``method`` and ``arg`` ignored),
``inspect_message`` (``method``/``arg`` = the ingress message being inspected), and
``reply_callback`` / ``reject_callback`` (``method`` = the callback id in decimal,
``arg`` = the reply data) which continue an ``async def`` method after an ``await``
(see `icframework.sdk.calls`). A method that is waiting on a call returns `Pending`.
"""

from __future__ import annotations

import importlib
import linecache
import os
import sys
import types as pytypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from icframework.candid import (
    CandidError,
    CandidType,
    Opt,
    Prim,
    PrimKind,
    decode,
    decoder,
    encode,
    encoder,
    format_type,
)
from icframework.sdk import backend as _backend
from icframework.sdk import calls, ic
from icframework.sdk.calls import CALLBACK_KINDS, DONE, Done, Pending
from icframework.sdk.errors import RegistrationError, Reject, SdkError, Trapped, TypeHintError
from icframework.sdk.methods import (
    CALL_KINDS,
    COMPOSITE_QUERY,
    GLOBAL_TIMER,
    HEARTBEAT,
    INIT,
    INSPECT_MESSAGE,
    POST_UPGRADE,
    PRE_UPGRADE,
    UPDATE,
    Method,
    methods_of,
    registry_generation,
)
from icframework.sdk.types import Converter, TypeMapper, resolve_hints

__all__ = [
    "Canister",
    "CompiledMethod",
    "MethodParts",
    "Pending",
    "Rejected",
    "Reply",
    "active_canister",
    "decode_result",
    "dispatch",
    "encode_args",
    "format_exception",
    "load_canister",
    "method_table",
]

EMPTY_MESSAGE = b"DIDL\x00\x00"
CANISTER_REJECT = 4
_SDK_DIR = os.path.dirname(os.path.abspath(__file__))
_VARARGS = 0x04
_VARKEYWORDS = 0x08


@dataclass(frozen=True, slots=True)
class Reply:
    """The method replied with ``data`` (Candid bytes)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """The call is rejected with ``message`` (reject code 4, CANISTER_REJECT)."""

    message: str
    code: int = CANISTER_REJECT


Outcome = Reply | Rejected | Pending | Done
_Coroutine = pytypes.CoroutineType


RESULT_IN_PYTHON, RESULT_NOTHING, RESULT_PRIM, RESULT_OPT_PRIM = 0, 1, 2, 3
"""`MethodParts.result_shape`: how a native runner may encode the method's result."""
_NATIVE_PRIMS = frozenset(k for k in PrimKind if k.value >= -15 and k is not PrimKind.NULL
                          and k not in (PrimKind.FLOAT32, PrimKind.FLOAT64))
"""Primitives a native runner reads and writes itself: bool, text and the integers."""


@dataclass(frozen=True, slots=True)
class MethodParts:
    """One method's run in parts, for a runtime that does the common case natively (the
    IC target's C entry): the same steps, values and errors as `Canister.method_runner`.

    ``decode(arg)`` and ``encode(result)`` raise `ArgumentError`/`ResultError`;
    ``start(coroutine)`` drives an ``async`` method to its first ``await``; an exception
    from any step goes to `outcome_of`. When every parameter is a primitive (bool, text,
    an integer) and has no conversion, ``arg_prefix`` is the exact header such an argument
    starts with and ``arg_ops`` the parameters' opcodes, so a native reader can take the
    values itself (and leave anything else to ``decode``); ``result_shape`` and
    ``result_op`` say the same of the result (`RESULT_NOTHING`, `RESULT_PRIM`,
    `RESULT_OPT_PRIM`, or `RESULT_IN_PYTHON`).
    """

    fn: Callable[..., Any]
    guards: tuple[Callable[[], Any], ...]
    decode: Callable[[bytes], tuple[Any, ...]]
    encode: Callable[[Any], bytes]
    start: Callable[[Any], Any]
    arg_prefix: bytes | None
    arg_ops: bytes
    result_shape: int
    result_op: int


def _opcode(candid: CandidType) -> int | None:
    """The one-byte opcode of a primitive a native runner handles, else None."""
    if isinstance(candid, Prim) and candid.kind in _NATIVE_PRIMS:
        return int(candid.kind.value) & 0x7F
    return None


def _method_parts(target: CompiledMethod) -> MethodParts:
    decode_args, encode_result = target.codecs()

    def decode_checked(arg: bytes) -> tuple[Any, ...]:
        try:
            return tuple(decode_args(arg))
        except CandidError as exc:
            raise ArgumentError(target.argument_error(exc)) from None

    def encode_checked(result: Any) -> bytes:
        try:
            return encode_result(result)
        except CandidError as exc:
            raise ResultError(target.result_error(exc)) from None

    def start(coroutine: Any) -> Any:
        return calls.start(coroutine, target.finish, target.where)

    ops = [_opcode(t) for t in target.arg_types]
    arg_prefix, arg_ops = None, b""
    if target.arg_convs is None and len(ops) <= 8 and all(op is not None for op in ops):
        arg_ops = bytes(op for op in ops if op is not None)
        arg_prefix = b"DIDL\x00" + bytes([len(arg_ops)]) + arg_ops
    shape, result_op = RESULT_IN_PYTHON, 0
    if not target.result_types:
        shape = RESULT_NOTHING
    elif target.result_conv is None:
        (result,) = target.result_types
        if (op := _opcode(result)) is not None:
            shape, result_op = RESULT_PRIM, op
        elif isinstance(result, Opt) and (op := _opcode(result.inner)) is not None:
            shape, result_op = RESULT_OPT_PRIM, op
    return MethodParts(
        fn=target.fn, guards=tuple(target.guards), decode=decode_checked,
        encode=encode_checked, start=start, arg_prefix=arg_prefix, arg_ops=arg_ops,
        result_shape=shape, result_op=result_op,
    )


class CompiledMethod:
    """A method with its codecs ready: ``invoke(arg_bytes) -> reply_bytes``."""

    __slots__ = (
        "_decoder",
        "_encoder",
        "arg_convs",
        "arg_to_wire",
        "arg_types",
        "fn",
        "guards",
        "kind",
        "name",
        "result_conv",
        "result_from_wire",
        "result_types",
        "where",
    )

    def __init__(self, method: Method, mapper: TypeMapper) -> None:
        self.name = method.name
        self.kind = method.kind
        self.fn = method.fn
        self.guards = method.guards
        self.where = method.where
        params, result = _signature(method)
        try:
            infos = [mapper.info(hint) for hint in params]
            result_info = None if result is None else mapper.info(result)
        except TypeHintError as exc:
            raise TypeHintError(f"{method.where}: {exc}") from None
        self.arg_types: tuple[CandidType, ...] = tuple(i.candid for i in infos)
        convs = tuple(i.from_wire for i in infos)
        self.arg_convs: tuple[Converter | None, ...] | None = convs if any(convs) else None
        self.result_types: tuple[CandidType, ...] = (
            () if result_info is None else (result_info.candid,)
        )
        self.result_conv = None if result_info is None else result_info.to_wire
        # the other direction, for clients in the same process (LocalCanister)
        self.arg_to_wire = tuple(i.to_wire for i in infos)
        self.result_from_wire = None if result_info is None else result_info.from_wire
        self._decoder: Callable[[bytes], tuple[Any, ...]] | None = None
        self._encoder: Callable[[Any], bytes] | None = None

    def codecs(self) -> tuple[Callable[[bytes], tuple[Any, ...]], Callable[[Any], bytes]]:
        """``(decode_args, encode_result)`` compiled once (`candid.decoder`/`encoder`):
        the same values and errors as `decode_args` and `encode_result`."""
        if self._decoder is None or self._encoder is None:
            decode_values = decoder(self.arg_types)
            convs = self.arg_convs
            if convs is None:
                self._decoder = decode_values
            else:
                def decode_converted(arg: bytes) -> tuple[Any, ...]:
                    values = decode_values(arg)
                    return tuple(
                        v if c is None else c(v) for v, c in zip(values, convs, strict=True)
                    )

                self._decoder = decode_converted
            if not self.result_types:
                def encode_nothing(_result: Any) -> bytes:
                    return EMPTY_MESSAGE

                self._encoder = encode_nothing
            else:
                encode_values = encoder(self.result_types)
                conv = self.result_conv
                if conv is None:
                    def encode_plain(result: Any) -> bytes:
                        return encode_values((result,))

                    self._encoder = encode_plain
                else:
                    def encode_converted(result: Any) -> bytes:
                        return encode_values((conv(result),))

                    self._encoder = encode_converted
        return self._decoder, self._encoder

    def decode_args(self, arg: bytes) -> list[Any]:
        """The Python arguments for ``arg``; raises `CandidError` if it does not decode."""
        if not self.arg_types and arg == EMPTY_MESSAGE:
            return []
        values = decode(arg, self.arg_types)
        convs = self.arg_convs
        if convs is None:
            return list(values)
        return [v if c is None else c(v) for v, c in zip(values, convs, strict=True)]

    def encode_result(self, result: Any) -> bytes:
        """The Candid reply for ``result``; raises `CandidError` if it does not fit."""
        if not self.result_types:
            return EMPTY_MESSAGE
        conv = self.result_conv
        return encode(self.result_types, (result if conv is None else conv(result),))

    def invoke(self, arg: bytes) -> bytes | Pending:
        """Decode, call, encode (guards are the dispatcher's business); an ``async def``
        method runs to its first ``await`` (`Pending`) or its end."""
        try:
            args = self.decode_args(arg)
        except CandidError as exc:
            raise ArgumentError(self.argument_error(exc)) from None
        result = self.fn(*args)
        if type(result) is _Coroutine:
            reply = calls.start(result, self.finish, self.where)
            assert reply is not None
            return reply
        return self.finish(result)

    def finish(self, result: Any) -> bytes:
        """The reply bytes for the method's return value (the end of a coroutine too)."""
        try:
            return self.encode_result(result)
        except CandidError as exc:
            raise ResultError(self.result_error(exc)) from None

    def argument_error(self, exc: CandidError) -> str:
        """The trap message for an argument that does not decode."""
        shown = ", ".join(format_type(t) for t in self.arg_types)
        return f"failed to decode the arguments of {self.name!r} (expected ({shown})): {exc}"

    def result_error(self, exc: CandidError) -> str:
        """The trap message for a return value that does not fit the return type."""
        shown = format_type(self.result_types[0])
        return f"{self.where} returned a value that does not match its return type {shown}: {exc}"


def outcome_of(exc: Exception) -> Rejected:
    """What an exception out of a method means: `Reject` is a `Rejected`; `Trapped`
    propagates; an argument or result that does not fit traps with its message; any
    other exception traps with `format_exception` (``Backend.trap`` does not return)."""
    if isinstance(exc, Reject):
        return Rejected(exc.message)
    if isinstance(exc, Trapped):
        raise exc
    if isinstance(exc, (ArgumentError, ResultError)):
        _backend.current_backend().trap(str(exc))
    _backend.current_backend().trap(format_exception(exc))


def refusal(guards: tuple[Callable[[], Any], ...], method: str) -> Rejected | None:
    """The `Rejected` of the first guard that refuses the call to ``method``, or None."""
    for guard in guards:
        verdict = guard()
        if verdict is None or verdict is True:
            continue
        if isinstance(verdict, str):
            return Rejected(verdict)
        name = getattr(guard, "__name__", repr(guard))
        return Rejected(f"guard {name} refused the call to {method!r}")
    return None


class ArgumentError(SdkError):
    """The message's argument does not decode at the method's types (the call traps)."""


class ResultError(SdkError):
    """A method returned a value that does not fit its return type (the call traps)."""


def _signature(method: Method) -> tuple[list[Any], Any]:
    fn = method.fn
    code = getattr(fn, "__code__", None)
    if not isinstance(code, pytypes.CodeType):
        raise RegistrationError(f"{method.where} must be a plain function (def)")
    if code.co_flags & (_VARARGS | _VARKEYWORDS) or code.co_kwonlyargcount:
        raise RegistrationError(
            f"{method.where}: *args, **kwargs and keyword-only parameters have no Candid "
            "equivalent; list each argument explicitly"
        )
    names = code.co_varnames[: code.co_argcount]
    hints = resolve_hints(fn)
    missing = [n for n in names if n not in hints]
    if missing:
        raise TypeHintError(
            f"{method.where}: parameter(s) {', '.join(missing)} need a type hint (the "
            "Candid interface is built from the hints)"
        )
    if "return" not in hints:
        raise TypeHintError(
            f"{method.where} needs a return annotation ('-> None' when it returns nothing)"
        )
    ret = hints["return"]
    return [hints[n] for n in names], (None if ret is None or ret is type(None) else ret)


class Canister:
    """The compiled entry points of one canister module (see `load_canister`)."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.mapper = TypeMapper()
        self.methods: dict[str, CompiledMethod] = {}
        self.hooks: dict[str, CompiledMethod] = {}
        methods = methods_of(module)
        # hooks first: the init arguments' types come first in the .did, as in dfx output
        for m in sorted(methods, key=lambda m: m.kind in CALL_KINDS):
            compiled = CompiledMethod(m, self.mapper)
            if m.kind in CALL_KINDS:
                self.methods[m.name] = compiled
            else:
                self.hooks[m.kind] = compiled
        init, post = self.hooks.get(INIT), self.hooks.get(POST_UPGRADE)
        if init and post and init.arg_types != post.arg_types:
            raise RegistrationError(
                f"@init ({init.where}) and @post_upgrade ({post.where}) must take the same "
                "argument types: both receive the canister's init arguments"
            )
        self.generation = registry_generation()
        self._runners: dict[tuple[str, str], Callable[[bytes], bytes | Rejected | Pending]] = {}

    def method_table(self) -> dict[str, str]:
        """Method name → kind (``query``, ``composite_query``, ``update``), for the runtime."""
        return {name: m.kind for name, m in sorted(self.methods.items())}

    def method_runner(
        self, kind: str, method: str
    ) -> Callable[[bytes], bytes | Rejected | Pending] | None:
        """The prepared run of one method called as ``kind`` (``query``,
        ``composite_query`` or ``update``): ``run(arg)`` does what `dispatch` does —
        guards, decode, call, encode, errors to rejects or traps — and answers the reply
        bytes, a `Rejected` or `Pending`. None if there is no such method or it cannot be
        called as ``kind`` (`dispatch` then gives the reject).
        """
        key = (kind, method)
        run = self._runners.get(key)
        if run is not None:
            return run
        target = self.methods.get(method)
        if target is None or (target.kind == UPDATE and kind != UPDATE) or (
            target.kind == COMPOSITE_QUERY and kind == UPDATE
        ):
            return None
        decode_args, encode_result = target.codecs()
        fn, guards, where = target.fn, target.guards, target.where
        msg = ic.message
        name = target.name

        def run_method(arg: bytes) -> bytes | Rejected | Pending:
            msg.kind = kind
            msg.current = (method, arg)
            try:
                if guards:
                    refused = refusal(guards, name)
                    if refused is not None:
                        return refused
                try:
                    args = decode_args(arg)
                except CandidError as exc:
                    raise ArgumentError(target.argument_error(exc)) from None
                result = fn(*args)
                if type(result) is _Coroutine:
                    return calls.start(result, target.finish, where)  # type: ignore[return-value]
                try:
                    return encode_result(result)
                except CandidError as exc:
                    raise ResultError(target.result_error(exc)) from None
            except Exception as exc:
                return outcome_of(exc)
            finally:
                msg.kind = ""
                msg.current = ic.NO_MESSAGE

        self._runners[key] = run_method
        return run_method

    def method_parts(self, kind: str, method: str) -> MethodParts | None:
        """`MethodParts` of ``method`` called as ``kind`` (None where `method_runner` is
        None): for a runtime that runs the common case natively."""
        if self.method_runner(kind, method) is None:
            return None
        return _method_parts(self.methods[method])

    def init_arg_types(self) -> tuple[CandidType, ...]:
        hook = self.hooks.get(INIT) or self.hooks.get(POST_UPGRADE)
        return hook.arg_types if hook else ()

    # ---- dispatch --------------------------------------------------------------------------
    def dispatch(self, kind: str, method: str, arg: bytes) -> Outcome:
        """Run one entry point; returns `Reply`/`Rejected` or traps via the backend."""
        if kind in CALL_KINDS:
            run = self.method_runner(kind, method)
            if run is not None:
                out = run(arg)
                return Reply(out) if isinstance(out, bytes) else out
        msg = ic.message
        msg.kind = kind
        msg.current = (method, arg)
        try:
            return self._run(kind, method, arg)
        except Reject as exc:
            return Rejected(exc.message)
        except Trapped:
            raise
        except (ArgumentError, ResultError) as exc:
            _backend.current_backend().trap(str(exc))
        except Exception as exc:
            _backend.current_backend().trap(format_exception(exc))
        finally:
            msg.kind = ""
            msg.current = ic.NO_MESSAGE

    def _run(self, kind: str, method: str, arg: bytes) -> Outcome:
        if kind in CALL_KINDS:
            target = self.methods.get(method)
            if target is None:
                return Rejected(f"canister has no {kind} method {method!r}")
            if target.kind == UPDATE and kind != UPDATE:
                return Rejected(f"{method!r} is an update method; it cannot be called as a query")
            if target.kind == COMPOSITE_QUERY and kind == UPDATE:
                return Rejected(
                    f"{method!r} is a composite query; it cannot be called as an update"
                )
            refused = refusal(target.guards, method)
            if refused is not None:
                return refused
            reply = target.invoke(arg)
            return reply if type(reply) is Pending else Reply(reply)  # type: ignore[arg-type]
        if kind in CALLBACK_KINDS:
            outcome = calls.resume(kind, method, arg)
            if outcome is None:  # a timer's coroutine ended: nothing to answer
                return DONE
            return outcome if type(outcome) is Pending else Reply(outcome)  # type: ignore[arg-type]
        if kind == INSPECT_MESSAGE:
            return self._inspect(method)
        if kind == GLOBAL_TIMER:
            from icframework.sdk import timers

            timers.run_due_timers()
            return Reply(b"")
        if kind in (INIT, POST_UPGRADE, PRE_UPGRADE, HEARTBEAT):
            hook = self.hooks.get(kind)
            if hook is not None:
                hook.invoke(arg if kind in (INIT, POST_UPGRADE) else EMPTY_MESSAGE)
            if kind == POST_UPGRADE:
                from icframework.sdk import timers

                timers.rearm()  # the IC disarms the global timer on upgrade
            return Reply(b"")
        raise SdkError(f"unknown entry-point kind {kind!r}")

    def _inspect(self, method: str) -> Outcome:
        hook = self.hooks.get(INSPECT_MESSAGE)
        if hook is None:
            _backend.current_backend().accept_message()
            return Reply(b"")
        verdict = hook.fn()
        if verdict is True:
            _backend.current_backend().accept_message()
            return Reply(b"")
        if verdict is None:  # the hook called ic.accept_message() itself, or not
            return Reply(b"")
        text = verdict if isinstance(verdict, str) else f"{hook.where} refused the message"
        return Rejected(text)


_CANISTERS: dict[str, Canister] = {}
_active: Canister | None = None


def load_canister(module: str | pytypes.ModuleType) -> Canister:
    """The compiled `Canister` of ``module`` (a name, imported if needed, or a module
    object) and its submodules.

    Cached; recompiled when methods were registered since. Makes it the active canister
    used by the module-level `dispatch`. Raises `TypeHintError` / `RegistrationError`
    for unsupported hints or conflicting declarations, naming the function.
    """
    global _active
    name = module if isinstance(module, str) else module.__name__
    if name not in sys.modules:
        importlib.import_module(name)
    canister = _CANISTERS.get(name)
    if canister is None or canister.generation != registry_generation():
        canister = Canister(name)
        _CANISTERS[name] = canister
    _active = canister
    return canister


def active_canister() -> Canister:
    if _active is None:
        raise SdkError("no canister is loaded; call load_canister(module) first")
    return _active


def dispatch(kind: str, method: str, arg: bytes) -> Outcome:
    """Run an entry point of the active canister (the runtime's single entry)."""
    return active_canister().dispatch(kind, method, arg)


def format_exception(exc: BaseException) -> str:
    """``Type: message`` plus the frames outside the SDK, one ``file:line in fn`` each."""
    lines = [f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__]
    tb = exc.__traceback__
    frames: list[str] = []
    while tb is not None:
        code = tb.tb_frame.f_code
        filename = code.co_filename
        if not filename.startswith(_SDK_DIR):
            source = linecache.getline(filename, tb.tb_lineno).strip()
            frame = f"  {filename}:{tb.tb_lineno} in {code.co_name}"
            frames.append(f"{frame}: {source}" if source else frame)
        tb = tb.tb_next
    if frames:
        lines.append("Traceback (most recent call last):")
        lines.extend(frames)
    return "\n".join(lines)


def call_hook(fn: Callable[[], Any]) -> None:
    """Run a no-argument callback, reporting an exception through ``debug_print``.

    Used for timer callbacks: one failing callback must not stop the others.
    """
    name = getattr(fn, "__qualname__", repr(fn))
    try:
        result = fn()
        if type(result) is _Coroutine:
            calls.start(_logged(result, name), _no_reply, f"timer callback {name}")
    except (Reject, Trapped):
        raise
    except Exception as exc:
        _backend.current_backend().debug_print(
            f"timer callback {name} failed: {format_exception(exc)}"
        )


def _no_reply(_result: Any) -> None:
    return None


async def _logged(coro: Any, name: str) -> None:
    """An async timer callback whose failure after an ``await`` is logged, not a trap."""
    try:
        await coro
    except (Reject, Trapped):
        raise
    except Exception as exc:
        _backend.current_backend().debug_print(
            f"timer callback {name} failed: {format_exception(exc)}"
        )


# -- calling a canister module's methods from outside it (clients, demo seeders, benches) --

def method_table(module: str) -> dict[str, CompiledMethod]:
    """The SDK method table of canister module ``module`` (imported in this process;
    only its Candid codecs are used)."""
    importlib.import_module(module)
    return Canister(module).methods


def encode_args(compiled: CompiledMethod, args: tuple[Any, ...] | list[Any]) -> bytes:
    """The Candid argument of ``compiled`` for Python ``args`` (converted by its hints)."""
    wire = [value if conv is None else conv(value)
            for value, conv in zip(args, compiled.arg_to_wire, strict=True)]
    return encode(compiled.arg_types, wire)


def decode_result(compiled: CompiledMethod, reply: bytes) -> Any:
    """The Python value of ``compiled``'s Candid ``reply`` (None for ``()``)."""
    if not compiled.result_types:
        return None
    (value,) = decode(reply, compiled.result_types)
    convert = compiled.result_from_wire
    return value if convert is None else convert(value)
