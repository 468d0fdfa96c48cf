"""Canister events on the subnet: published by committed messages only, in order."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from icframework.candid import TEXT, decode, encode
from icframework.candid.types import NAT
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.replica.subnet import CanisterEvent
from icframework.sdk import candid_type_of, load_canister, service_did
from tests.channels.publisher_canister import Note
from tests.compiler.runtime_support import CACHE_DIR, runtime

__all__ = ["install_publisher", "runtime"]

CONTROLLER = Principal.self_authenticating(b"events test controller")
SOURCE = Path(__file__).parents[1] / "channels" / "publisher_canister.py"


@pytest.fixture(autouse=True)
def python_runtime(runtime: object) -> Iterator[None]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None)
    )
    yield
    set_runtime_loader(previous)


def install_publisher(replica: Replica) -> Principal:
    did = service_did(load_canister("tests.channels.publisher_canister"))
    module = pack_python_module({"publisher.py": SOURCE.read_text()}, "publisher.py", did=did)
    canister = replica.create_canister(sender=CONTROLLER)
    replica.install_code(canister, module, sender=CONTROLLER)
    return canister


def test_committed_messages_publish_in_order() -> None:
    seen: list[CanisterEvent] = []

    def listener(events: Sequence[CanisterEvent]) -> None:
        seen.extend(events)

    with Replica.open() as replica:
        replica.subnet.event_listeners.append(listener)
        canister = install_publisher(replica)
        replica.update(canister, "post", encode((TEXT, TEXT), ("a", "hello")), sender=CONTROLLER)
        replica.update(canister, "post_many", encode((TEXT, NAT), ("b", 3)))
        for method in ("post_then_trap", "post_then_reject"):
            with pytest.raises(CanisterError):
                replica.update(canister, method, encode((TEXT,), ("c",)))
        replica.query(canister, "post_in_query", encode((TEXT,), ("c",)))
        replica.subnet.execute_round()

    assert [e.topic for e in seen] == ["room:a", "room:b", "room:b", "room:b"]
    assert {e.canister_id for e in seen} == {canister.raw}
    (note,) = decode(seen[0].value, (candid_type_of(Note),))
    assert note == {"author": CONTROLLER, "text": "hello", "number": 1}
    assert [decode(e.value, (TEXT,))[0] for e in seen[1:]] == [
        "message 0", "message 1", "message 2"
    ]
    heights = [(e.height, e.index) for e in seen]
    assert heights == sorted(heights)


def test_a_failing_listener_does_not_stop_the_round(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def broken(events: Sequence[CanisterEvent]) -> None:
        raise RuntimeError("listener bug")

    with Replica.open() as replica:
        replica.subnet.event_listeners.extend([broken, lambda es: seen.extend(e.topic for e in es)])
        canister = install_publisher(replica)
        replica.update(canister, "post", encode((TEXT, TEXT), ("a", "x")))
        replica.reload()  # listeners survive a reload of the committed state
        replica.update(canister, "post", encode((TEXT, TEXT), ("a", "y")))
    assert seen == ["room:a", "room:a"]
    assert "listener bug" in caplog.text
