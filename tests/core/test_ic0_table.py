"""The ic0 table as data: signatures for both memory widths and context rules."""

from __future__ import annotations

from icframework.core.ic0 import IC0_FUNCTIONS, Context


def test_pointer_types_follow_memory_width() -> None:
    copy = IC0_FUNCTIONS["msg_arg_data_copy"]
    assert copy.signature(memory64=False) == (("i32", "i32", "i32"), ())
    assert copy.signature(memory64=True) == (("i64", "i64", "i64"), ())
    assert IC0_FUNCTIONS["time"].signature(memory64=True) == ((), ("i64",))


def test_contexts_match_the_spec_table() -> None:
    assert IC0_FUNCTIONS["accept_message"].contexts == {Context.INSPECT_MESSAGE}
    assert Context.UPDATE not in IC0_FUNCTIONS["msg_reject_code"].contexts
    assert Context.QUERY not in IC0_FUNCTIONS["call_new"].contexts
    assert Context.START in IC0_FUNCTIONS["debug_print"].contexts
    assert Context.START not in IC0_FUNCTIONS["msg_caller_size"].contexts
    assert IC0_FUNCTIONS["data_certificate_copy"].contexts == {
        Context.QUERY, Context.COMPOSITE_QUERY
    }


def test_legacy_functions_are_32_bit_only() -> None:
    legacy = {f.name for f in IC0_FUNCTIONS.values() if f.wasm32_only}
    assert legacy == {
        "msg_cycles_available", "msg_cycles_refunded", "msg_cycles_accept",
        "canister_cycle_balance", "call_cycles_add", "stable_size", "stable_grow",
        "stable_write", "stable_read",
    }
