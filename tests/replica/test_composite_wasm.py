"""Composite queries of wasm (Motoko) canisters that call other canisters, on our replica.

A composite query's executions of one canister (the query, its reply and reject
callbacks) share heap, globals and stable memory, and nothing of them persists
(`icframework.replica.execution.sandbox.Sandbox.query_graph`). The two Motoko canisters
are compiled here from the sources below by the ``motoko`` npm package, cached under
``.build/motoko`` like the corpus canisters.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from icframework.candid import NAT, NAT64, PRINCIPAL, TEXT, CandidType
from icframework.candid.binary import decode, encode
from icframework.core import ErrorCode, Principal
from icframework.core.ic0 import Context
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError, ReplicaError
from icframework.replica.execution.sandbox import ExecutionResult, Sandbox
from tests.node import requires_node
from tests.replica.corpus import CACHE_DIR, cache_key, run_motoko_build

pytestmark = requires_node

CONTROLLER = Principal.self_authenticating(b"composite wasm test controller")

STORE = """
import Prim "mo:⛔";

persistent actor Store {
  var value : Nat = 5;

  public func set(v : Nat) : async () { value := v };

  public query func get() : async Nat { value };

  public query func refuse() : async Nat { Prim.trap("store: refused") };
};
"""

FRONT = """
import Prim "mo:⛔";

persistent actor Front {
  type Store = actor {
    get : query () -> async Nat;
    refuse : query () -> async Nat;
  };

  var base : Nat = 100;
  var marker : Nat = 0;
  let region : Region = Prim.regionNew();

  func store(p : Principal) : Store { Prim.actorOfPrincipal<Store>(p) };

  public func set_base(v : Nat) : async () { base := v };

  public query func state() : async (Nat, Nat, Nat64) { (base, marker, Prim.regionSize(region)) };

  /// What `catch_refusal` calls when given this canister: a loop, so it never runs.
  public query func refuse() : async Nat { Prim.trap("front: refused") };

  /// Our base plus the store's value.
  public composite query func combined(p : Principal) : async Nat {
    base + (await store(p).get());
  };

  /// What the callback sees of the two variables set before the await.
  public composite query func marked(p : Principal, m : Nat) : async (Nat, Nat) {
    marker := m;
    base += 1;
    let theirs = await store(p).get();
    (marker, base + theirs);
  };

  /// Changes state, calls, then traps in the reply callback.
  public composite query func trap_after(p : Principal) : async Nat {
    marker := 7;
    let theirs = await store(p).get();
    Prim.trap("front: trapped after " # debug_show theirs);
  };

  /// Allocates `n` words before the call (the heap grows), reads them after it.
  public composite query func grow_then_call(p : Principal, n : Nat) : async Nat {
    let big = Prim.Array_init<Nat>(n, 3);
    marker := n;
    let theirs = await store(p).get();
    big[n - 1] + theirs + marker;
  };

  /// Writes stable memory before the call and reads it back after it.
  public composite query func stable_then_call(p : Principal, v : Nat64) : async Nat64 {
    if (Prim.regionGrow(region, 1) == 0xFFFF_FFFF_FFFF_FFFF) Prim.trap("front: no stable memory");
    Prim.regionStoreNat64(region, 8, v);
    let theirs = await store(p).get();
    Prim.regionLoadNat64(region, 8) + Prim.natToNat64(theirs);
  };

  /// The store's trap comes back as a reject, caught in the reject callback.
  public composite query func catch_refusal(p : Principal) : async Text {
    marker := 9;
    try {
      ignore await store(p).refuse();
      "no reject";
    } catch (e) {
      debug_show marker # " " # Prim.errorMessage(e);
    };
  };

  /// Two calls one after the other; each callback sees the marker the one before left.
  public composite query func twice(p : Principal) : async Nat {
    marker := 1;
    let a = await store(p).get();
    marker += 10;
    let b = await store(p).get();
    a + b + marker;
  };
};
"""


@functools.cache
def motoko(source: str) -> bytes:
    """``source`` compiled by moc (cached in ``.build/motoko`` under its key)."""
    path = CACHE_DIR / f"{cache_key(source)}.wasm"
    if path.is_file():
        return path.read_bytes()
    answer = run_motoko_build({"/main.mo": source}, "/main.mo", name="composite test")
    wasm = bytes.fromhex(answer["wasm_hex"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{threading.get_ident()}.tmp")
    partial.write_bytes(wasm)
    partial.replace(path)
    return wasm


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Replica, Principal, Principal]]:
    """A replica with the store and the front canister."""
    replica = Replica.open()
    canisters = []
    for source in (STORE, FRONT):
        canister = replica.create_canister(sender=CONTROLLER)
        replica.install_code(canister, motoko(source), sender=CONTROLLER)
        canisters.append(canister)
    yield replica, canisters[0], canisters[1]
    replica.close()


def query(replica: Replica, canister: Principal, method: str, types: list[CandidType],
          values: list[Any], results: list[CandidType]) -> Any:
    decoded = decode(replica.query(canister, method, encode(types, values)), results)
    return decoded[0] if len(decoded) == 1 else decoded


def state(replica: Replica, front: Principal) -> tuple[int, int, int]:
    """The front's committed ``(base, marker, region pages)``."""
    return tuple(query(replica, front, "state", [], [], [NAT, NAT, NAT64]))  # type: ignore[return-value]


def sandbox_of(replica: Replica, canister: Principal) -> Sandbox:
    sandbox = replica.subnet.canister_state.sandboxes[canister.raw]
    assert isinstance(sandbox, Sandbox)
    return sandbox


def test_a_composite_query_combines_a_query_of_another_canister(
    world: tuple[Replica, Principal, Principal]
) -> None:
    replica, store, front = world
    assert query(replica, front, "combined", [PRINCIPAL], [store], [NAT]) == 105
    replica.update(store, "set", encode([NAT], [20]))
    replica.update(front, "set_base", encode([NAT], [200]))
    try:
        assert query(replica, front, "combined", [PRINCIPAL], [store], [NAT]) == 220
    finally:
        replica.update(store, "set", encode([NAT], [5]))
        replica.update(front, "set_base", encode([NAT], [100]))
    assert state(replica, front) == (100, 0, 0)


def test_state_set_before_the_await_is_seen_after_it_and_not_kept(
    world: tuple[Replica, Principal, Principal]
) -> None:
    replica, store, front = world
    before = bytes(sandbox_of(replica, front).checkpoint.image)
    assert query(replica, front, "marked", [PRINCIPAL, NAT], [store, 42], [NAT, NAT]) == (42, 106)
    assert state(replica, front) == (100, 0, 0)
    assert query(replica, front, "marked", [PRINCIPAL, NAT], [store, 43], [NAT, NAT]) == (43, 106)
    assert bytes(sandbox_of(replica, front).checkpoint.image) == before


def test_two_calls_in_a_row_each_callback_sees_the_one_before(
    world: tuple[Replica, Principal, Principal]
) -> None:
    replica, store, front = world
    assert query(replica, front, "twice", [PRINCIPAL], [store], [NAT]) == 5 + 5 + 11
    assert state(replica, front) == (100, 0, 0)


def test_a_trap_in_the_callback_rejects_the_query_and_leaves_no_trace(
    world: tuple[Replica, Principal, Principal]
) -> None:
    replica, store, front = world
    with pytest.raises(CanisterError) as info:
        replica.query(front, "trap_after", encode([PRINCIPAL], [store]))
    assert info.value.error_code is ErrorCode.CANISTER_CALLED_TRAP
    assert "front: trapped after 5" in info.value.message
    assert front.to_text() in info.value.message
    assert state(replica, front) == (100, 0, 0)
    assert query(replica, front, "combined", [PRINCIPAL], [store], [NAT]) == 105


def test_a_reject_of_the_callee_reaches_the_reject_callback(
    world: tuple[Replica, Principal, Principal]
) -> None:
    replica, store, front = world
    answer = query(replica, front, "catch_refusal", [PRINCIPAL], [store], [TEXT])
    assert answer.startswith("9 ") and "store: refused" in answer
    assert state(replica, front) == (100, 0, 0)


def test_a_call_back_into_the_caller_is_a_loop_rejected_to_its_callback(
    world: tuple[Replica, Principal, Principal]
) -> None:
    replica, _, front = world
    answer = query(replica, front, "catch_refusal", [PRINCIPAL], [front], [TEXT])
    assert answer.startswith("9 ") and "Loop detected" in answer
    assert state(replica, front) == (100, 0, 0)


def test_a_graph_out_of_budget_leaves_no_trace(
    world: tuple[Replica, Principal, Principal]
) -> None:
    replica, store, front = world
    arg = encode([PRINCIPAL, NAT], [store, 42])
    full = replica.run_query(front, "marked", arg)
    assert full.reply is not None and not full.out_of_budget
    short = replica.run_query(front, "marked", arg, instruction_limit=full.instructions - 1)
    assert short.out_of_budget and short.reply is None
    assert state(replica, front) == (100, 0, 0)
    assert replica.run_query(front, "marked", arg).reply == full.reply


def test_heap_grown_before_the_call_is_there_after_it_and_then_gone(
    world: tuple[Replica, Principal, Principal]
) -> None:
    replica, store, front = world
    sandbox = sandbox_of(replica, front)
    size = sandbox.heap_size
    words = 4_000_000  # 16 MB or more of heap: more than the committed memory has free
    assert query(replica, front, "grow_then_call", [PRINCIPAL, NAT], [store, words],
                 [NAT]) == 3 + 5 + words
    assert sandbox.heap_size == size
    assert sandbox.memory is not None and sandbox.memory.data_len(sandbox.store) == size
    assert state(replica, front) == (100, 0, 0)


def test_stable_memory_written_before_the_call_is_read_after_it_and_then_gone(
    world: tuple[Replica, Principal, Principal]
) -> None:
    replica, store, front = world
    sandbox = sandbox_of(replica, front)
    stable_size = sandbox.stable.size_bytes
    assert query(replica, front, "stable_then_call", [PRINCIPAL, NAT64], [store, 1234],
                 [NAT64]) == 1239
    assert sandbox.stable.size_bytes == stable_size
    assert not sandbox.stable.in_transaction
    assert state(replica, front) == (100, 0, 0)


def execute_query(replica: Replica, front: Principal, method: str,
                  context: Context = Context.QUERY, arg: bytes = b"DIDL\x00\x00", *,
                  persist: bool = False) -> ExecutionResult:
    """Run an export of the front's sandbox directly, as the query runner would."""
    canisters = replica.subnet.canister_state
    inp = canisters.execution_input(canisters.states[front.raw], context, CONTROLLER.raw, arg=arg)
    return sandbox_of(replica, front).execute(
        method, inp, replica.subnet.config.query_instruction_limit, persist=persist)


def reply(result: ExecutionResult) -> tuple[int, int, int]:
    assert result.output is not None and result.output.response is not None
    data = getattr(result.output.response, "data", None)
    assert isinstance(data, bytes), result.output.response
    return tuple(decode(data, [NAT, NAT, NAT64]))  # type: ignore[return-value]


def test_executions_of_a_query_graph_share_state_that_another_thread_never_sees(
    world: tuple[Replica, Principal, Principal]
) -> None:
    replica, _, front = world
    sandbox = sandbox_of(replica, front)
    seen: list[tuple[int, int, int]] = []
    started = threading.Event()

    def other_query() -> None:
        started.set()
        seen.append(reply(execute_query(replica, front, "canister_query state")))

    other = threading.Thread(target=other_query)
    with sandbox.query_graph():
        changed = execute_query(replica, front, "canister_update set_base", Context.UPDATE,
                                encode([NAT], [7]))
        assert changed.trap is None
        other.start()
        started.wait()
        # Motoko's runtime expects a query's heap to be discarded: one query per graph.
        assert reply(execute_query(replica, front, "canister_query state"))[0] == 7
    other.join()
    assert seen == [(100, 0, 0)]
    assert state(replica, front) == (100, 0, 0)


def test_nothing_persists_inside_a_query_graph(world: tuple[Replica, Principal, Principal]) -> None:
    replica, _, front = world
    sandbox = sandbox_of(replica, front)
    with pytest.raises(ReplicaError) as info, sandbox.query_graph():
        execute_query(replica, front, "canister_update set_base", Context.UPDATE,
                      encode([NAT], [8]), persist=True)
    assert "persist=True) inside a query graph: nothing of a query may persist" in str(info.value)
    assert not sandbox.stable.in_transaction
    assert state(replica, front) == (100, 0, 0)
