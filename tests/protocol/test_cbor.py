"""The strict CBOR reader: tags, indefinite lengths, depth and item limits refused before decoding.

Each attack of issue 14 item 3 is rebuilt here byte for byte and must be refused with a
message naming the tag or limit; cbor2 alone would honour it (minutes of CPU for a
fraction of two 1 MB integers, 127,000 labels from a 53 KB body of shared references).
"""

from __future__ import annotations

import random
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import MalformedRequestError, ReadStateContent, parse_envelope
from icframework.protocol._cbor import DEFAULT_LIMITS, CborLimits, loads_strict, scan
from icframework.protocol.envelope import (
    MAX_PATH_LABELS,
    MAX_PATHS,
    MAX_REQUEST_DEPTH,
    MAX_REQUEST_ITEMS,
    REQUEST_CBOR_LIMITS,
    sign_envelope,
)

NOW = 1_700_000_000 * 10**9
ED = Ed25519Identity.from_seed(bytes(range(32)))
ANONYMOUS = Principal.anonymous()
TAG_RULE = (
    "only the self-describe tag 55799, in front of the whole value, is allowed "
    "(IC interface spec, CBOR encoding of requests and responses)"
)


def tagged(value: object) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(55799, value))


def call_content(**overrides: object) -> dict[str, object]:
    content: dict[str, object] = {
        "request_type": "call",
        "canister_id": Principal.from_canister_index(1).raw,
        "method_name": "greet",
        "arg": b"DIDL\x00\x00",
        "sender": ANONYMOUS.raw,
        "ingress_expiry": NOW,
    }
    content.update(overrides)
    return content


def refused(body: bytes) -> str:
    with pytest.raises(MalformedRequestError) as caught:
        parse_envelope(body)
    return str(caught.value)


# -- the attacks -------------------------------------------------------------------------------


def test_fraction_of_two_megabyte_integers_is_refused_at_the_tag() -> None:
    numerator = cbor2.CBORTag(2, random.Random(1).randbytes(1_000_000))
    denominator = cbor2.CBORTag(2, random.Random(2).randbytes(999_999))
    fraction = cbor2.CBORTag(30, [numerator, denominator])
    body = tagged({"content": call_content(ingress_expiry=fraction)})
    assert len(body) > 1_999_000
    expected = f"request body uses CBOR tag 30 (rational number) at byte 107; {TAG_RULE}"
    assert refused(body) == expected


def test_shared_references_cannot_multiply_read_state_labels() -> None:
    # 53 KB that cbor2 expands into 1000 paths of 127 labels of 50 KB each.
    label = cbor2.CBORTag(28, b"x" * 50_000)
    first_path = cbor2.CBORTag(28, [label, *[cbor2.CBORTag(29, 1)] * 126])
    paths = [first_path, *[cbor2.CBORTag(29, 0)] * 999]
    content = {"request_type": "read_state", "sender": ANONYMOUS.raw, "ingress_expiry": NOW,
               "paths": paths}
    body = tagged({"content": content})
    assert len(body) < 54_000
    message = refused(body)
    assert message.startswith("request body uses CBOR tag 28 (shareable value) at byte ")
    assert message.endswith(TAG_RULE)


def test_regular_expression_tag_is_refused() -> None:
    body = tagged({"content": call_content(method_name=cbor2.CBORTag(35, "(a+)+$" * 1000))})
    assert "CBOR tag 35 (regular expression)" in refused(body)


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (cbor2.CBORTag(2, b"\x01" * 2000), "tag 2 (unsigned bignum)"),
        (cbor2.CBORTag(3, b"\x01" * 2000), "tag 3 (negative bignum)"),
        (cbor2.CBORTag(4, [-2, 27315]), "tag 4 (decimal fraction)"),
        (cbor2.CBORTag(1, 1_700_000_000), "tag 1 (epoch date/time)"),
        (cbor2.CBORTag(24, cbor2.dumps(5)), "tag 24 (embedded CBOR)"),
        (cbor2.CBORTag(258, [1, 2]), "tag 258 (set)"),
        (cbor2.CBORTag(55799, 5), "tag 55799 (self-describe)"),
        (cbor2.CBORTag(12345, 5), "tag 12345"),
    ],
)
def test_every_other_tag_is_refused_by_name(value: object, name: str) -> None:
    message = refused(tagged({"content": call_content(ingress_expiry=value)}))
    assert message == f"request body uses CBOR {name} at byte 107; {TAG_RULE}"


def test_a_nat_beyond_64_bits_is_refused() -> None:
    body = tagged({"content": call_content(ingress_expiry=2**64)})
    assert refused(body).startswith("request body uses CBOR tag 2 (unsigned bignum)")
    top = tagged({"content": call_content(ingress_expiry=2**64 - 1)})
    assert parse_envelope(top).content.ingress_expiry == 2**64 - 1


def test_indefinite_lengths_are_refused() -> None:
    body = b"\xd9\xd9\xf7\xbf\x67content\xa0\xff"
    assert refused(body) == (
        "request body uses an indefinite-length item at byte 3; the IC's CBOR encodes "
        "every string, array and map with its length"
    )


def test_deep_nesting_is_refused() -> None:
    body = tagged({"content": call_content(arg=[[[[[[[[b""]]]]]]]])})
    assert refused(body) == (
        f"request body nests arrays and maps deeper than {MAX_REQUEST_DEPTH} levels "
        "(byte 82); that is the limit"
    )


def test_too_many_items_are_refused_before_decoding() -> None:
    body = tagged({"content": call_content(arg=[0] * 2_000_000)})
    assert refused(body) == (
        f"request body has more than {MAX_REQUEST_ITEMS} CBOR data items; that is the limit"
    )


def test_duplicate_and_non_text_keys_are_refused() -> None:
    content = cbor2.dumps(call_content())
    duplicate = b"\xd9\xd9\xf7\xa2\x67content" + content + b"\x67content" + content
    assert refused(duplicate) == (
        f"request body repeats the map key 'content' at byte {12 + len(content)}; "
        "duplicate keys are not allowed"
    )
    assert refused(tagged({1: 2})) == (
        "request body has a map key that is not text at byte 4; the IC's records have text keys"
    )


def test_floats_and_odd_simple_values_are_refused() -> None:
    message = refused(tagged({"content": call_content(ingress_expiry=1.7e18)}))
    assert message == (
        "request body has a CBOR floating-point number at byte 107; the IC's CBOR uses "
        "integers, strings, arrays, maps, false, true and null only"
    )
    assert "CBOR simple value at byte 107" in refused(
        tagged({"content": call_content(ingress_expiry=cbor2.undefined)})
    )


def test_lengths_past_the_end_are_refused_without_allocating() -> None:
    assert refused(b"\xd9\xd9\xf7\x5b" + (2**63).to_bytes(8, "big")) == (
        "request body is not valid CBOR: a 9223372036854775808-byte string at byte 3 runs "
        "past the end (0 bytes left)"
    )
    assert refused(b"\x9b" + (2**40).to_bytes(8, "big")) == (
        "request body is not valid CBOR: the 1099511627776-entry array at byte 0 cannot fit "
        "in the 0 bytes left"
    )


def test_the_largest_read_state_the_ic_accepts_still_parses() -> None:
    paths = tuple((b"x" * 4,) * MAX_PATH_LABELS for _ in range(MAX_PATHS))
    content = ReadStateContent(ED.principal, NOW, paths, nonce=b"n" * 32)
    envelope = sign_envelope(content, ED)
    parsed = parse_envelope(envelope.to_cbor())
    assert parsed.content == content
    assert parsed.request_id == envelope.request_id


def test_certificates_and_trees_get_the_tag_rule_too() -> None:
    with pytest.raises(ValueError, match=r"certificate uses CBOR tag 29 \(shared reference\)"):
        loads_strict(tagged([cbor2.CBORTag(29, 0)]), "certificate", ValueError)
    deep = b"\x81" * (DEFAULT_LIMITS.max_depth + 1) + b"\x00"
    with pytest.raises(ValueError, match="hash tree nests arrays and maps deeper than 200"):
        loads_strict(deep, "hash tree", ValueError)


# -- Hypothesis: the scan accepts exactly the IC's data model ---------------------------------

def test_null_passes_the_request_scan_and_decodes_as_none() -> None:
    # ic-py's anonymous request: untagged, with null authentication fields.
    envelope = {"content": call_content(), "sender_pubkey": None, "sender_sig": None}
    for body in (cbor2.dumps(envelope), tagged(envelope)):
        scan(body, "request body", MalformedRequestError, REQUEST_CBOR_LIMITS)
        decoded = loads_strict(body, "request body", MalformedRequestError, REQUEST_CBOR_LIMITS)
        assert decoded == envelope

ic_values = st.recursive(
    st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20)
    | st.booleans()
    | st.none(),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)
LOOSE = CborLimits(max_depth=64, max_items=10_000, text_keys=True)


@settings(max_examples=300, deadline=None)
@given(value=ic_values, self_describe=st.booleans())
def test_values_of_the_data_model_pass_and_decode_unchanged(
    value: Any, self_describe: bool
) -> None:
    data = tagged(value) if self_describe else cbor2.dumps(value)
    scan(data, "value", ValueError, LOOSE)
    assert loads_strict(data, "value", ValueError, LOOSE) == cbor2.loads(data)


@settings(max_examples=300, deadline=None)
@given(value=ic_values, tag=st.integers(min_value=0, max_value=2**64 - 1))
def test_any_tag_inside_a_value_is_refused(value: Any, tag: int) -> None:
    data = tagged([cbor2.CBORTag(tag, value)])
    with pytest.raises(ValueError, match=f"value uses CBOR tag {tag}\\b"):
        scan(data, "value", ValueError, LOOSE)


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=64) | ic_values.map(cbor2.dumps).map(lambda b: b[:-1] + b"\xc2"))
def test_arbitrary_bytes_raise_only_the_callers_error(data: bytes) -> None:
    try:
        loads_strict(data, "request body", MalformedRequestError, REQUEST_CBOR_LIMITS)
    except MalformedRequestError as exc:
        assert str(exc).startswith("request body ")
