"""A heavy query cannot hold up the server: it leaves the event loop after a small budget.

The attack: anyone may send queries, which cost them nothing, and a query may run up to
the query instruction limit (seconds of wasm). Run on the server's event loop, one such
query would stall every other request and WebSocket of the process. The HTTP interface
tries each query on the loop within `INLINE_QUERY_INSTRUCTIONS` and runs one that needs
more again in a worker thread under the full limit; `/api/v2/status` does not wait for
the replica at all. These tests pin the order of events, not times.
"""

from __future__ import annotations

import asyncio

import cbor2
import pytest
import wasmtime

from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import sign_envelope
from icframework.replica.http.asgi import INLINE_QUERY_INSTRUCTIONS
from icframework.replica.service import ReplicaService
from tests.replica.http.conftest import ApiClient, query_content

# `spin` loops ARG times (an i32 in the first 4 argument bytes, little-endian) and
# replies with the 4 bytes of the count; `quick` replies at once.
SPIN_WAT = r"""
(module
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory 1)
  (func (export "canister_query spin") (local $n i32) (local $i i32)
    (call $arg_copy (i32.const 0) (i32.const 0) (i32.const 4))
    (local.set $n (i32.load (i32.const 0)))
    (block $done
      (loop $again
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))
    (i32.store (i32.const 8) (local.get $i))
    (call $append (i32.const 8) (i32.const 4))
    (call $reply))
  (func (export "canister_query quick")
    (call $append (i32.const 0) (i32.const 0))
    (call $reply)))
"""
HEAVY_LOOPS = 150_000_000  # several hundred million instructions: far past the budget


@pytest.fixture
def spinner(service: ReplicaService, owner: Ed25519Identity) -> Principal:
    wasm = bytes(wasmtime.wat2wasm(SPIN_WAT))
    created: Principal = service.run(lambda r: r.create_canister(sender=owner.principal))
    service.run(lambda r: r.install_code(created, wasm, sender=owner.principal))
    return created


def _query_body(owner: Ed25519Identity, canister: Principal, method: str, arg: bytes) -> bytes:
    return sign_envelope(query_content(owner, canister, method, arg), owner).to_cbor()


def _reply(body: bytes) -> bytes:
    answer = cbor2.loads(body)
    assert answer["status"] == "replied", answer
    return bytes(answer["reply"]["arg"])


def test_a_query_past_the_inline_budget_still_gets_its_reply(
    service: ReplicaService, spinner: Principal, owner: Ed25519Identity, client: ApiClient
) -> None:
    """The budget decides where a query runs, never its outcome: a query over the budget
    (but within the query limit) replies as if there were no budget."""
    loops = INLINE_QUERY_INSTRUCTIONS  # several instructions per loop: past the budget
    answer = client.post(
        f"/api/v2/canister/{spinner.to_text()}/query",
        _query_body(owner, spinner, "spin", loops.to_bytes(4, "little")),
        content_type="application/cbor",
    )
    assert answer.status_code == 200
    assert int.from_bytes(_reply(answer.content), "little") == loops


def test_status_answers_while_a_heavy_query_runs(
    service: ReplicaService, spinner: Principal, owner: Ed25519Identity, client: ApiClient
) -> None:
    url = f"/api/v2/canister/{spinner.to_text()}/query"
    heavy_body = _query_body(owner, spinner, "spin", HEAVY_LOOPS.to_bytes(4, "little"))

    async def scenario() -> tuple[list[int], bool, bytes]:
        heavy = asyncio.create_task(
            client.arequest("POST", url, heavy_body, content_type="application/cbor"))
        await asyncio.sleep(0)  # let it start: its budgeted try runs on this loop
        statuses = []
        for _ in range(5):
            statuses.append((await client.arequest("GET", "/api/v2/status")).status_code)
        heavy_done_meanwhile = heavy.done()
        answer = await heavy
        return statuses, heavy_done_meanwhile, answer.content

    statuses, heavy_done_meanwhile, heavy_answer = asyncio.run(scenario())
    assert statuses == [200] * 5
    assert not heavy_done_meanwhile, "status waited for the heavy query"
    assert int.from_bytes(_reply(heavy_answer), "little") == HEAVY_LOOPS


def test_the_budget_is_not_counted_as_a_trap(
    service: ReplicaService, spinner: Principal
) -> None:
    """A query that ran out of the inline budget is retried, not recorded as trapping."""
    arg = (INLINE_QUERY_INSTRUCTIONS).to_bytes(4, "little")

    def run(replica: object) -> tuple[bool, bool, int]:
        from icframework.replica.embedded import Replica

        assert isinstance(replica, Replica)
        limited = replica.run_query(spinner, "spin", arg,
                                    instruction_limit=INLINE_QUERY_INSTRUCTIONS)
        traps = len(replica.metrics()["traps"])
        full = replica.run_query(spinner, "spin", arg)
        return limited.out_of_budget, full.out_of_budget, traps

    limited_out, full_out, traps = service.run(run)
    assert limited_out and not full_out
    assert traps == 0
