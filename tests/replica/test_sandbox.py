"""Sandbox checkpoints: dirty-page detection finds exactly the pages that changed."""

from __future__ import annotations

import ctypes
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.execution.sandbox import CHECKPOINT_PAGE, Sandbox
from tests.replica.wat_counter import counter_wasm

OWNER = Principal.self_authenticating(b"sandbox test")


def _sandbox() -> Sandbox:
    replica = Replica.open()
    canister = replica.create_canister(sender=OWNER)
    replica.install_code(canister, counter_wasm(), sender=OWNER)
    sandbox = replica.subnet.sandboxes[canister.raw]
    assert sandbox.memory is not None
    sandbox.memory.grow(sandbox.store, 40)  # 41 pages of 64 KiB: more than two 1 MiB chunks
    sandbox._commit_heap()
    return sandbox


SANDBOX = _sandbox()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 41 * 65536 - 1), st.integers(1, 9000)), max_size=12),
       st.integers(0, 2**32))
def test_changed_pages_are_exactly_the_written_pages(
    writes: list[tuple[int, int]], seed: int
) -> None:
    sandbox = SANDBOX
    memory = sandbox.memory
    assert memory is not None
    length = memory.data_len(sandbox.store)
    base = ctypes.addressof(memory.data_ptr(sandbox.store).contents)
    rng = random.Random(seed)
    for offset, size in writes:
        size = min(size, length - offset)
        ctypes.memmove(base + offset, rng.randbytes(size), size)
    live = ctypes.string_at(base, length)
    expected = [
        page for page in range(length // CHECKPOINT_PAGE)
        if live[page * CHECKPOINT_PAGE:(page + 1) * CHECKPOINT_PAGE]
        != bytes(sandbox.image[page * CHECKPOINT_PAGE:(page + 1) * CHECKPOINT_PAGE])
    ]
    assert sandbox._changed_pages() == expected
    sandbox._rollback_heap()
    assert sandbox._changed_pages() == []
