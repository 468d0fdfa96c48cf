"""The replica's canister corpus builds, validates with memory64 enabled and has the promised shape.

These tests check the corpus itself, not the replica: every Motoko canister compiles through
``tests/js/motoko_build.mjs`` (cached under ``.build/motoko``), every WAT canister assembles,
every module imports only ``ic0`` functions with the signatures of ic-protocol.md §6.2 and exports
what its header comment promises. A few WAT canisters are also run against a tiny in-test stand-in
for the System API to check that their hand-encoded Candid replies are right.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import wasmtime

from tests.node import requires_node
from tests.replica import corpus
from tests.replica.corpus import (
    CANDID_EMPTY,
    candid_blob,
    candid_nat,
    candid_nat64,
    module_summary,
    motoko_build,
    motoko_wasm,
    wat_header,
    wat_wasm,
)

# --------------------------------------------------------------------------------------------
# ic0 signatures (ic-protocol.md §6.2); "I" is i32 for 32-bit modules and i64 for Wasm64.

IC0_API: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "msg_arg_data_size": ((), ("I",)),
    "msg_arg_data_copy": (("I", "I", "I"), ()),
    "msg_caller_size": ((), ("I",)),
    "msg_caller_copy": (("I", "I", "I"), ()),
    "msg_reject_code": ((), ("i32",)),
    "msg_reject_msg_size": ((), ("I",)),
    "msg_reject_msg_copy": (("I", "I", "I"), ()),
    "msg_deadline": ((), ("i64",)),
    "msg_method_name_size": ((), ("I",)),
    "msg_method_name_copy": (("I", "I", "I"), ()),
    "accept_message": ((), ()),
    "msg_caller_info_data_size": ((), ("I",)),
    "msg_caller_info_data_copy": (("I", "I", "I"), ()),
    "msg_caller_info_signer_size": ((), ("I",)),
    "msg_caller_info_signer_copy": (("I", "I", "I"), ()),
    "msg_reply_data_append": (("I", "I"), ()),
    "msg_reply": ((), ()),
    "msg_reject": (("I", "I"), ()),
    "msg_cycles_available128": (("I",), ()),
    "msg_cycles_refunded128": (("I",), ()),
    "msg_cycles_accept128": (("i64", "i64", "I"), ()),
    "cycles_burn128": (("i64", "i64", "I"), ()),
    "canister_cycle_balance128": (("I",), ()),
    "canister_liquid_cycle_balance128": (("I",), ()),
    "canister_self_size": ((), ("I",)),
    "canister_self_copy": (("I", "I", "I"), ()),
    "canister_status": ((), ("i32",)),
    "canister_version": ((), ("i64",)),
    "subnet_self_size": ((), ("I",)),
    "subnet_self_copy": (("I", "I", "I"), ()),
    "call_new": (("I",) * 8, ()),
    "call_on_cleanup": (("I", "I"), ()),
    "call_data_append": (("I", "I"), ()),
    "call_with_best_effort_response": (("i32",), ()),
    "call_cycles_add128": (("i64", "i64"), ()),
    "call_perform": ((), ("i32",)),
    "stable64_size": ((), ("i64",)),
    "stable64_grow": (("i64",), ("i64",)),
    "stable64_write": (("i64", "i64", "i64"), ()),
    "stable64_read": (("i64", "i64", "i64"), ()),
    "certified_data_set": (("I", "I"), ()),
    "data_certificate_present": ((), ("i32",)),
    "data_certificate_size": ((), ("I",)),
    "data_certificate_copy": (("I", "I", "I"), ()),
    "root_key_size": ((), ("I",)),
    "root_key_copy": (("I", "I", "I"), ()),
    "time": ((), ("i64",)),
    "global_timer_set": (("i64",), ("i64",)),
    "performance_counter": (("i32",), ("i64",)),
    "is_controller": (("I", "I"), ("i32",)),
    "in_replicated_execution": ((), ("i32",)),
    "cost_call": (("i64", "i64", "I"), ()),
    "cost_create_canister": (("I",), ()),
    "cost_http_request": (("i64", "i64", "I"), ()),
    "env_var_count": ((), ("I",)),
    "env_var_name_size": (("I",), ("I",)),
    "env_var_name_exists": (("I", "I"), ("i32",)),
    "env_var_value_size": (("I", "I"), ("I",)),
    "env_var_value_copy": (("I", "I", "I", "I", "I"), ()),
    "debug_print": (("I", "I"), ()),
    "trap": (("I", "I"), ()),
}
IC0_API_32BIT_ONLY: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "msg_cycles_available": ((), ("i64",)),
    "msg_cycles_refunded": ((), ("i64",)),
    "msg_cycles_accept": (("i64",), ("i64",)),
    "canister_cycle_balance": ((), ("i64",)),
    "call_cycles_add": (("i64",), ()),
    "stable_size": ((), ("i32",)),
    "stable_grow": (("i32",), ("i32",)),
    "stable_write": (("i32", "i32", "i32"), ()),
    "stable_read": (("i32", "i32", "i32"), ()),
}


def expected_signature(name: str, memory64: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Wasm signature of ic0 import ``name`` in a 32- or 64-bit module (KeyError if none)."""
    if name in IC0_API:
        params, results = IC0_API[name]
    elif not memory64:
        params, results = IC0_API_32BIT_ONLY[name]
    else:
        raise KeyError(f"{name} is not available to Wasm64 modules")
    pointer = "i64" if memory64 else "i32"

    def subst(types: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(pointer if t == "I" else t for t in types)

    return subst(params), subst(results)


def check_imports(summary: dict[str, Any]) -> None:
    for imp in summary["imports"]:
        assert imp["module"] == "ic0", f"import from {imp['module']!r}: {imp['name']}"
        assert imp["kind"] == "func", f"non-function import {imp['name']}"
        params, results = expected_signature(imp["name"], summary["memory64"])
        assert (imp["params"], imp["results"]) == (params, results), (
            f"ic0.{imp['name']}: got {imp['params']} -> {imp['results']}, "
            f"expected {params} -> {results}"
        )


def check_system_exports(summary: dict[str, Any]) -> None:
    allowed = {
        "canister_init",
        "canister_pre_upgrade",
        "canister_post_upgrade",
        "canister_inspect_message",
        "canister_heartbeat",
        "canister_global_timer",
        "canister_on_low_wasm_memory",
    }
    assert set(summary["system"]) <= allowed, summary["system"]
    names = summary["update"] + summary["query"] + summary["composite_query"]
    assert len(names) == len(set(names)), "a method name is exported twice"
    bad = [n for n in summary["exports"] if n.startswith("canister_") and "  " in n]
    assert not bad


# --------------------------------------------------------------------------------------------
# Motoko canisters

MOTOKO_EXPECTED: dict[str, dict[str, set[str]]] = {
    "counter": {"update": {"inc", "add"}, "query": {"get", "version"}},
    "http_site": {
        "update": {"http_request_update"},
        "query": {"http_request", "http_streaming", "get_counter"},
    },
    "callee": {
        "update": {"set", "set_then_trap", "set_then_reject", "echo"},
        "query": {"get", "call_count", "last_caller"},
    },
    "caller": {
        "update": {
            "forward",
            "forward_to",
            "read_remote",
            "call_trapping",
            "call_rejecting",
            "call_missing",
            "forward_then_trap",
            "echo_via",
            "set_callee",
        },
        "query": {"callee_id", "counters"},
    },
    "timer": {
        "update": {"set_interval", "arm", "disarm"},
        "query": {"count", "last_fired_at"},
        "system": {"canister_global_timer"},
    },
    "trapper": {
        "update": {"set", "set_then_trap", "set_then_assert", "set_then_underflow"},
        "query": {"get", "history_size", "query_trap"},
    },
    "stable_blob": {
        "update": {"store"},
        "query": {"stored_size", "pages", "sum", "verify", "read"},
    },
    "cycles": {
        "update": {"deposit", "deposit_up_to", "available", "burn", "send"},
        "query": {"balance", "total_received"},
    },
}

# Every Motoko canister gets these from the compiler (upgrade and runtime plumbing).
MOTOKO_SYSTEM = {"canister_init", "canister_pre_upgrade", "canister_post_upgrade"}


def test_motoko_corpus_is_complete() -> None:
    assert set(corpus.motoko_names()) == set(MOTOKO_EXPECTED)


@pytest.mark.parametrize("name", sorted(MOTOKO_EXPECTED))
def test_motoko_header_comment(name: str) -> None:
    first = corpus.source_path(name, ".mo").read_text().splitlines()[0]
    assert first.startswith("// Tests: ") and len(first) > 30


@requires_node
@pytest.mark.parametrize("name", sorted(MOTOKO_EXPECTED))
def test_motoko_canister_builds(name: str) -> None:
    wasm, meta = motoko_build(name)
    summary = module_summary(wasm)
    check_imports(summary)
    check_system_exports(summary)
    expected = MOTOKO_EXPECTED[name]
    assert expected["update"] <= set(summary["update"])
    assert expected["query"] <= set(summary["query"])
    assert expected.get("system", set()) | MOTOKO_SYSTEM <= set(summary["system"])
    # Public methods appear in the Candid interface moc emits, both in the build answer and in
    # the `icp:private candid:service` metadata section.
    # (For an actor class moc's `candid` is the class type `(args) -> service`, while the
    # metadata holds the service and, separately, `candid:args`.)
    service = summary["metadata"]["icp:private candid:service"]
    for method in expected["update"] | expected["query"]:
        assert re.search(rf"\b{method}\s*:", meta["candid"]), method
        assert re.search(rf"\b{method}\s*:", service), method
    assert "icp:private candid:args" in summary["metadata"]
    # moc ≥ 0.15 compiles persistent actors with enhanced orthogonal persistence: Wasm64 memory
    # and a section naming the persistence layout.
    assert summary["memory64"] is True
    assert "icp:private enhanced-orthogonal-persistence" in summary["custom_sections"]
    assert meta["warnings"] == [], meta["warnings"]


@requires_node
def test_motoko_imports_are_all_provided_by_the_replica() -> None:
    """Every ic0 function current moc imports is in the System API table the replica serves."""
    from icframework.core.ic0 import IC0_FUNCTIONS

    union: set[str] = set()
    for name in sorted(MOTOKO_EXPECTED):
        union |= {imp["name"] for imp in module_summary(motoko_wasm(name))["imports"]}
    assert union <= set(IC0_FUNCTIONS), sorted(union - set(IC0_FUNCTIONS))
    # The calls every Motoko canister needs, whatever its source.
    assert {"msg_reply", "msg_reply_data_append", "msg_arg_data_copy", "trap"} <= union
    assert {"stable64_read", "stable64_write", "stable64_size", "stable64_grow"} <= union
    # cycles.mo uses the cycles API, caller.mo inter-canister calls.
    assert {"msg_cycles_accept128", "msg_cycles_available128", "cycles_burn128"} <= union
    assert {"call_new", "call_perform", "call_data_append"} <= union


@requires_node
def test_motoko_cache_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    motoko_wasm("counter")  # make sure the cache is filled
    key = corpus.cache_key(corpus.source_path("counter", ".mo").read_text())
    assert (corpus.CACHE_DIR / f"{key}.wasm").is_file()

    def no_compiler(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(corpus, "run_motoko_build", no_compiler)
    corpus.motoko_build.cache_clear()
    try:
        assert corpus.motoko_wasm("counter") == (corpus.CACHE_DIR / f"{key}.wasm").read_bytes()
        assert "inc: () -> (nat)" in corpus.motoko_candid("counter")
    finally:
        corpus.motoko_build.cache_clear()


@requires_node
def test_motoko_build_reports_compile_errors() -> None:
    with pytest.raises(corpus.MotokoBuildError) as info:
        corpus.run_motoko_build(
            {"/main.mo": 'actor { public func f() : async Nat { "text" } }'}, "/main.mo"
        )
    assert info.value.diagnostics
    assert "M0050" in str(info.value)


# --------------------------------------------------------------------------------------------
# WAT canisters

WAT_CANISTERS = [
    "call_perform_fail",
    "counter",
    "cycles",
    "debug_print_oob",
    "grow_then_trap",
    "heartbeat",
    "inspect",
    "mem64",
    "no_reply",
    "oob_copy",
    "reply_twice",
    "stable32",
    "wrong_context",
]


def promised_exports(name: str) -> set[str]:
    """Export names listed after ``Exports:`` in the header comment of ``<name>.wat``."""
    header = wat_header(name)
    assert "Exports:" in header, f"{name}.wat has no Exports: line"
    listed = header.split("Exports:", 1)[1]
    return {item.strip() for item in listed.replace("\n", " ").split(",") if item.strip()}


def test_wat_corpus_is_complete() -> None:
    assert corpus.wat_names() == WAT_CANISTERS


@pytest.mark.parametrize("name", WAT_CANISTERS)
def test_wat_canister_builds(name: str) -> None:
    header = wat_header(name)
    assert header.startswith(f"{name}.wat: ") and "Expected" in header
    summary = module_summary(wat_wasm(name))
    check_imports(summary)
    check_system_exports(summary)
    assert set(summary["exports"]) == promised_exports(name)
    assert summary["exports"]["memory"] == "memory"
    assert summary["memory64"] is (name == "mem64")
    assert set(summary["custom_sections"]) <= {"name"}  # wat2wasm keeps $names


# --------------------------------------------------------------------------------------------
# A tiny System API stand-in, enough to check the hand-encoded replies of some WAT canisters.
# It is deliberately minimal (no contexts, no call semantics): the replica tests do the rest.


class Trapped(Exception):
    pass


class MiniHost:
    def __init__(self, wasm: bytes, *, cycles: int = 10**12, self_id: bytes = b"\x01\x02") -> None:
        self.store = wasmtime.Store(corpus.memory64_engine())
        self.stable = bytearray()
        self.balance = cycles
        self.self_id = self_id
        self.arg = b""
        self.reply: bytes | None = None
        self.buffer = bytearray()
        self.attached = 0
        module = wasmtime.Module(self.store.engine, wasm)
        linker = wasmtime.Linker(self.store.engine)
        for imp in module.imports:
            assert imp.name is not None and isinstance(imp.type, wasmtime.FuncType)
            impl = getattr(self, f"ic0_{imp.name}", None) or self._missing(imp.name)
            linker.define_func("ic0", imp.name, imp.type, self._unsigned(impl), access_caller=True)
        self.instance = linker.instantiate(self.store, module)
        memory = self.instance.exports(self.store)["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self.memory: wasmtime.Memory = memory

    @staticmethod
    def _unsigned(impl: Callable[..., Any]) -> Callable[..., Any]:
        """wasmtime passes i32/i64 as signed ints; the System API treats them as unsigned."""

        def call(caller: wasmtime.Caller, *args: int) -> Any:
            return impl(caller, *(a & 0xFFFFFFFF if -(2**31) <= a < 0 else a % 2**64 for a in args))

        return call

    @staticmethod
    def _missing(name: str) -> Callable[..., Any]:
        def fail(caller: wasmtime.Caller, *args: Any) -> Any:
            raise Trapped(f"MiniHost does not implement ic0.{name}")

        return fail

    # helpers
    def _read(self, caller: wasmtime.Caller, src: int, size: int) -> bytes:
        if src + size > self.memory.data_len(caller):
            raise Trapped("heap out of bounds")
        return bytes(self.memory.read(caller, src, src + size))

    def _write(self, caller: wasmtime.Caller, dst: int, data: bytes) -> None:
        if dst + len(data) > self.memory.data_len(caller):
            raise Trapped("heap out of bounds")
        self.memory.write(caller, data, dst)

    def call(self, export: str, arg: bytes = CANDID_EMPTY, *, cycles: int = 0) -> bytes | None:
        self.arg, self.reply, self.buffer, self.attached = arg, None, bytearray(), cycles
        func = self.instance.exports(self.store)[export]
        assert isinstance(func, wasmtime.Func)
        func(self.store)
        return self.reply

    # ic0
    def ic0_msg_arg_data_size(self, caller: wasmtime.Caller) -> int:
        return len(self.arg)

    def ic0_msg_arg_data_copy(self, caller: wasmtime.Caller, dst: int, off: int, n: int) -> None:
        if off + n > len(self.arg):
            raise Trapped("arg out of bounds")
        self._write(caller, dst, self.arg[off : off + n])

    def ic0_canister_self_size(self, caller: wasmtime.Caller) -> int:
        return len(self.self_id)

    def ic0_canister_self_copy(self, caller: wasmtime.Caller, dst: int, off: int, n: int) -> None:
        self._write(caller, dst, self.self_id[off : off + n])

    def ic0_msg_reply_data_append(self, caller: wasmtime.Caller, src: int, n: int) -> None:
        self.buffer += self._read(caller, src, n)

    def ic0_msg_reply(self, caller: wasmtime.Caller) -> None:
        if self.reply is not None:
            raise Trapped("already replied")
        self.reply = bytes(self.buffer)

    def ic0_debug_print(self, caller: wasmtime.Caller, src: int, n: int) -> None:
        pass

    def ic0_trap(self, caller: wasmtime.Caller, src: int, n: int) -> None:
        raise Trapped("ic0.trap")

    def ic0_certified_data_set(self, caller: wasmtime.Caller, src: int, n: int) -> None:
        self._read(caller, src, n)

    def ic0_stable64_size(self, caller: wasmtime.Caller) -> int:
        return len(self.stable) // 65536

    def ic0_stable64_grow(self, caller: wasmtime.Caller, pages: int) -> int:
        old = len(self.stable) // 65536
        self.stable += bytes(pages * 65536)
        return old

    def ic0_stable64_write(self, caller: wasmtime.Caller, off: int, src: int, n: int) -> None:
        if off + n > len(self.stable):
            raise Trapped("stable memory out of bounds")
        self.stable[off : off + n] = self._read(caller, src, n)

    def ic0_stable64_read(self, caller: wasmtime.Caller, dst: int, off: int, n: int) -> None:
        if off + n > len(self.stable):
            raise Trapped("stable memory out of bounds")
        self._write(caller, dst, bytes(self.stable[off : off + n]))

    def ic0_stable_size(self, caller: wasmtime.Caller) -> int:
        return self.ic0_stable64_size(caller)

    def ic0_stable_grow(self, caller: wasmtime.Caller, pages: int) -> int:
        if len(self.stable) // 65536 + pages > 65536:
            return -1
        return self.ic0_stable64_grow(caller, pages)

    def ic0_stable_write(self, caller: wasmtime.Caller, off: int, src: int, n: int) -> None:
        self.ic0_stable64_write(caller, off & 0xFFFFFFFF, src & 0xFFFFFFFF, n & 0xFFFFFFFF)

    def ic0_stable_read(self, caller: wasmtime.Caller, dst: int, off: int, n: int) -> None:
        self.ic0_stable64_read(caller, dst & 0xFFFFFFFF, off & 0xFFFFFFFF, n & 0xFFFFFFFF)

    def _put128(self, caller: wasmtime.Caller, dst: int, value: int) -> None:
        self._write(caller, dst, value.to_bytes(16, "little"))

    def ic0_canister_cycle_balance128(self, caller: wasmtime.Caller, dst: int) -> None:
        self._put128(caller, dst, self.balance)

    def ic0_canister_cycle_balance(self, caller: wasmtime.Caller) -> int:
        return self.balance - (1 << 64) if self.balance >= 1 << 63 else self.balance

    def ic0_msg_cycles_available128(self, caller: wasmtime.Caller, dst: int) -> None:
        self._put128(caller, dst, self.attached)

    def ic0_msg_cycles_accept128(self, caller: wasmtime.Caller, hi: int, lo: int, dst: int) -> None:
        wanted = ((hi & (2**64 - 1)) << 64) | (lo & (2**64 - 1))
        accepted = min(wanted, self.attached)
        self.attached -= accepted
        self.balance += accepted
        self._put128(caller, dst, accepted)

    def ic0_cycles_burn128(self, caller: wasmtime.Caller, hi: int, lo: int, dst: int) -> None:
        wanted = ((hi & (2**64 - 1)) << 64) | (lo & (2**64 - 1))
        burned = min(wanted, self.balance)
        self.balance -= burned
        self._put128(caller, dst, burned)


def test_counter_wat_replies() -> None:
    host = MiniHost(wat_wasm("counter"))
    assert host.call("canister_query get") == candid_nat64(0)
    assert host.call("canister_update inc") == candid_nat64(1)
    assert host.call("canister_update inc") == candid_nat64(2)
    assert host.call("canister_query get") == candid_nat64(2)


def test_stable32_wat_replies() -> None:
    host = MiniHost(wat_wasm("stable32"))
    assert host.call("canister_update roundtrip") == candid_nat64(1)
    assert host.call("canister_query read") == candid_blob(b"hello world")
    assert host.call("canister_update grow_too_much") == b"DIDL\x00\x01\x75\xff\xff\xff\xff"
    with pytest.raises(Trapped):
        host.call("canister_update read_oob")


def test_mem64_wat_replies() -> None:
    host = MiniHost(wat_wasm("mem64"))
    assert host.call("canister_update inc") == candid_nat64(1)
    assert host.call("canister_query echo", b"\x00anything\xff") == b"\x00anything\xff"
    assert host.call("canister_update roundtrip") == candid_blob(b"memory64 ok")
    assert host.call("canister_query stable_pages") == candid_nat64(1)
    with pytest.raises(Trapped):
        host.call("canister_update trap_msg")


def test_grow_then_trap_wat_replies() -> None:
    host = MiniHost(wat_wasm("grow_then_trap"))
    state = b"DIDL\x00\x03\x78\x78\x78"
    assert host.call("canister_query state") == state + b"".join(
        v.to_bytes(8, "little") for v in (1, 0, 0)
    )
    assert host.call("canister_update grow") == candid_nat64(1)
    assert host.call("canister_query state") == state + b"".join(
        v.to_bytes(8, "little") for v in (3, 1, 1)
    )
    assert host.call("canister_query peek") == candid_nat64(0x1122334455667788)


@pytest.mark.parametrize("balance", [0, 1, 127, 128, 10**12, 2**64 - 1, 2**64, 2**127 + 5])
def test_cycles_wat_nat_encoding(balance: int) -> None:
    host = MiniHost(wat_wasm("cycles"), cycles=balance)
    assert host.call("canister_query balance") == candid_nat(balance)


def test_cycles_wat_replies() -> None:
    host = MiniHost(wat_wasm("cycles"), cycles=5000)
    assert host.call("canister_update available", cycles=300) == candid_nat(300)
    assert host.call("canister_update accept_1000", cycles=3000) == candid_nat(1000)
    assert host.balance == 6000
    assert host.call("canister_update accept_all", cycles=700) == candid_nat(700)
    assert host.call("canister_update accept_twice", cycles=50) == candid_nat(0)
    assert host.balance == 6750
    assert host.call("canister_update burn_1000") == candid_nat(1000)
    assert host.call("canister_query balance64") == candid_nat64(5750)


def test_reply_twice_and_debug_print_wat_replies() -> None:
    host = MiniHost(wat_wasm("reply_twice"))
    assert host.call("canister_update reply_once") == candid_nat64(1)
    with pytest.raises(Trapped):
        host.call("canister_update reply_twice")
    host = MiniHost(wat_wasm("debug_print_oob"))
    assert host.call("canister_update print_past_end") == CANDID_EMPTY
    assert host.call("canister_update print_wrapping") == CANDID_EMPTY


def test_oob_copy_wat_controls() -> None:
    host = MiniHost(wat_wasm("oob_copy"), self_id=b"\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01")
    assert host.call("canister_update arg_copy_ok", b"abc") == b"abc"
    assert host.call("canister_update self_copy_ok") == host.self_id
    for method in ("arg_copy_past_end", "arg_copy_wrapping", "arg_copy_dst_oob"):
        with pytest.raises(Trapped):
            host.call(f"canister_update {method}", b"abcd")
