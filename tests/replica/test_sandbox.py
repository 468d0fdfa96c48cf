"""Sandbox checkpoints: written pages are committed or rolled back exactly, by bitmap or by
whole-heap comparison, and the dirty set matches what the old whole-heap method finds."""

from __future__ import annotations

import ctypes
import random
import struct

import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.core import ErrorCode, Principal
from icframework.core.ic0 import Context
from icframework.replica.embedded import Replica
from icframework.replica.execution.page_map import CHECKPOINT_PAGE, PageMap
from icframework.replica.execution.sandbox import ExecutionResult, Sandbox
from tests.replica.wat_counter import counter_wasm

OWNER = Principal.self_authenticating(b"sandbox test")
PAGES = 41  # 64 KiB pages: more than two 1 MiB chunks
HEAP = PAGES * 65536

# ``write`` stores each (address u32, value u64) pair of its raw argument with i64.store,
# after the System API copied the argument to address 0 (a host write).
WRITER_WAT = f"""
(module
  (import "ic0" "msg_arg_data_size" (func $size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $copy (param i32 i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (memory {PAGES})
  (func $apply (local $end i32) (local $i i32)
    (local.set $end (call $size))
    (call $copy (i32.const 0) (i32.const 0) (local.get $end))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (i64.store (i32.load (local.get $i)) (i64.load offset=4 (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 12)))
        (br $next))))
  (func (export "canister_update write") (call $apply) (call $reply))
  (func (export "canister_query write_query") (call $apply) (call $reply))
  (func (export "canister_update write_then_trap") (call $apply)
    (call $trap (i32.const 0) (i32.const 0)))
  (func (export "canister_update grow_then_write")
    (drop (memory.grow (i32.const 1))) (call $apply) (call $reply))
)
"""
# The same canister, plus an atomic store the decoder does not know: checkpointed by
# comparing the whole heap.
ATOMIC_WAT = WRITER_WAT.replace(
    '(func (export "canister_update write")',
    '(func (export "canister_update atomic") (i32.atomic.store (i32.const 8192) (i32.const 5))'
    ' (call $reply))\n  (func (export "canister_update write")',
)

WRITES = st.lists(
    st.tuples(st.integers(4096, HEAP - 8), st.integers(1, 2**64 - 1)), max_size=12
)


class Direct:
    """A `Sandbox` of a WAT canister run directly (no subnet round, no checkpoint store)."""

    def __init__(self, wat: str) -> None:
        replica = Replica.open()
        canister = replica.create_canister(sender=OWNER)
        replica.install_code(canister, bytes(wasmtime.wat2wasm(wat)), sender=OWNER)
        self.subnet = replica.subnet
        self.state = self.subnet.canister_state.states[canister.raw]
        installed = self.subnet.canister_state.sandboxes[canister.raw]
        self.limit = self.subnet.config.update_instruction_limit
        self.sandbox = Sandbox(
            self.subnet.engine, installed.module, PageMap(),
            self.subnet.canister_state.execution_input(self.state, Context.START, b""), self.limit,
        )
        self.sandbox.take_dirty_pages()

    def call(self, method: str, arg: bytes = b"", *, query: bool = False,
             limit: int | None = None) -> ExecutionResult:
        context = Context.QUERY if query else Context.UPDATE
        prefix = "canister_query " if query else "canister_update "
        inp = self.subnet.canister_state.execution_input(self.state, context, OWNER.raw, arg=arg)
        return self.sandbox.execute(
            prefix + method, inp, self.limit if limit is None else limit, persist=not query
        )


WRITER = Direct(WRITER_WAT)


def _live(sandbox: Sandbox) -> bytes:
    memory = sandbox.memory
    assert memory is not None
    base = ctypes.addressof(memory.data_ptr(sandbox.store).contents)
    return ctypes.string_at(base, memory.data_len(sandbox.store))


def _pages_differing(a: bytes, b: bytes) -> set[int]:
    return {
        page for page in range(max(len(a), len(b)) // CHECKPOINT_PAGE)
        if a[page * CHECKPOINT_PAGE : (page + 1) * CHECKPOINT_PAGE]
        != b[page * CHECKPOINT_PAGE : (page + 1) * CHECKPOINT_PAGE]
    }


def _arg(writes: list[tuple[int, int]]) -> bytes:
    return b"".join(struct.pack("<IQ", address, value) for address, value in writes)


@settings(max_examples=40, deadline=None)
@given(WRITES)
def test_an_update_commits_exactly_the_pages_it_wrote(writes: list[tuple[int, int]]) -> None:
    sandbox = WRITER.sandbox
    assert sandbox.checkpoint.bitmap is not None
    before = bytes(sandbox.checkpoint.image)
    assert WRITER.call("write", _arg(writes)).trap is None
    after = bytes(sandbox.checkpoint.image)
    assert _live(sandbox) == after
    assert sandbox.checkpoint.changed_pages() == []  # the whole-heap method agrees: nothing left
    assert set(sandbox.take_dirty_pages()) == _pages_differing(before, after)


@settings(max_examples=25, deadline=None)
@given(WRITES)
def test_queries_and_traps_leave_no_trace(writes: list[tuple[int, int]]) -> None:
    sandbox = WRITER.sandbox
    image = bytes(sandbox.checkpoint.image)
    assert WRITER.call("write_query", _arg(writes), query=True).trap is None
    assert _live(sandbox) == image == bytes(sandbox.checkpoint.image)
    trap = WRITER.call("write_then_trap", _arg(writes)).trap
    assert trap is not None and "ic0.trap" in str(trap)
    assert _live(sandbox) == image == bytes(sandbox.checkpoint.image)
    assert sandbox.take_dirty_pages() == {}
    assert sandbox.checkpoint.take_marked_pages() == []  # rollback cleared the marks


def test_grown_pages_are_committed_and_dirty() -> None:
    direct = Direct(WRITER_WAT)
    sandbox = direct.sandbox
    assert direct.call("grow_then_write", _arg([(HEAP + 16, 7), (4096, 9)])).trap is None
    assert len(sandbox.checkpoint.image) == HEAP + 65536
    assert _live(sandbox) == bytes(sandbox.checkpoint.image)
    dirty = set(sandbox.take_dirty_pages())
    assert dirty == {0, 1} | set(range(HEAP // CHECKPOINT_PAGE, (HEAP + 65536) // CHECKPOINT_PAGE))
    assert direct.call("write_then_trap", _arg([(HEAP + 16, 8)])).trap is not None
    assert _live(sandbox)[HEAP + 16] == 7


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, HEAP - 1), st.integers(1, 9000)), max_size=12),
       st.integers(0, 2**32))
def test_host_writes_are_marked_and_rolled_back(
    writes: list[tuple[int, int]], seed: int
) -> None:
    sandbox = WRITER.sandbox
    rng = random.Random(seed)
    image = bytes(sandbox.checkpoint.image)
    expected: set[int] = set()
    for offset, size in writes:
        size = min(size, HEAP - offset)
        sandbox._heap.write(offset, rng.randbytes(size))
        last = (offset + size - 1) // CHECKPOINT_PAGE
        expected |= set(range(offset // CHECKPOINT_PAGE, last + 1))
    live = _live(sandbox)
    changed = _pages_differing(live, image)
    marked = set(sandbox.checkpoint.take_marked_pages())
    assert changed <= marked == expected
    sandbox.checkpoint.mark_written(0, HEAP)  # mark again what the read took, then roll back
    sandbox._rollback_heap()
    assert _live(sandbox) == image


def test_a_module_the_decoder_cannot_read_is_checkpointed_by_comparing_the_heap() -> None:
    direct = Direct(ATOMIC_WAT)
    sandbox = direct.sandbox
    assert not sandbox.module.dirty_bitmap and sandbox.checkpoint.bitmap is None
    assert direct.call("atomic").trap is None
    assert set(sandbox.take_dirty_pages()) == {2}
    assert direct.call("write", _arg([(70000, 3)])).trap is None
    assert set(sandbox.take_dirty_pages()) == {0, 70000 // CHECKPOINT_PAGE}
    image = bytes(sandbox.checkpoint.image)
    assert direct.call("write_query", _arg([(90000, 3)]), query=True).trap is None
    assert _live(sandbox) == image


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, PAGES * 65536 - 1), st.integers(1, 9000)),
                max_size=12),
       st.integers(0, 2**32))
def test_whole_heap_comparison_finds_exactly_the_changed_pages(
    writes: list[tuple[int, int]], seed: int
) -> None:
    sandbox = FALLBACK
    memory = sandbox.memory
    assert memory is not None
    length = memory.data_len(sandbox.store)
    base = ctypes.addressof(memory.data_ptr(sandbox.store).contents)
    rng = random.Random(seed)
    for offset, size in writes:
        size = min(size, length - offset)
        ctypes.memmove(base + offset, rng.randbytes(size), size)
    expected = sorted(_pages_differing(_live(sandbox), bytes(sandbox.checkpoint.image)))
    assert sandbox.checkpoint.changed_pages() == expected
    sandbox._rollback_heap()
    assert sandbox.checkpoint.changed_pages() == []


FALLBACK = Direct(ATOMIC_WAT).sandbox


def test_counter_canister_is_instrumented() -> None:
    replica = Replica.open()
    canister = replica.create_canister(sender=OWNER)
    replica.install_code(canister, counter_wasm(), sender=OWNER)
    sandbox = replica.subnet.canister_state.sandboxes[canister.raw]
    assert isinstance(sandbox, Sandbox) and sandbox.checkpoint.bitmap is not None


def test_the_instruction_limit_applies_to_the_count_without_the_marking() -> None:
    direct = Direct(WRITER_WAT)
    arg = _arg([(4096 + 8 * n, n) for n in range(300)])
    first = direct.call("write", arg)
    fuel = direct.sandbox._fuel_limit - direct.sandbox.store.get_fuel()
    used = first.instructions + first.complexity  # what counts against the limit
    assert fuel > used + 300 * 8  # the marking burnt fuel that is not counted
    exact = direct.call("write", arg, limit=used)
    assert exact.trap is None and exact.instructions == first.instructions
    over = direct.call("write", arg, limit=used - 1)
    assert over.trap is not None
    assert over.trap.error_code is ErrorCode.CANISTER_INSTRUCTION_LIMIT_EXCEEDED
