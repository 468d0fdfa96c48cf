"""The canister ABI's message outcome blob: round trips, the short forms, malformed blobs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icframework.core.outcome import (
    NO_OUTCOME,
    MessageOutcome,
    OutcomeError,
    decode_outcome,
    encode_outcome,
)

writes = st.lists(st.tuples(st.binary(max_size=40), st.none() | st.binary(max_size=80)), max_size=8)
events = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=4)


@given(st.none() | st.binary(max_size=200), writes, events)
def test_round_trip(reply: bytes | None, ws: list, evs: list) -> None:
    blob = encode_outcome(reply, ws, evs)
    assert decode_outcome(blob) == MessageOutcome(reply, ws, evs)


def test_short_forms() -> None:
    assert encode_outcome(None) == NO_OUTCOME == b"\x00"
    assert encode_outcome(b"DIDL\x00\x00") == b"\x01DIDL\x00\x00"
    assert encode_outcome(b"") == b"\x01"
    assert decode_outcome(b"\x01") == MessageOutcome(b"", [], [])
    assert encode_outcome(None, [(b"k", None)]) == b"\x02\x02\x01\x00\x00\x00k"
    assert encode_outcome(b"r", [(b"k", b"v")], [("t", b"e")]) == (
        b"\x03\x01\x00\x00\x00r"
        b"\x01\x01\x00\x00\x00k\x01\x00\x00\x00v"
        b"\x03\x01\x00\x00\x00t\x01\x00\x00\x00e"
    )


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "empty outcome: expected a flags byte at offset 0"),
        (b"\x00x", "1 byte(s) after flags 0x00 at offset 1"),
        (b"\x07", "unknown flags 0x07 at offset 0: expected 0x00 to 0x03"),
        (b"\x03\x05\x00", "truncated reply length at offset 1"),
        (b"\x03\x05\x00\x00\x00ab", "truncated reply at offset 5: 5 byte(s) announced, 2 left"),
        (b"\x02\x09", "unknown effect tag 0x09 at offset 1: expected 0x01 (put)"),
        (b"\x02\x01\x01\x00\x00\x00k", "truncated value length at offset 7"),
        (
            b"\x02\x03\x01\x00\x00\x00\xff\x00\x00\x00\x00",
            "event topic before offset 11 is not UTF-8",
        ),
    ],
)
def test_malformed_blobs_name_the_offset(blob: bytes, message: str) -> None:
    with pytest.raises(OutcomeError) as caught:
        decode_outcome(blob)
    assert str(caught.value).startswith(message)
