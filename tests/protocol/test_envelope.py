"""Envelopes: build, sign, encode, parse and validate; error messages checked by text."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.core import Principal
from icframework.identity import (
    AnonymousIdentity,
    DelegationIdentity,
    Ed25519Identity,
    Identity,
    Secp256k1Identity,
)
from icframework.protocol import (
    AuthenticationError,
    CallContent,
    Envelope,
    IngressExpiryError,
    MalformedRequestError,
    QueryContent,
    ReadStateContent,
    check_ingress_expiry,
    create_delegation_chain,
    decode_request,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)

NOW = 1_700_000_000 * 10**9
MINUTE = 60 * 10**9
CANISTER = Principal.from_canister_index(1)
OTHER = Principal.from_canister_index(2)
ED = Ed25519Identity.from_seed(bytes(range(32)))
K1 = Secp256k1Identity.from_private_key_bytes(bytes(range(1, 33)))


def call(identity: Identity, **overrides: object) -> CallContent:
    fields: dict[str, object] = {
        "canister_id": CANISTER,
        "method_name": "greet",
        "arg": b"DIDL\x00\x00",
        "sender": identity.principal,
        "ingress_expiry": NOW + 4 * MINUTE,
    }
    fields.update(overrides)
    return CallContent(**fields)  # type: ignore[arg-type]


def raw_body(envelope_map: dict[str, object]) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(55799, envelope_map))


@pytest.mark.parametrize("identity", [ED, K1], ids=["ed25519", "secp256k1"])
def test_signed_call_round_trip(identity: Identity) -> None:
    envelope = sign_envelope(call(identity, nonce=b"n" * 16), identity)
    body = envelope.to_cbor()
    assert body.startswith(b"\xd9\xd9\xf7")
    assert decode_request(body, now_ns=NOW) == envelope


def test_anonymous_query_and_read_state() -> None:
    anonymous = AnonymousIdentity()
    query = QueryContent(CANISTER, "q", b"", anonymous.principal, NOW + MINUTE)
    envelope = sign_envelope(query, anonymous)
    assert envelope.to_map() == {"content": query.to_map()}
    assert decode_request(envelope.to_cbor(), now_ns=NOW) == envelope
    read = ReadStateContent(anonymous.principal, NOW + MINUTE, ((b"time",), (b"subnet", b"x")))
    assert parse_envelope(sign_envelope(read, anonymous).to_cbor()).content == read


def test_untagged_and_tagged_bodies_parse_alike() -> None:
    envelope = sign_envelope(call(ED), ED)
    untagged = cbor2.dumps(envelope.to_map())
    assert parse_envelope(untagged) == parse_envelope(envelope.to_cbor()) == envelope


def test_sign_envelope_refuses_other_sender() -> None:
    with pytest.raises(ValueError, match=r"content.sender is .* but the signing identity is"):
        sign_envelope(call(K1), ED)


# -- malformed bodies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\x00", "request body is not valid CBOR"),
        (cbor2.dumps({"content": {}}) + b"\x00", "request body has 1 trailing bytes"),
        (cbor2.dumps([1, 2]), "request envelope must be a CBOR map, got array"),
        (cbor2.dumps({}), "request envelope is missing required field 'content'"),
        (
            cbor2.dumps({"content": 5}),
            "request envelope field 'content' must be a map, got integer",
        ),
        (
            cbor2.dumps({"content": {}, "extra": 1}),
            "request envelope has unexpected field 'extra'; allowed: content, sender_delegation",
        ),
        (
            cbor2.dumps({"content": {"request_type": "bogus"}}),
            "unknown request_type 'bogus'; expected 'call', 'query' or 'read_state'",
        ),
    ],
)
def test_malformed_envelopes(body: bytes, message: str) -> None:
    with pytest.raises(MalformedRequestError, match=message.replace("(", r"\(")):
        parse_envelope(body)


def _content_error(**changes: object) -> str:
    content = call(AnonymousIdentity()).to_map()
    for key, value in changes.items():
        if value is ...:
            del content[key]
        else:
            content[key] = value
    with pytest.raises(MalformedRequestError) as info:
        parse_envelope(raw_body({"content": content}))
    return str(info.value)


def test_wrong_field_types_are_named() -> None:
    assert _content_error(ingress_expiry="soon") == (
        "request content field 'ingress_expiry' must be a nat (CBOR unsigned integer), "
        "got text 'soon'"
    )
    assert _content_error(ingress_expiry=-1).startswith(
        "request content field 'ingress_expiry' must be a nat"
    )
    assert (
        _content_error(arg="DIDL") == "request content field 'arg' must be bytes, got text 'DIDL'"
    )
    assert _content_error(method_name=b"x") == (
        "request content field 'method_name' must be text, got bytes b'x'"
    )
    assert (
        _content_error(method_name=...) == "request content is missing required field 'method_name'"
    )
    assert _content_error(nonce=b"n" * 33) == (
        "request content field 'nonce' is 33 bytes; the maximum is 32"
    )
    assert _content_error(canister_id=b"c" * 30).startswith(
        "request content field 'canister_id' is not a principal: principal is 30 bytes long"
    )
    assert _content_error(paths=[]) == (
        "request content has unexpected field 'paths'; allowed: arg, canister_id, ingress_expiry, "
        "method_name, nonce, request_type, sender"
    )


def test_read_state_path_limits() -> None:
    def error(paths: object) -> str:
        content = {
            "request_type": "read_state",
            "sender": b"\x04",
            "ingress_expiry": NOW,
            "paths": paths,
        }
        with pytest.raises(MalformedRequestError) as info:
            parse_envelope(raw_body({"content": content}))
        return str(info.value)

    assert error([[b"time"]] * 1001) == "read_state request has 1001 paths; the maximum is 1000"
    assert error([[b"a"] * 128]) == "read_state path 0 has 128 labels; the maximum is 127"
    assert (
        error([[b"time"], ["time"]])
        == "read_state path 1 has a label of type text; labels are bytes"
    )
    assert error([b"time"]) == "read_state path 0 must be an array of byte labels, got bytes"


# -- authentication ----------------------------------------------------------------------


def test_sender_must_match_pubkey() -> None:
    envelope = sign_envelope(call(ED), ED)
    forged = envelope.to_map()
    forged["sender_pubkey"] = K1.der_public_key
    with pytest.raises(AuthenticationError) as info:
        parse_envelope(raw_body(forged))
    assert str(info.value) == (
        f"sender {ED.principal} does not match sender_pubkey, whose self-authenticating "
        f"principal is {K1.principal}"
    )


def test_anonymous_must_not_authenticate() -> None:
    envelope = sign_envelope(call(ED), ED).to_map()
    content = dict(envelope["content"])  # type: ignore[call-overload]
    content["sender"] = b"\x04"
    envelope["content"] = content
    with pytest.raises(
        AuthenticationError, match=r"the anonymous sender \(2vxsx-fae\) must not send"
    ):
        parse_envelope(raw_body(envelope))


def test_signed_sender_needs_signature() -> None:
    with pytest.raises(
        AuthenticationError, match="is not anonymous, so the envelope needs sender_pubkey"
    ):
        parse_envelope(raw_body({"content": call(ED).to_map()}))


@pytest.mark.parametrize("identity", [ED, K1], ids=["ed25519", "secp256k1"])
def test_bad_signature(identity: Identity) -> None:
    envelope = sign_envelope(call(identity), identity)
    tampered = envelope.to_map()
    tampered["content"] = call(identity, arg=b"DIDL\x00\x01").to_map()
    parsed = parse_envelope(raw_body(tampered))
    with pytest.raises(AuthenticationError) as info:
        verify_envelope(parsed, now_ns=NOW)
    assert str(info.value).startswith(
        f"Invalid signature: sender_sig does not verify for request id {parsed.request_id.hex()}"
    )


# -- null authentication fields (ic-py) ------------------------------------------------------


def ic_py_body(content: dict[str, object], **auth: object) -> bytes:
    """A body as ic-py's ``sign_request`` writes it: untagged CBOR, both auth fields set."""
    return cbor2.dumps({"content": content, "sender_pubkey": None, "sender_sig": None, **auth})


@pytest.mark.parametrize(
    "content",
    [
        QueryContent(CANISTER, "q", b"DIDL\x00\x00", Principal.anonymous(), NOW + MINUTE),
        CallContent(CANISTER, "inc", b"DIDL\x00\x00", Principal.anonymous(), NOW + MINUTE),
        ReadStateContent(Principal.anonymous(), NOW + MINUTE, ((b"time",),)),
    ],
    ids=["query", "call", "read_state"],
)
def test_null_authentication_fields_are_absent(
    content: CallContent | QueryContent | ReadStateContent,
) -> None:
    expected = Envelope(content)
    assert decode_request(ic_py_body(content.to_map()), now_ns=NOW) == expected
    assert parse_envelope(ic_py_body(content.to_map(), sender_delegation=None)) == expected
    tagged = raw_body({"content": content.to_map(), "sender_sig": None})
    assert decode_request(tagged, now_ns=NOW) == expected


def test_signed_request_with_null_signature_is_unsigned() -> None:
    content = call(ED).to_map()
    for body in (
        ic_py_body(content, sender_pubkey=ED.der_public_key),
        ic_py_body(content),
    ):
        with pytest.raises(AuthenticationError) as info:
            parse_envelope(body)
        assert str(info.value) == (
            f"sender {ED.principal} is not anonymous, so the envelope needs sender_pubkey "
            "and sender_sig"
        )


def test_anonymous_with_one_null_and_one_value_still_authenticates() -> None:
    content = call(AnonymousIdentity()).to_map()
    with pytest.raises(
        AuthenticationError, match=r"the anonymous sender \(2vxsx-fae\) must not send"
    ):
        parse_envelope(ic_py_body(content, sender_sig=b"s" * 64))


def test_null_in_a_required_field_or_a_wrong_type_stays_an_error() -> None:
    anonymous = call(AnonymousIdentity()).to_map()

    def error(body: bytes) -> str:
        with pytest.raises(MalformedRequestError) as info:
            parse_envelope(body)
        return str(info.value)

    assert error(cbor2.dumps({"content": None, "sender_sig": None})) == (
        "request envelope field 'content' must be a map, got null"
    )
    assert _content_error(ingress_expiry=None) == (
        "request content field 'ingress_expiry' must be a nat (CBOR unsigned integer), "
        "got null"
    )
    assert _content_error(nonce=None) == "request content field 'nonce' must be bytes, got null"
    assert error(ic_py_body(anonymous, sender_sig="sig")) == (
        "request envelope field 'sender_sig' must be bytes, got text 'sig'"
    )
    assert error(ic_py_body(anonymous, sender_pubkey=0)) == (
        "request envelope field 'sender_pubkey' must be bytes, got integer 0"
    )
    assert error(ic_py_body(anonymous, sender_delegation=b"")) == (
        "sender_delegation must be an array, got bytes"
    )
    assert error(ic_py_body(anonymous, sender_delegation=[None])) == (
        "sender_delegation[0] must be a map, got null"
    )


# -- expiry --------------------------------------------------------------------------------


def test_ingress_expiry_window() -> None:
    check_ingress_expiry(call(ED, ingress_expiry=NOW), NOW)
    check_ingress_expiry(call(ED, ingress_expiry=NOW + 330 * 10**9), NOW)
    with pytest.raises(IngressExpiryError) as past:
        check_ingress_expiry(call(ED, ingress_expiry=NOW - 1), NOW)
    assert str(past.value) == (
        "Invalid request expiry: Specified ingress_expiry not within expected range: "
        "Minimum allowed expiry: 2023-11-14 22:13:20.000000000 UTC, "
        "Maximum allowed expiry: 2023-11-14 22:18:50.000000000 UTC, "
        "Provided expiry: 2023-11-14 22:13:19.999999999 UTC"
    )
    with pytest.raises(IngressExpiryError, match=r"^Invalid request expiry: "):
        check_ingress_expiry(call(ED, ingress_expiry=NOW + 330 * 10**9 + 1), NOW)
    with pytest.raises(IngressExpiryError, match=r"^Invalid request expiry: "):
        decode_request(
            sign_envelope(call(ED, ingress_expiry=NOW - MINUTE), ED).to_cbor(), now_ns=NOW
        )
    stale = sign_envelope(call(ED, ingress_expiry=NOW - MINUTE), ED).to_cbor()
    assert decode_request(stale, now_ns=NOW, check_expiry=False).content.ingress_expiry < NOW


# -- delegations -------------------------------------------------------------------------


def _delegated(
    targets: list[Principal] | None, expiration: int = NOW + 10 * MINUTE
) -> DelegationIdentity:
    session = Ed25519Identity.generate()
    chain = create_delegation_chain(K1, ED.der_public_key, expiration, targets=targets)
    chain = create_delegation_chain(ED, session.der_public_key, expiration, previous=chain)
    return DelegationIdentity(session, chain)


def test_delegated_envelope_verifies_and_reports_targets() -> None:
    identity = _delegated([CANISTER, OTHER])
    assert identity.principal == K1.principal
    envelope = sign_envelope(call(identity), identity)
    parsed = decode_request(envelope.to_cbor(), now_ns=NOW)
    assert parsed == envelope
    assert verify_envelope(parsed, now_ns=NOW) == frozenset({CANISTER, OTHER})


def test_delegation_target_mismatch() -> None:
    identity = _delegated([OTHER])
    envelope = sign_envelope(call(identity), identity)
    with pytest.raises(AuthenticationError) as info:
        verify_envelope(envelope, now_ns=NOW)
    assert str(info.value) == (
        f"Invalid delegation: canister {CANISTER} is not among the delegation targets ({OTHER})"
    )
    read = ReadStateContent(identity.principal, NOW + MINUTE, ((b"time",),))
    read_envelope = sign_envelope(read, identity)
    assert verify_envelope(read_envelope, now_ns=NOW) == frozenset({OTHER})
    with pytest.raises(AuthenticationError, match="is not among the delegation targets"):
        verify_envelope(read_envelope, now_ns=NOW, effective_canister_id=CANISTER)


def test_expired_delegation() -> None:
    identity = _delegated(None, expiration=NOW - 1)
    envelope = sign_envelope(call(identity), identity)
    with pytest.raises(AuthenticationError) as info:
        verify_envelope(envelope, now_ns=NOW)
    assert str(info.value) == (
        "Invalid delegation: delegation 1 expired at 2023-11-14 22:13:19.999999999 UTC; "
        "it is now 2023-11-14 22:13:20.000000000 UTC"
    )


def test_tampered_delegation_and_cycles() -> None:
    identity = _delegated(None)
    envelope = sign_envelope(call(identity), identity)
    chain = envelope.sender_delegation
    assert chain is not None
    from dataclasses import replace

    widened = replace(chain[0], delegation=replace(chain[0].delegation, expiration=NOW + 10**15))
    forged = Envelope(
        envelope.content, envelope.sender_pubkey, envelope.sender_sig, (widened, chain[1])
    )
    with pytest.raises(AuthenticationError, match="the signature of delegation 1 does not verify"):
        verify_envelope(forged, now_ns=NOW)

    back = create_delegation_chain(ED, K1.der_public_key, NOW + MINUTE)
    loop = create_delegation_chain(K1, ED.der_public_key, NOW + MINUTE)
    cyclic = (*loop.delegations, *back.delegations)
    with pytest.raises(AuthenticationError, match="delegates to a key that already appears"):
        verify_envelope(Envelope(call(K1), K1.der_public_key, b"s" * 64, cyclic), now_ns=NOW)


def test_too_many_delegations_in_body() -> None:
    identity = _delegated(None)
    body = sign_envelope(call(identity), identity).to_map()
    body["sender_delegation"] = list(body["sender_delegation"]) * 11  # type: ignore[call-overload]
    with pytest.raises(
        MalformedRequestError, match="sender_delegation has 22 entries; the maximum is 20"
    ):
        parse_envelope(raw_body(body))


# -- Hypothesis round trip -----------------------------------------------------------------

principals = st.binary(max_size=29).map(Principal)
nats = st.integers(min_value=0, max_value=2**64 - 1)
nonces = st.none() | st.binary(max_size=32)
method_contents = st.builds(
    CallContent, principals, st.text(max_size=20), st.binary(max_size=40), principals, nats, nonces
) | st.builds(
    QueryContent, principals, st.text(max_size=20), st.binary(max_size=40), principals, nats, nonces
)
read_contents = st.builds(
    ReadStateContent,
    principals,
    nats,
    st.lists(st.lists(st.binary(max_size=8), max_size=4).map(tuple), max_size=4).map(tuple),
    nonces,
)


@settings(max_examples=150, deadline=None)
@given(content=method_contents | read_contents)
def test_envelope_codec_round_trip(content: CallContent | QueryContent | ReadStateContent) -> None:
    # Unsigned envelopes of arbitrary senders: parse_envelope checks only the anonymous rule.
    signature = None if content.sender.is_anonymous else b"sig"
    pubkey = None
    if signature is not None:
        content = type(content)(**{**_fields(content), "sender": ED.principal})
        pubkey = ED.der_public_key
    envelope = Envelope(content, pubkey, signature)
    assert parse_envelope(envelope.to_cbor()) == envelope
    assert parse_envelope(envelope.to_cbor()).request_id == envelope.request_id


@settings(max_examples=150, deadline=None)
@given(
    content=method_contents | read_contents,
    signed=st.booleans(),
    nulls=st.sets(st.sampled_from(["sender_pubkey", "sender_sig", "sender_delegation"])),
    self_describe=st.booleans(),
)
def test_null_for_an_absent_authentication_field_changes_nothing(
    content: CallContent | QueryContent | ReadStateContent,
    signed: bool,
    nulls: set[str],
    self_describe: bool,
) -> None:
    sender = ED.principal if signed else Principal.anonymous()
    content = type(content)(**{**_fields(content), "sender": sender})
    envelope = Envelope(content, ED.der_public_key, b"sig") if signed else Envelope(content)
    body = envelope.to_map()
    body.update({name: None for name in nulls if name not in body})
    data = raw_body(body) if self_describe else cbor2.dumps(body)
    assert parse_envelope(data) == envelope

def _fields(content: object) -> dict[str, object]:
    from dataclasses import fields

    return {f.name: getattr(content, f.name) for f in fields(content)}  # type: ignore[arg-type]
