"""The ic0 System API against the hand-written WAT canisters in ``tests/replica/canisters``.

One test per module checks every method's outcome stated in the module's header (reply
bytes, error code, key words of the message) and whether state is rolled back or kept.
Where a header and the IC disagree the test follows the IC and cites its source
(dfinity/ic ``rs/system_api/src/lib.rs`` and ``rs/interfaces/src/execution_environment/
errors.rs``). A few direct `SystemApi` tests cover contexts the corpus cannot reach.
"""

from __future__ import annotations

from typing import Any

import pytest

from icframework.core import ErrorCode, Principal
from icframework.core.ic0 import Context
from icframework.replica.embedded import EMPTY_ARGS, Replica
from icframework.replica.errors import CanisterError
from icframework.replica.execution.page_map import PageMap
from icframework.replica.execution.system_api import CanisterTrap, ExecutionInput, SystemApi
from icframework.replica.state import IngressState
from icframework.replica.subnet import RoundReport
from tests.replica.corpus import wat_wasm

CONTROLLER = Principal.self_authenticating(b"system api test controller")
ANONYMOUS = Principal.anonymous()
NAT64 = b"DIDL\x00\x01\x78"


def nat64(value: int) -> bytes:
    return NAT64 + value.to_bytes(8, "little")


def nat(value: int) -> bytes:
    out = bytearray(b"DIDL\x00\x01\x7d")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def blob(data: bytes) -> bytes:
    return b"DIDL\x01\x6d\x7b\x01\x00" + bytes([len(data)]) + data


@pytest.fixture
def replica() -> Replica:
    return Replica.open()


def install(replica: Replica, name: str) -> Principal:
    canister = replica.create_canister(sender=CONTROLLER)
    replica.install_code(canister, wat_wasm(name), sender=CONTROLLER)
    return canister


def update_error(replica: Replica, canister: Principal, method: str,
                 arg: bytes = EMPTY_ARGS) -> CanisterError:
    with pytest.raises(CanisterError) as info:
        replica.update(canister, method, arg)
    return info.value


def query_error(replica: Replica, canister: Principal, method: str) -> CanisterError:
    with pytest.raises(CanisterError) as info:
        replica.query(canister, method)
    return info.value


def assert_error(error: CanisterError, code: ErrorCode, *words: str) -> None:
    assert error.error_code is code, (error.error_code, error.message)
    for word in words:
        assert word in error.message, (word, error.message)


def cycles_of(replica: Replica, canister: Principal) -> int:
    balance: int = replica.subnet.canister_state.states[canister.raw].cycles
    return balance


def update_in_round(replica: Replica, canister: Principal, method: str) -> tuple[Any, RoundReport]:
    """Submit an update and run exactly one round; (ingress status, the round's report)."""
    request_id = replica.submit(canister, method)
    report = replica.subnet.execute_round()
    status = replica.subnet.ingress_status(request_id)
    assert status is not None
    return status, report


# -- one test per WAT module -------------------------------------------------------------


def test_call_perform_fail(replica: Replica) -> None:
    canister = install(replica, "call_perform_fail")
    assert replica.update(canister, "ping") == b"DIDL\x00\x00"
    assert replica.update(canister, "perform_ok") == nat64(1)
    no_call = "called when no call is under construction."
    assert_error(update_error(replica, canister, "data_append_without_call_new"),
                 ErrorCode.CANISTER_CONTRACT_VIOLATION, f"ic0.call_data_append {no_call}")
    assert_error(update_error(replica, canister, "perform_without_call_new"),
                 ErrorCode.CANISTER_CONTRACT_VIOLATION, f"ic0.call_perform {no_call}")
    assert_error(update_error(replica, canister, "cycles_add_without_call_new"),
                 ErrorCode.CANISTER_CONTRACT_VIOLATION, f"ic0_call_cycles_add128 {no_call}")
    # IC: `ic0_call_cycles_add_helper` -> `withdraw_cycles_for_transfer` fails with
    # InsufficientCyclesBalance, which `into_user_error` maps to CanisterContractViolation
    # (rs/system_api/src/lib.rs, rs/interfaces/src/execution_environment/errors.rs).
    before = cycles_of(replica, canister)
    assert_error(update_error(replica, canister, "cycles_add_over_balance"),
                 ErrorCode.CANISTER_CONTRACT_VIOLATION,
                 f"Canister {canister.to_text()} is out of cycles")
    after_trap = cycles_of(replica, canister)
    assert 0 <= before - after_trap < 10**9  # only execution fees
    # call_perform cannot pay the call fee: returns 2 (SYS_TRANSIENT), no trap, the
    # attached cycles stay with the canister.
    assert replica.update(canister, "perform_with_liquid_balance") == nat64(2)
    assert 0 <= after_trap - cycles_of(replica, canister) < 10**9
    assert replica.update(canister, "perform_ok") == nat64(1)


def test_counter(replica: Replica) -> None:
    canister = install(replica, "counter")
    assert replica.query(canister, "get") == nat64(0)
    assert replica.update(canister, "inc") == nat64(1)
    assert replica.update(canister, "inc") == nat64(2)
    assert replica.query(canister, "get") == nat64(2)
    replica.install_code(canister, wat_wasm("counter"), mode="upgrade", sender=CONTROLLER,
                         keep_memory=True)
    assert replica.query(canister, "get") == nat64(2)
    replica.install_code(canister, wat_wasm("counter"), mode="upgrade", sender=CONTROLLER)
    assert replica.query(canister, "get") == nat64(0)
    assert replica.update(canister, "inc") == nat64(1)


def test_cycles(replica: Replica) -> None:
    canister = install(replica, "cycles")
    balance = cycles_of(replica, canister)
    assert replica.query(canister, "balance") == nat(balance)
    assert replica.query(canister, "balance64") == nat64(balance)
    # Ingress carries no cycles.
    for method in ("available", "accept_all", "accept_1000", "accept_twice"):
        assert replica.update(canister, method) == nat(0), method
    before = cycles_of(replica, canister)
    assert replica.update(canister, "burn_1000") == nat(1000)
    after = cycles_of(replica, canister)
    assert before - after >= 1000
    assert replica.subnet.canister_state.states[canister.raw].cycles_consumed >= 1000
    assert_error(query_error(replica, canister, "available_in_query"),
                 ErrorCode.CANISTER_CONTRACT_VIOLATION,
                 '"ic0_msg_cycles_available128" cannot be executed in non replicated query '
                 "mode")
    # The same query method run replicated (an update call) may read the cycles.
    assert replica.update(canister, "available_in_query") == nat(0)


def test_debug_print_oob(replica: Replica) -> None:
    canister = install(replica, "debug_print_oob")
    status, report = update_in_round(replica, canister, "print_ok")
    assert status.state is IngressState.REPLIED and status.reply == b"DIDL\x00\x00"
    assert (canister.raw, b"hello from debug_print_oob") in report.logs
    for method in ("print_past_end", "print_wrapping"):
        status, report = update_in_round(replica, canister, method)
        assert status.state is IngressState.REPLIED and status.reply == b"DIDL\x00\x00"
        # The IC's canister log placeholder (`save_log_message` in rs/system_api/src/lib.rs).
        assert (canister.raw, b"(debug_print message out of memory bounds)") in report.logs
    assert replica.query(canister, "print_in_query") == b"DIDL\x00\x00"
    assert_error(update_error(replica, canister, "trap_oob"), ErrorCode.CANISTER_CALLED_TRAP,
                 "Canister called `ic0.trap` with message: "
                 "'(trap message out of memory bounds)'")


def _state(pages: int, counter: int, stable_pages: int) -> bytes:
    return b"DIDL\x00\x03\x78\x78\x78" + b"".join(
        v.to_bytes(8, "little") for v in (pages, counter, stable_pages))


def test_grow_then_trap(replica: Replica) -> None:
    canister = install(replica, "grow_then_trap")
    state = replica.subnet.canister_state.states[canister.raw]
    assert replica.query(canister, "state") == _state(1, 0, 0)
    assert_error(update_error(replica, canister, "grow_then_trap"),
                 ErrorCode.CANISTER_TRAPPED, "Canister trapped: unreachable")
    assert replica.query(canister, "state") == _state(1, 0, 0)
    assert replica.query(canister, "peek") == nat64(0)
    assert state.certified_data == b""
    assert_error(update_error(replica, canister, "grow_then_call_trap"),
                 ErrorCode.CANISTER_CALLED_TRAP,
                 "Canister called `ic0.trap` with message: 'grow_then_call_trap'")
    assert replica.query(canister, "state") == _state(1, 0, 0)
    assert replica.subnet.canister_state.states[canister.raw].certified_data == b""
    # Without a trap every change is kept.
    assert replica.update(canister, "grow") == nat64(1)
    assert replica.query(canister, "state") == _state(3, 1, 1)
    assert replica.query(canister, "peek") == nat64(0x1122334455667788)
    state = replica.subnet.canister_state.states[canister.raw]
    assert state.certified_data == b"grow_then_call_trap"
    # A later trap rolls back to that state, not to the install.
    assert_error(update_error(replica, canister, "grow_then_trap"),
                 ErrorCode.CANISTER_TRAPPED, "unreachable")
    assert replica.query(canister, "state") == _state(3, 1, 1)
    assert replica.update(canister, "grow") == nat64(2)
    assert replica.query(canister, "state") == _state(5, 2, 2)


def test_heartbeat(replica: Replica) -> None:
    canister = install(replica, "heartbeat")
    start = int.from_bytes(replica.query(canister, "count")[7:], "little")
    for _ in range(3):
        replica.subnet.execute_round()
    assert replica.query(canister, "count") == nat64(start + 3)
    # The round that runs "reset" runs its heartbeat first.
    assert replica.update(canister, "reset") == nat64(start + 4)
    assert replica.query(canister, "count") == nat64(0)
    replica.subnet.execute_round()
    assert replica.query(canister, "count") == nat64(1)


def test_inspect(replica: Replica) -> None:
    canister = install(replica, "inspect")
    assert replica.update(canister, "allowed") == nat64(1)
    assert replica.update(canister, "allowed") == nat64(2)
    error = update_error(replica, canister, "denied")
    assert_error(error, ErrorCode.CANISTER_REJECTED_MESSAGE, "Canister rejected the message")
    # Refused before execution: nothing ran.
    for method in ("accept_twice", "inspect_trap"):
        with pytest.raises(CanisterError):
            replica.submit(canister, method)
    assert replica.query(canister, "count") == nat64(2)


# IC: `execute_inspect_message` (rs/execution_environment/src/execution/inspect_message.rs)
# returns `err.into_user_error(..)` for a trap, so the trap's own code is reported; only
# an inspect that returns without accept_message is MessageRejected (IC0406).
def test_inspect_accept_twice_is_ic0504(replica: Replica) -> None:
    canister = install(replica, "inspect")
    with pytest.raises(CanisterError) as info:
        replica.submit(canister, "accept_twice")
    assert_error(info.value, ErrorCode.CANISTER_CONTRACT_VIOLATION,
                 "ic0.accept_message: the function was already called.")


def test_inspect_trap_is_ic0503(replica: Replica) -> None:
    canister = install(replica, "inspect")
    with pytest.raises(CanisterError) as info:
        replica.submit(canister, "inspect_trap")
    assert_error(info.value, ErrorCode.CANISTER_CALLED_TRAP,
                 "Canister called `ic0.trap` with message: 'inspect refuses by trapping'")


def test_mem64(replica: Replica) -> None:
    canister = install(replica, "mem64")
    assert replica.subnet.canister_state.sandboxes[canister.raw].module.memory64
    assert replica.update(canister, "inc") == nat64(1)
    assert replica.update(canister, "inc") == nat64(2)
    assert replica.query(canister, "get") == nat64(2)
    assert replica.query(canister, "echo", b"raw \x00\xff bytes") == b"raw \x00\xff bytes"
    status, report = update_in_round(replica, canister, "roundtrip")
    assert status.state is IngressState.REPLIED
    assert status.reply == blob(b"memory64 ok")
    assert (canister.raw, b"memory64 ok") in report.logs
    assert replica.query(canister, "stable_pages") == nat64(1)
    assert replica.update(canister, "roundtrip") == blob(b"memory64 ok")
    assert replica.query(canister, "stable_pages") == nat64(2)
    assert_error(update_error(replica, canister, "trap_msg"), ErrorCode.CANISTER_CALLED_TRAP,
                 "Canister called `ic0.trap` with message: 'mem64 trap'")
    assert replica.query(canister, "get") == nat64(2)


def test_no_reply(replica: Replica) -> None:
    canister = install(replica, "no_reply")
    assert_error(update_error(replica, canister, "no_reply"), ErrorCode.CANISTER_DID_NOT_REPLY,
                 "did not reply")
    # No trap: the state change is kept.
    assert replica.query(canister, "get") == nat64(1)
    assert_error(query_error(replica, canister, "no_reply_query"),
                 ErrorCode.CANISTER_DID_NOT_REPLY, "did not reply")
    assert replica.update(canister, "reply") == b"DIDL\x00\x00"
    assert_error(update_error(replica, canister, "no_reply"), ErrorCode.CANISTER_DID_NOT_REPLY)
    assert replica.query(canister, "get") == nat64(2)


def test_oob_copy(replica: Replica) -> None:
    canister = install(replica, "oob_copy")
    arg = b"DIDL\x00\x00"
    assert replica.update(canister, "arg_copy_ok", arg) == arg
    violation = ErrorCode.CANISTER_CONTRACT_VIOLATION
    # The IC checks the heap range first, then the source (`valid_subslice` in
    # rs/system_api/src/lib.rs), both with overflow-safe arithmetic on unsigned values.
    cases = {
        "arg_copy_past_end": "ic0.msg_arg_data_copy payload: src=0 + length=7 exceeds the "
                             "slice size=6",
        "arg_copy_offset_past": "ic0.msg_arg_data_copy payload: src=7 + length=0 exceeds the "
                                "slice size=6",
        "arg_copy_wrapping": "ic0.msg_arg_data_copy payload: src=4294967295 + length=2 "
                             "exceeds the slice size=6",
        "arg_copy_dst_oob": "ic0.msg_arg_data_copy heap: src=65534 + length=6 exceeds the "
                            "slice size=65536",
        "self_copy_dst_oob": "ic0.canister_self_copy heap: src=65530 + length=10 exceeds the "
                             "slice size=65536",
        "self_copy_src_oob": "ic0.canister_self_copy id: src=0 + length=11 exceeds the slice "
                             "size=10",
        "caller_copy_src_oob": "ic0.msg_caller_copy id: src=0 + length=2 exceeds the slice "
                               "size=1",
    }
    for method, message in cases.items():
        assert_error(update_error(replica, canister, method, arg), violation,
                     f"Canister violated contract: {message}")
    assert replica.update(canister, "self_copy_ok") == canister.raw


def test_reply_twice(replica: Replica) -> None:
    canister = install(replica, "reply_twice")
    violation = ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert_error(update_error(replica, canister, "reply_twice"), violation,
                 "ic0.msg_reply: the call is already replied")
    assert_error(update_error(replica, canister, "append_after_reply"), violation,
                 "ic0.msg_reply_data_append: the call is already replied")
    assert_error(update_error(replica, canister, "reply_then_reject"), violation,
                 "ic0.msg_reject: the call is already replied")
    assert_error(query_error(replica, canister, "reply_twice_query"), violation,
                 "ic0.msg_reply: the call is already replied")
    # The trapped calls' first replies and counter bumps were discarded.
    assert replica.query(canister, "get") == nat64(0)
    assert replica.update(canister, "reply_once") == nat64(1)
    assert replica.query(canister, "get") == nat64(1)


def test_stable32(replica: Replica) -> None:
    canister = install(replica, "stable32")
    assert replica.update(canister, "roundtrip") == nat64(1)
    assert replica.query(canister, "read") == blob(b"hello world")
    assert replica.update(canister, "roundtrip") == nat64(2)
    assert replica.update(canister, "grow_too_much") == b"DIDL\x00\x01\x75" + b"\xff" * 4
    # rs/system_api/src/stable_memory.rs: stable range first (StableMemoryOutOfBounds),
    # then the heap range (HeapOutOfBounds), both `HypervisorError::Trapped` (IC0502).
    assert_error(update_error(replica, canister, "read_oob"), ErrorCode.CANISTER_TRAPPED,
                 "Canister trapped: stable memory out of bounds")
    assert_error(update_error(replica, canister, "write_oob"), ErrorCode.CANISTER_TRAPPED,
                 "Canister trapped: heap out of bounds")
    # write_oob's stable_grow(1) was rolled back: the next roundtrip grows to 3 pages.
    assert replica.update(canister, "roundtrip") == nat64(3)
    replica.install_code(canister, wat_wasm("stable32"), mode="upgrade", sender=CONTROLLER)
    assert replica.query(canister, "read") == blob(b"hello world")


def test_wrong_context(replica: Replica) -> None:
    canister = install(replica, "wrong_context")
    violation = ErrorCode.CANISTER_CONTRACT_VIOLATION
    updates = {
        "reject_code_in_update": "msg_reject_code",
        "reject_msg_in_update": "msg_reject_msg_size",
        "accept_message_in_update": "accept_message",
        "method_name_in_update": "msg_method_name_size",
        "refunded_in_update": "msg_cycles_refunded128",
        "data_certificate_in_update": "data_certificate_size",
    }
    # IC: `SystemApiImpl::error_for` formats `"\"{}\" cannot be executed in {} mode"` with
    # the `ApiType::as_str` mode name (rs/system_api/src/lib.rs).
    for method, api in updates.items():
        assert_error(update_error(replica, canister, method), violation,
                     f'Canister violated contract: "ic0_{api}" cannot be executed in update mode')
    queries = {
        "certify_in_query": "certified_data_set",
        "call_new_in_query": "call_new",
        "timer_in_query": "global_timer_set",
    }
    for method, api in queries.items():
        assert_error(query_error(replica, canister, method), violation,
                     f'"ic0_{api}" cannot be executed in non replicated query mode')
    # Replicated (an update call of a query method), the same calls are allowed or not
    # per the replicated-query column.
    assert_error(update_error(replica, canister, "certify_in_query"), violation,
                 '"ic0_certified_data_set" cannot be executed in replicated query mode')
    assert replica.subnet.canister_state.states[canister.raw].certified_data == b""
    assert replica.update(canister, "certificate_present") == nat64(0)
    assert replica.update(canister, "ok") == nat64(1)
    # A query call with a certificate sees it.
    result = replica.subnet.query(ANONYMOUS.raw, canister.raw, "certificate_present",
                                  EMPTY_ARGS, data_certificate=b"certificate")
    assert result.reply == nat64(1)


# IC: a query call always runs with the certificate of the state it reads
# (`ApiType::NonReplicatedQuery { data_certificate: Some(..) }`), so the header's "1 as a
# query call" holds there.
def test_wrong_context_certificate_present_in_query_call(replica: Replica) -> None:
    canister = install(replica, "wrong_context")
    assert replica.query(canister, "certificate_present") == nat64(1)


# -- contexts the corpus does not reach: SystemApi directly ---------------------------------


class FakeHeap:
    """A `HeapAccess` over a bytearray."""

    def __init__(self, size: int = 65536) -> None:
        self.data = bytearray(size)

    def size(self) -> int:
        return len(self.data)

    def read(self, address: int, size: int) -> bytes:
        assert address + size <= len(self.data)
        return bytes(self.data[address : address + size])

    def write(self, address: int, data: bytes) -> None:
        assert address + len(data) <= len(self.data)
        self.data[address : address + len(data)] = data


def make_api(context: Context, *, entry_point: str = "", memory64: bool = False,
             **fields: Any) -> SystemApi:
    inp = ExecutionInput(context=context, canister_id=b"\x00" * 8 + b"\x01\x01", caller=b"\x04",
                         time_ns=1, cycle_balance=fields.pop("cycle_balance", 10**12), **fields)
    return SystemApi(inp, FakeHeap(), PageMap(), lambda: 0, memory64=memory64,
                     entry_point=entry_point)


def trap_of(api: SystemApi, name: str, *args: int) -> CanisterTrap:
    """Call ``ic0.<name>`` as the sandbox does (context check, then the method)."""
    with pytest.raises(CanisterTrap) as info:
        api.check_context(name)
        getattr(api, name)(*args)
    return info.value


def test_reject_code_contexts() -> None:
    assert make_api(Context.REPLY_CALLBACK).msg_reject_code() == 0
    assert make_api(Context.REJECT_CALLBACK, reject_code=4).msg_reject_code() == 4
    assert make_api(Context.COMPOSITE_REJECT_CALLBACK, reject_code=5).msg_reject_code() == 5
    # IC: `get_reject_code` is None for Cleanup/CompositeCleanup (rs/system_api/src/lib.rs),
    # although the newest interface spec lists C for msg_reject_code.
    for context, mode in ((Context.CLEANUP, "cleanup"),
                          (Context.COMPOSITE_CLEANUP, "composite cleanup")):
        trap = trap_of(make_api(context), "msg_reject_code")
        assert trap.error_code is ErrorCode.CANISTER_CONTRACT_VIOLATION
        assert f'"ic0_msg_reject_code" cannot be executed in {mode} mode' in trap.message
        trap = trap_of(make_api(context), "msg_deadline")
        assert f'"ic0_msg_deadline" cannot be executed in {mode} mode' in trap.message


def test_context_mode_names() -> None:
    cases = {
        (Context.SYSTEM_TASK, "canister_heartbeat"): "heartbeat",
        (Context.SYSTEM_TASK, "canister_global_timer"): "global timer",
        (Context.PRE_UPGRADE, ""): "pre upgrade",
        (Context.INIT, "canister_post_upgrade"): "init",
        (Context.COMPOSITE_REPLY_CALLBACK, ""): "composite reply callback",
        (Context.COMPOSITE_CLEANUP, ""): "composite cleanup",
        (Context.START, ""): "start",
    }
    for (context, entry), mode in cases.items():
        trap = trap_of(make_api(context, entry_point=entry), "msg_method_name_size")
        assert trap.message == ('Canister violated contract: "ic0_msg_method_name_size" '
                                f"cannot be executed in {mode} mode")
    trap = trap_of(make_api(Context.INSPECT_MESSAGE), "msg_reply")
    assert trap.message.endswith('"ic0_msg_reply" cannot be executed in inspect message mode')


def test_accept_message_twice() -> None:
    api = make_api(Context.INSPECT_MESSAGE)
    api.accept_message()
    trap = trap_of(api, "accept_message")
    assert trap.error_code is ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert trap.message == (
        "Canister violated contract: ic0.accept_message: the function was already called.")


def test_debug_print_never_traps_and_trap_placeholders() -> None:
    for context in (Context.START, Context.QUERY, Context.UPDATE):
        api = make_api(context)
        api.check_context("debug_print")
        api.debug_print(65530, 100)
        api.debug_print(-16, 0x20)  # 0xFFFFFFF0 as wasm passes it
        api.debug_print(0, 0x7FFFFFFF)
        assert api.out.logs == [b"(debug_print message out of memory bounds)"] * 3
    trap = trap_of(make_api(Context.START), "trap", -1, 2)
    assert trap.error_code is ErrorCode.CANISTER_CALLED_TRAP
    assert "'(trap message out of memory bounds)'" in trap.message
    # The IC cuts trap messages to 32 KiB instead of refusing them.
    api = make_api(Context.UPDATE)
    api.heap.write(0, b"x" * 65536)
    trap = trap_of(api, "trap", 0, 65536 + 1)
    assert trap.message == f"Canister called `ic0.trap` with message: '{'x' * 32768}'"


def test_heap_out_of_bounds_in_system_calls_is_ic0504() -> None:
    api = make_api(Context.UPDATE)
    trap = trap_of(api, "msg_reply_data_append", 65530, 10)
    assert trap.error_code is ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert "msg.reply: src=65530 + length=10 exceeds the slice size=65536" in trap.message
    trap = trap_of(api, "canister_cycle_balance128", 65530)
    assert trap.error_code is ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert "ic0_canister_cycle_balance128 failed because dst + size is out of bounds" in (
        trap.message)
    trap = trap_of(api, "certified_data_set", 65530, 10)
    assert "ic0_certified_data_set failed because src + size is out of bounds" in trap.message
    trap = trap_of(api, "certified_data_set", 0, 33)
    assert "must be no larger than 32 bytes. Found 33 bytes." in trap.message
    # 64-bit pointers near 2**64 overflow: "is an invalid address".
    api64 = make_api(Context.UPDATE, memory64=True, arg=b"abc")
    trap = trap_of(api64, "msg_arg_data_copy", -1, 0, 2)
    assert "src=18446744073709551615 + length=2 is an invalid address" in trap.message


def test_cycles_over_64_bits_and_liquid_balance() -> None:
    # IC: `ic0_canister_cycle_balance` traps with CyclesAmountTooBigFor64Bit (IC0502).
    trap = trap_of(make_api(Context.UPDATE, cycle_balance=1 << 64), "canister_cycle_balance")
    assert trap.error_code is ErrorCode.CANISTER_TRAPPED
    assert trap.message == "Canister trapped: cycles amount exceeds 64-bit representation"
    api = make_api(Context.UPDATE, cycle_balance=5000, freezing_threshold_cycles=1000)
    api.call_new(0, 0, 0, 1, 0, 0, 0, 0)
    api.call_cycles_add128(0, 4000)
    trap = trap_of(api, "call_cycles_add128", 0, 1)
    assert trap.error_code is ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert trap.message.endswith("is out of cycles")
    # A new call_new returns the cycles of the call under construction.
    api.call_new(0, 0, 0, 1, 0, 0, 0, 0)
    api.canister_liquid_cycle_balance128(0)
    assert int.from_bytes(api.heap.read(0, 16), "little") == 4000


def test_misc_ic_behaviour() -> None:
    api = make_api(Context.UPDATE)
    trap = trap_of(api, "performance_counter", 7)
    assert trap.message == "Canister violated contract: Error getting performance counter type 7"
    api.heap.write(0, b"\x01" * 30)
    trap = trap_of(api, "is_controller", 0, 30)
    assert trap.message == "Canister provided invalid principal id"
    assert make_api(Context.COMPOSITE_REPLY_CALLBACK).in_replicated_execution() == 0
    assert make_api(Context.REPLY_CALLBACK).in_replicated_execution() == 1
    api = make_api(Context.UPDATE, global_timer_ns=(1 << 64) - 1)
    assert api.global_timer_set(5) == -1
