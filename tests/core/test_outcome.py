"""The canister ABI's message outcome blob: round trips, the short forms, malformed blobs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icframework.core.outcome import (
    NO_OUTCOME,
    REPLY,
    MessageOutcome,
    OutcomeError,
    decode_outcome,
    delete_record,
    encode_outcome,
    put_record,
)

writes = st.lists(st.tuples(st.binary(max_size=40), st.none() | st.binary(max_size=80)), max_size=8)
events = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=4)


@given(st.none() | st.binary(max_size=200), writes, events)
def test_round_trip(reply: bytes | None, ws: list, evs: list) -> None:
    blob = encode_outcome(reply, ws, evs)
    assert decode_outcome(blob) == MessageOutcome(reply, ws, evs)


def test_short_forms() -> None:
    assert encode_outcome(None) == NO_OUTCOME == b""
    assert decode_outcome(b"") == MessageOutcome(None, [], [])
    assert encode_outcome(b"DIDL\x00\x00") == REPLY + b"DIDL\x00\x00" == b"\x01DIDL\x00\x00"
    assert encode_outcome(b"") == b"\x01"
    assert decode_outcome(b"\x01") == MessageOutcome(b"", [], [])
    assert encode_outcome(None, [(b"k", None)]) == b"\x03\x01\x00\x00\x00k" == delete_record(b"k")
    assert encode_outcome(b"r", [(b"k", b"v")], [("t", b"e")]) == (
        b"\x02\x01\x00\x00\x00k\x01\x00\x00\x00v"
        b"\x04\x01\x00\x00\x00t\x01\x00\x00\x00e"
        b"\x01r"
    )
    # The guest's fast path: effect records, then the reply record as it stands.
    assert put_record(b"k", b"v") + REPLY + b"r" == encode_outcome(b"r", [(b"k", b"v")])


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x07", "unknown record tag 0x07 at offset 0: expected 0x01 (reply)"),
        (b"\x02\x05\x00", "truncated key length at offset 1"),
        (b"\x02\x05\x00\x00\x00ab", "truncated key at offset 5: 5 byte(s) announced, 2 left"),
        (b"\x03\x00\x00\x00\x00\x09", "unknown record tag 0x09 at offset 5"),
        (b"\x02\x01\x00\x00\x00k", "truncated value length at offset 6"),
        (
            b"\x04\x01\x00\x00\x00\xff\x00\x00\x00\x00",
            "event topic before offset 10 is not UTF-8",
        ),
    ],
)
def test_malformed_blobs_name_the_offset(blob: bytes, message: str) -> None:
    with pytest.raises(OutcomeError) as caught:
        decode_outcome(blob)
    assert str(caught.value).startswith(message)
