"""The sans-IO XNet streams: numbering, slicing, garbage collection, exactly-once
acceptance under duplicated, reordered and lost slices and crashes of either end."""

from __future__ import annotations

import contextlib
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.core import ErrorCode, RejectCode
from icframework.replica.messages import CallOrigin, OriginKind, RejectInfo, Request, Response
from icframework.replica.store import MemoryStateStore, RoundChanges
from icframework.replica.xnet import (
    Stream,
    StreamGapError,
    StreamSlice,
    XNetError,
    XNetMessage,
    XNetState,
    message_to_data,
)

ALICE = bytes.fromhex("80000000001000010101")
BOB = bytes.fromhex("80000000002000010101")


def request(number: int, cycles: int = 0) -> Request:
    origin = CallOrigin(OriginKind.CANISTER, canister_id=ALICE, callback_id=number)
    return Request(ALICE, BOB, "take", number.to_bytes(4, "big"), origin, cycles)


class End:
    """One subnet's XNet state over its own store, committed like a subnet's rounds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.store = MemoryStateStore()
        self.state = XNetState(name)
        self.inducted: list[XNetMessage] = []
        """What committed rounds inducted (the pending part dies with a crash)."""

    def commit(self) -> None:
        inducted = [message for _, message in self.state.take_accepted()]
        changes = RoundChanges(height=self.store.height() + 1, time_ns=0)
        self.state.write_changes(changes)
        self.store.commit_round(changes)
        self.inducted.extend(inducted)

    def crash(self) -> None:
        self.state = XNetState(self.name)
        self.state.load(self.store)


# -- streams --------------------------------------------------------------------------------


def test_stream_numbers_slices_and_collects() -> None:
    stream = Stream()
    assert [stream.push(request(n)) for n in range(5)] == [0, 1, 2, 3, 4]
    assert stream.slice(2) == (2, [request(2), request(3), request(4)])
    assert stream.slice(1, max_messages=2) == (1, [request(1), request(2)])
    assert stream.slice(0, upto=1) == (0, [request(0)])
    assert stream.gc(3) == 3
    assert (stream.begin, stream.end) == (3, 5)
    assert stream.slice(0) == (3, [request(3), request(4)])
    assert stream.gc(2) == 0
    assert stream.slice(9) == (5, [])
    assert stream.slice(4, upto=4) == (4, [])
    with pytest.raises(XNetError, match="signal 9 acknowledges messages up to index 9, but "
                                        "the stream ends at 5"):
        stream.gc(9)


def test_slice_by_bytes_keeps_at_least_one_message() -> None:
    stream = Stream()
    for n in range(4):
        stream.push(request(n))
    size = len(cbor2.dumps(message_to_data(request(0))))
    assert stream.slice(0, max_bytes=1) == (0, [request(0)])
    assert stream.slice(0, max_bytes=2 * size) == (0, [request(0), request(1)])


messages = st.one_of(
    st.builds(request, st.integers(0, 2**31), st.integers(0, 2**64)),
    st.builds(
        Response,
        st.builds(CallOrigin, st.just(OriginKind.CANISTER), st.just(b""), st.binary(max_size=10),
                  st.integers(0, 2**32)),
        st.one_of(st.none(), st.binary(max_size=50)),
        st.one_of(st.none(), st.builds(RejectInfo, st.sampled_from(list(RejectCode)),
                                       st.text(max_size=30),
                                       st.sampled_from([None, ErrorCode.CANISTER_NOT_FOUND]))),
        st.integers(0, 2**64),
        st.binary(max_size=10),
    ),
)


@given(st.lists(messages, max_size=5), st.integers(0, 2**40), st.integers(0, 2**40))
def test_slice_round_trips_through_cbor(items: list[XNetMessage], begin: int,
                                        signal: int) -> None:
    piece = StreamSlice("app1", "root", begin, tuple(items), signal)
    assert StreamSlice.from_data(cbor2.loads(cbor2.dumps(piece.to_data()))) == piece


def test_malformed_slice_is_refused_by_name() -> None:
    with pytest.raises(XNetError, match="malformed stream slice"):
        StreamSlice.from_data(["app1", "root", 0])
    with pytest.raises(XNetError, match="stream message of kind 'oops'"):
        StreamSlice.from_data(["app1", "root", 0, [["oops", []]], 0])


# -- the receiving side ---------------------------------------------------------------------


def test_accept_takes_new_indices_once_and_refuses_gaps() -> None:
    root, app = End("root"), End("app1")
    for n in range(6):
        root.state.push("app1", request(n))
    root.commit()
    (first,) = root.state.slices(max_messages=3)
    assert (first.source, first.destination, first.begin, first.signal) == ("root", "app1", 0, 0)
    assert app.state.accept(first) == [request(0), request(1), request(2)]
    assert app.state.accept(first) == []
    with pytest.raises(StreamGapError) as info:
        app.state.accept(root.state.slices({"app1": 4})[0])
    assert (info.value.expected, info.value.begin) == (3, 4)
    assert "resend the stream from index 3" in str(info.value)
    # An empty slice past the expected index carries only its signal.
    assert app.state.accept(StreamSlice("root", "app1", 9, (), 0)) == []
    # An overlapping slice contributes only what is new.
    assert app.state.accept(root.state.slices({"app1": 2})[0]) == [request(n) for n in (3, 4, 5)]
    # Nothing is signalled before the induction commits.
    assert app.state.signals() == {}
    app.commit()
    assert app.inducted == [request(n) for n in range(6)]
    (back,) = app.state.slices()
    assert (back.source, back.begin, back.messages, back.signal) == ("app1", 0, (), 6)
    assert root.state.accept(back) == []
    assert root.state.streams["app1"].begin == 6
    root.commit()
    root.crash()
    assert (root.state.streams["app1"].begin, root.state.streams["app1"].end) == (6, 6)


def test_slice_for_another_subnet_or_from_itself_is_refused() -> None:
    state = XNetState("root")
    with pytest.raises(XNetError, match="addressed to subnet 'app2', not to 'root'"):
        state.accept(StreamSlice("app1", "app2", 0, (), 0))
    with pytest.raises(XNetError, match="received a slice from itself"):
        state.accept(StreamSlice("root", "root", 0, (), 0))
    with pytest.raises(XNetError, match="acknowledges a stream this subnet never had"):
        state.accept(StreamSlice("app1", "root", 0, (), 3))
    with pytest.raises(XNetError, match="cannot stream a message to itself"):
        state.push("root", request(1))


def test_only_committed_messages_leave() -> None:
    root = End("root")
    root.state.push("app1", request(0))
    root.commit()
    root.state.push("app1", request(1))
    (piece,) = root.state.slices()
    assert piece.messages == (request(0),)
    root.crash()
    assert root.state.streams["app1"].end == 1


# -- exactly once, whatever the network and crashes do -----------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(1, 4)),
        st.tuples(st.just("send"), st.integers(0, 40), st.integers(1, 5), st.booleans()),
        st.tuples(st.just("deliver"), st.integers(0, 1000)),
        st.tuples(st.just("duplicate"), st.integers(0, 1000)),
        st.tuples(st.just("drop"), st.integers(0, 1000)),
        st.tuples(st.just("commit"), st.sampled_from(["root", "app1"])),
        st.tuples(st.just("signal"),),
        st.tuples(st.just("crash"), st.sampled_from(["root", "app1"])),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_every_message_is_inducted_exactly_once_in_order(ops: list[tuple[Any, ...]]) -> None:
    ends = {"root": End("root"), "app1": End("app1")}
    root, app = ends["root"], ends["app1"]
    pushed: list[XNetMessage] = []
    """Messages of committed rounds of root (a crash loses an uncommitted round's)."""
    staged: list[XNetMessage] = []
    numbers = iter(range(10**6))
    in_flight: list[StreamSlice] = []
    for op in ops:
        kind = op[0]
        if kind == "push":
            for _ in range(int(op[1])):
                message = request(next(numbers))
                staged.append(message)
                root.state.push("app1", message)
        elif kind == "send":
            start, count, whole = int(op[1]), int(op[2]), bool(op[3])
            in_flight.extend(root.state.slices(None if whole else {"app1": start},
                                               max_messages=count))
        elif kind in ("deliver", "duplicate", "drop") and in_flight:
            at = int(op[1]) % len(in_flight)
            piece = in_flight[at] if kind == "duplicate" else in_flight.pop(at)
            if kind != "drop":
                with contextlib.suppress(StreamGapError):
                    app.state.accept(piece)
        elif kind == "commit":
            ends[str(op[1])].commit()
            if op[1] == "root":
                pushed.extend(staged)
                staged.clear()
        elif kind == "signal":
            for piece in app.state.slices():
                root.state.accept(piece)
        elif kind == "crash":
            ends[str(op[1])].crash()
            if op[1] == "root":
                staged.clear()
    # The network heals: the committed stream is delivered in order until all is inducted.
    root.commit()
    pushed.extend(staged)
    for _ in range(len(pushed) + 2):
        for piece in root.state.slices(max_messages=3):
            app.state.accept(piece)
        app.commit()
        for piece in app.state.slices():
            root.state.accept(piece)
        root.commit()
    assert root.inducted == []  # nothing flows towards root
    assert app.inducted == pushed
    stream = root.state.streams.get("app1", Stream())
    assert stream.begin == stream.end == len(pushed)
