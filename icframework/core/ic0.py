"""The ic0 System API as data: every import's signature and the contexts that may call it.

The replica builds its host functions from this table, and the canister ABI mirrors it.
A signature uses ``"I"`` for a pointer or size: ``i32`` in 32-bit modules and ``i64``
in 64-bit (memory64) modules. Contexts follow the interface spec's table:

==== ===========================================================
s    the module's ``(start)`` function
I    ``canister_init`` or ``canister_post_upgrade``
G    ``canister_pre_upgrade``
U    an update method
RQ   a query method executed in replicated mode (as an update)
NRQ  a query method executed as a query call
CQ   a composite query method
Ry   a reply callback             Rt   a reject callback
CRy  a composite-query reply callback   CRt  its reject callback
C    a cleanup callback           CC   a composite-query cleanup callback
F    ``canister_inspect_message``
T    a system task: heartbeat, global timer, low-memory hook
==== ===========================================================
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Context(enum.Enum):
    """Where an ic0 call happens; see the module docstring for the letters."""

    START = "s"
    INIT = "I"
    PRE_UPGRADE = "G"
    UPDATE = "U"
    REPLICATED_QUERY = "RQ"
    QUERY = "NRQ"
    COMPOSITE_QUERY = "CQ"
    REPLY_CALLBACK = "Ry"
    REJECT_CALLBACK = "Rt"
    COMPOSITE_REPLY_CALLBACK = "CRy"
    COMPOSITE_REJECT_CALLBACK = "CRt"
    CLEANUP = "C"
    COMPOSITE_CLEANUP = "CC"
    INSPECT_MESSAGE = "F"
    SYSTEM_TASK = "T"


_ALL_BUT_START = frozenset(Context) - {Context.START}
_EVERYWHERE = frozenset(Context)


def _ctx(spec: str) -> frozenset[Context]:
    if spec == "*":
        return _ALL_BUT_START
    if spec == "*s":
        return _EVERYWHERE
    return frozenset(Context(letter) for letter in spec.split())


@dataclass(frozen=True, slots=True)
class Ic0Function:
    """One ic0 import: its parameter and result types and where it may be called."""

    name: str
    params: tuple[str, ...]
    results: tuple[str, ...]
    contexts: frozenset[Context]
    wasm32_only: bool = False

    def signature(self, memory64: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Concrete (params, results) value types for a 32- or 64-bit module."""
        pointer = "i64" if memory64 else "i32"
        return (
            tuple(pointer if p == "I" else p for p in self.params),
            tuple(pointer if r == "I" else r for r in self.results),
        )


_ARG = "I U RQ NRQ CQ Ry CRy F"
_REPLY = "U RQ NRQ CQ Ry Rt CRy CRt"
_CALL = "U CQ Ry Rt CRy CRt T"

_TABLE: tuple[Ic0Function, ...] = (
    Ic0Function("msg_arg_data_size", (), ("I",), _ctx(_ARG)),
    Ic0Function("msg_arg_data_copy", ("I", "I", "I"), (), _ctx(_ARG)),
    Ic0Function("msg_caller_size", (), ("I",), _ctx("*")),
    Ic0Function("msg_caller_copy", ("I", "I", "I"), (), _ctx("*")),
    # The newest spec text also allows cleanup here; the IC's implementation traps, and
    # canisters are written against the IC, so the table follows the implementation.
    Ic0Function("msg_reject_code", (), ("i32",), _ctx("Ry Rt CRy CRt")),
    Ic0Function("msg_reject_msg_size", (), ("I",), _ctx("Rt CRt")),
    Ic0Function("msg_reject_msg_copy", ("I", "I", "I"), (), _ctx("Rt CRt")),
    Ic0Function("msg_deadline", (), ("i64",), _ctx("U RQ NRQ CQ Ry Rt CRy CRt")),
    Ic0Function("msg_reply_data_append", ("I", "I"), (), _ctx(_REPLY)),
    Ic0Function("msg_reply", (), (), _ctx(_REPLY)),
    Ic0Function("msg_reject", ("I", "I"), (), _ctx(_REPLY)),
    Ic0Function("msg_cycles_available128", ("I",), (), _ctx("U RQ Ry Rt")),
    Ic0Function("msg_cycles_refunded128", ("I",), (), _ctx("Ry Rt")),
    Ic0Function("msg_cycles_accept128", ("i64", "i64", "I"), (), _ctx("U RQ Ry Rt")),
    Ic0Function("cycles_burn128", ("i64", "i64", "I"), (), _ctx("I G U RQ Ry Rt C T")),
    Ic0Function("msg_method_name_size", (), ("I",), _ctx("F")),
    Ic0Function("msg_method_name_copy", ("I", "I", "I"), (), _ctx("F")),
    Ic0Function("accept_message", (), (), _ctx("F")),
    Ic0Function("canister_self_size", (), ("I",), _ctx("*")),
    Ic0Function("canister_self_copy", ("I", "I", "I"), (), _ctx("*")),
    Ic0Function("canister_cycle_balance128", ("I",), (), _ctx("*")),
    Ic0Function("canister_liquid_cycle_balance128", ("I",), (), _ctx("*")),
    Ic0Function("canister_status", (), ("i32",), _ctx("*")),
    Ic0Function("canister_version", (), ("i64",), _ctx("*")),
    Ic0Function("subnet_self_size", (), ("I",), _ctx("*")),
    Ic0Function("subnet_self_copy", ("I", "I", "I"), (), _ctx("*")),
    Ic0Function(
        "call_new", ("I", "I", "I", "I", "I", "I", "I", "I"), (), _ctx(_CALL)
    ),
    Ic0Function("call_on_cleanup", ("I", "I"), (), _ctx(_CALL)),
    Ic0Function("call_data_append", ("I", "I"), (), _ctx(_CALL)),
    Ic0Function("call_with_best_effort_response", ("i32",), (), _ctx(_CALL)),
    Ic0Function("call_cycles_add128", ("i64", "i64"), (), _ctx("U Ry Rt T")),
    Ic0Function("call_perform", (), ("i32",), _ctx(_CALL)),
    Ic0Function("stable64_size", (), ("i64",), _ctx("*s")),
    Ic0Function("stable64_grow", ("i64",), ("i64",), _ctx("*s")),
    Ic0Function("stable64_write", ("i64", "i64", "i64"), (), _ctx("*s")),
    Ic0Function("stable64_read", ("i64", "i64", "i64"), (), _ctx("*s")),
    Ic0Function("certified_data_set", ("I", "I"), (), _ctx("I G U Ry Rt T")),
    Ic0Function("data_certificate_present", (), ("i32",), _ctx("*")),
    Ic0Function("data_certificate_size", (), ("I",), _ctx("NRQ CQ")),
    Ic0Function("data_certificate_copy", ("I", "I", "I"), (), _ctx("NRQ CQ")),
    Ic0Function("root_key_size", (), ("I",), _ctx("I G U RQ Ry Rt C T")),
    Ic0Function("root_key_copy", ("I", "I", "I"), (), _ctx("I G U RQ Ry Rt C T")),
    Ic0Function("time", (), ("i64",), _ctx("*")),
    Ic0Function("global_timer_set", ("i64",), ("i64",), _ctx("I G U Ry Rt C T")),
    Ic0Function("performance_counter", ("i32",), ("i64",), _ctx("*s")),
    Ic0Function("is_controller", ("I", "I"), ("i32",), _ctx("*s")),
    Ic0Function("in_replicated_execution", (), ("i32",), _ctx("*s")),
    Ic0Function("cost_call", ("i64", "i64", "I"), (), _ctx("*s")),
    Ic0Function("cost_create_canister", ("I",), (), _ctx("*s")),
    Ic0Function("cost_http_request", ("i64", "i64", "I"), (), _ctx("*s")),
    Ic0Function("cost_sign_with_ecdsa", ("I", "I", "i32", "I"), ("i32",), _ctx("*s")),
    Ic0Function("cost_sign_with_schnorr", ("I", "I", "i32", "I"), ("i32",), _ctx("*s")),
    Ic0Function("cost_vetkd_derive_key", ("I", "I", "i32", "I"), ("i32",), _ctx("*s")),
    Ic0Function("debug_print", ("I", "I"), (), _ctx("*s")),
    Ic0Function("trap", ("I", "I"), (), _ctx("*s")),
    # 32-bit-only legacy variants.
    Ic0Function("msg_cycles_available", (), ("i64",), _ctx("U RQ Ry Rt"), wasm32_only=True),
    Ic0Function("msg_cycles_refunded", (), ("i64",), _ctx("Ry Rt"), wasm32_only=True),
    Ic0Function("msg_cycles_accept", ("i64",), ("i64",), _ctx("U RQ Ry Rt"), wasm32_only=True),
    Ic0Function("canister_cycle_balance", (), ("i64",), _ctx("*"), wasm32_only=True),
    Ic0Function("call_cycles_add", ("i64",), (), _ctx("U Ry Rt T"), wasm32_only=True),
    Ic0Function("stable_size", (), ("i32",), _ctx("*s"), wasm32_only=True),
    Ic0Function("stable_grow", ("i32",), ("i32",), _ctx("*s"), wasm32_only=True),
    Ic0Function("stable_write", ("i32", "i32", "i32"), (), _ctx("*s"), wasm32_only=True),
    Ic0Function("stable_read", ("i32", "i32", "i32"), (), _ctx("*s"), wasm32_only=True),
)

IC0_FUNCTIONS: Mapping[str, Ic0Function] = {f.name: f for f in _TABLE}
"""Every ic0 function by name."""
