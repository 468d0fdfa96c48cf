"""Canister input queues: the requests and responses waiting for each canister, durable.

How it works: each canister (and the management canister) has one FIFO of messages
addressed to it: requests from ingress or other canisters, and responses to the calls
it made. `enqueue` appends by destination; the round scheduler (`replica.subnet`) takes
the head of a queue when it gives the canister a turn (`pop`). Every queue touched
since the last commit is dirty, and `write_changes` puts it (or its deletion, once
empty) into the round's `RoundChanges` under the store namespace ``queue``, so a
restarted subnet resumes with the same queues (`load`).

The queues count, per receiver, the requests waiting from each sender
(`requests_from`): the IC caps what one canister may have waiting at another at
`INPUT_QUEUE_CAPACITY`, and the subnet refuses a request arriving from another subnet
beyond it (a ``SYS_TRANSIENT`` queue-full reject, sent back).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import cbor2

from icframework.replica.messages import Request, Response
from icframework.replica.store import RoundChanges, StateStore

__all__ = ["INPUT_QUEUE_CAPACITY", "InputQueues", "Message"]

Message = Request | Response
_KV_QUEUES = "queue"

INPUT_QUEUE_CAPACITY = 500
"""Requests one canister may have waiting in another's input queue (the IC's figure)."""


class InputQueues:
    """Every canister's input queue (see the module docstring)."""

    def __init__(self) -> None:
        self._queues: dict[bytes, deque[Message]] = {}
        self._dirty: set[bytes] = set()
        self._from: dict[tuple[bytes, bytes], int] = {}

    def load(self, store: StateStore) -> None:
        """Read the committed queues."""
        for key, value in store.kv_scan(_KV_QUEUES):
            self._queues[key] = deque(
                Request.from_data(d) if kind == "req" else Response.from_data(d)
                for kind, d in cbor2.loads(value)
            )
            for message in self._queues[key]:
                self._count(message, 1)

    def _count(self, message: Message, step: int) -> None:
        if isinstance(message, Request):
            pair = (message.receiver, message.sender)
            left = self._from.get(pair, 0) + step
            if left:
                self._from[pair] = left
            else:
                del self._from[pair]

    def requests_from(self, receiver: bytes, sender: bytes) -> int:
        """How many requests of ``sender`` wait in ``receiver``'s queue."""
        return self._from.get((receiver, sender), 0)

    def enqueue(self, message: Message) -> None:
        """Append a message to its destination's queue: a request's receiver, a
        response's calling canister."""
        if isinstance(message, Request):
            destination = message.receiver
        else:
            destination = message.origin.canister_id
        self._queues.setdefault(destination, deque()).append(message)
        self._dirty.add(destination)
        self._count(message, 1)

    def has_messages(self, canister_id: bytes) -> bool:
        return bool(self._queues.get(canister_id))

    def pop(self, canister_id: bytes) -> Message:
        """Take the head of the canister's queue (it must have one)."""
        message = self._queues[canister_id].popleft()
        self._dirty.add(canister_id)
        self._count(message, -1)
        return message

    def drop(self, canister_id: bytes) -> None:
        """Forget the canister's queue (the canister is deleted)."""
        for message in self._queues.pop(canister_id, ()):
            self._count(message, -1)
        self._dirty.add(canister_id)

    def waiting(self) -> Iterator[bytes]:
        """The canisters with at least one message waiting."""
        return (canister_id for canister_id, queue in self._queues.items() if queue)

    def any_waiting(self) -> bool:
        return any(self._queues.values())

    def forget_empty(self) -> None:
        """Drop empty queues from memory (their deletion is already dirty)."""
        for canister_id in [c for c, queue in self._queues.items() if not queue]:
            del self._queues[canister_id]

    def write_changes(self, changes: RoundChanges) -> None:
        """Put every queue touched since the last commit into ``changes``."""
        for canister_id in self._dirty:
            queue = self._queues.get(canister_id)
            if queue:
                changes.kv_puts[(_KV_QUEUES, canister_id)] = cbor2.dumps(
                    [["req" if isinstance(m, Request) else "resp", m.to_data()] for m in queue]
                )
            else:
                changes.kv_deletes.add((_KV_QUEUES, canister_id))
        self._dirty.clear()
