"""The IC HTTP interface against hostile bytes: every answer is a 4xx (or a documented 503).

Hypothesis posts arbitrary bytes and structured-hostile CBOR (any tag, bignums, floats,
deep nesting, envelopes with wrongly typed fields) to every endpoint, with hostile
content types and effective ids, and checks that no input gives a 500 or a debug page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.core import Principal
from icframework.replica.http import HttpError
from icframework.replica.http.validation import check_content_length
from icframework.replica.service import ReplicaService, start_service, stop_service
from tests.replica.http.conftest import ApiClient

ANONYMOUS = Principal.anonymous().raw
CANISTER = Principal.from_canister_index(0)
DEBUG_PAGE_MARKERS = ("Traceback", "Django", "settings.py", "Exception Value")
TAG_RULE = (
    "only the self-describe tag 55799, in front of the whole value, is allowed "
    "(IC interface spec, CBOR encoding of requests and responses)"
)


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReplicaService, str]]:
    service = start_service(Path(tmp_path_factory.mktemp("fuzz-replica")))
    try:
        deadline = time.monotonic() + 10
        while service.run(lambda r: r.subnet.height) == 0:
            assert time.monotonic() < deadline, "the round loop did not run a first round"
            time.sleep(0.01)
        subnet_id = Principal(service.run(lambda r: r.subnet.config.subnet_id)).to_text()
        yield service, subnet_id
    finally:
        stop_service()


def endpoints(subnet_id: str) -> list[str]:
    return [
        f"/api/v2/canister/{CANISTER}/call",
        f"/api/v3/canister/{CANISTER}/call",
        f"/api/v2/canister/{CANISTER}/query",
        f"/api/v3/canister/{CANISTER}/query",
        f"/api/v2/canister/{CANISTER}/read_state",
        f"/api/v3/canister/{CANISTER}/read_state",
        f"/api/v2/subnet/{subnet_id}/read_state",
        f"/api/v3/subnet/{subnet_id}/read_state",
    ]


def assert_refused_plainly(response: Any) -> None:
    status = response.status_code
    assert status < 500 or status == 503, (status, response.content[:300])
    text = response.content.decode("utf-8", "replace")
    for marker in DEBUG_PAGE_MARKERS:
        assert marker not in text
    if status >= 400:
        assert response["Content-Type"] == "text/plain; charset=utf-8"


def content(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "request_type": "call",
        "canister_id": CANISTER.raw,
        "method_name": "greet",
        "arg": b"DIDL\x00\x00",
        "sender": ANONYMOUS,
        "ingress_expiry": time.time_ns() + 60 * 10**9,
    }
    fields.update(overrides)
    return fields


def post(path: str, body: bytes, content_type: str = "application/cbor") -> Any:
    return ApiClient().generic("POST", path, body, content_type=content_type)


# -- the reported inputs ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["ingress_expiry", "method_name"])
def test_a_4300_digit_number_is_a_400_naming_the_tag(
        replica: tuple[ReplicaService, str], field: str) -> None:
    huge = int("7" * 4300)
    body = cbor2.dumps(cbor2.CBORTag(55799, {"content": content(**{field: huge})}))
    for path in endpoints(replica[1])[:2]:
        response = post(path, body)
        assert response.status_code == 400
        assert response.content.decode().startswith(
            "request body uses CBOR tag 2 (unsigned bignum) at byte ")
        assert response.content.decode().endswith(TAG_RULE)


@pytest.mark.parametrize(("value", "shown"), [(-1, "integer -1"), ("soon", "text 'soon'"),
                                              (b"\x01", "bytes b'\\x01'")])
def test_an_ingress_expiry_that_is_not_a_u64_is_a_400_naming_the_field(
        replica: tuple[ReplicaService, str], value: object, shown: str) -> None:
    body = cbor2.dumps(cbor2.CBORTag(55799, {"content": content(ingress_expiry=value)}))
    response = post(endpoints(replica[1])[0], body)
    assert response.status_code == 400
    assert response.content.decode() == (
        "request content field 'ingress_expiry' must be a nat (CBOR unsigned integer), got "
        f"{shown}")


@pytest.mark.parametrize("declared", ["9" * 5000, "0" * 4000 + "2097153"])
def test_a_content_length_of_any_length_is_compared_by_its_digits(declared: str) -> None:
    with pytest.raises(HttpError) as caught:
        check_content_length(declared)
    assert caught.value.status == 413
    assert caught.value.message.startswith(f"Request body is {declared.lstrip('0')[:20]}")
    assert caught.value.message.endswith(
        " bytes, larger than the maximum of 2097152 bytes (2 MiB); large Wasm modules go "
        "through upload_chunk and install_chunked_code.")


@pytest.mark.parametrize("declared", ["2097152", "0" * 5000, "1e3", "-1", "\u0663", None])
def test_other_content_lengths_are_left_to_the_server(declared: str | None) -> None:
    check_content_length(declared)


def test_a_fraction_of_megabyte_integers_is_refused_at_once(
        replica: tuple[ReplicaService, str]) -> None:
    fraction = cbor2.CBORTag(30, [cbor2.CBORTag(2, b"\xa7" * 1_000_000),
                                  cbor2.CBORTag(2, b"\x95" * 1_000_000)])
    body = cbor2.dumps(cbor2.CBORTag(55799, {"content": content(ingress_expiry=fraction)}))
    for path in endpoints(replica[1]):
        response = post(path, body)
        assert response.status_code == 400
        assert "uses CBOR tag 30 (rational number)" in response.content.decode()
    assert ApiClient().get("/api/v2/status").status_code == 200


# -- Hypothesis ----------------------------------------------------------------------------------

scalars = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.binary(max_size=40)
    | st.text(max_size=20)
    | st.booleans()
    | st.none()
    | st.floats(allow_nan=True)
)
hostile_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10) | st.integers(), children, max_size=4)
    | st.builds(cbor2.CBORTag, st.integers(min_value=0, max_value=2**64 - 1), children),
    max_leaves=20,
)
field_names = st.sampled_from([
    "request_type", "canister_id", "method_name", "arg", "sender", "ingress_expiry", "nonce",
    "paths", "sender_pubkey", "sender_sig", "sender_delegation", "content"])
envelopes = st.builds(
    lambda request_type, overrides, outer: {
        "content": content(**{"request_type": request_type, **overrides}), **outer},
    st.sampled_from(["call", "query", "read_state", "other"]),
    st.dictionaries(field_names, hostile_values, max_size=3),
    st.dictionaries(field_names, hostile_values, max_size=2),
)


def encode_hostile(value: object) -> bytes:
    try:
        return cbor2.dumps(cbor2.CBORTag(55799, value))
    except (cbor2.CBOREncodeError, ValueError, TypeError, OverflowError):
        return b"\xd9\xd9\xf7\xf7"


bodies = (
    st.binary(max_size=300)
    | envelopes.map(encode_hostile)
    | hostile_values.map(encode_hostile)
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), body=bodies,
       content_type=st.sampled_from(["application/cbor", "application/cbor; charset=x",
                                     "text/plain", "application/CBOR"]))
def test_no_body_gives_a_500(replica: tuple[ReplicaService, str], data: st.DataObject,
                             body: bytes, content_type: str) -> None:
    path = data.draw(st.sampled_from(endpoints(replica[1])))
    assert_refused_plainly(post(path, body, content_type))


ids = st.text(max_size=40) | st.sampled_from(["aaaaa-aa", "2vxsx-fae", "x" * 5000, "%00"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(effective_id=ids, kind=st.sampled_from(["canister", "subnet"]),
       endpoint=st.sampled_from(["call", "query", "read_state"]),
       version=st.sampled_from(["v2", "v3"]), method=st.sampled_from(
           ["GET", "POST", "PUT", "OPTIONS", "HEAD", "DELETE"]),
       body=st.binary(max_size=50), header=st.text(max_size=30))
def test_no_path_method_or_header_gives_a_500(
        replica: tuple[ReplicaService, str], effective_id: str, kind: str, endpoint: str,
        version: str, method: str, body: bytes, header: str) -> None:
    path = f"/api/{version}/{kind}/{effective_id}/{endpoint}"
    response = ApiClient().generic(method, path, body, content_type="application/cbor",
                                HTTP_X_ANYTHING=header)
    assert_refused_plainly(response)


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=40), accept=st.text(max_size=40))
def test_status_answers_whatever_the_query_and_headers(
        replica: tuple[ReplicaService, str], query: str, accept: str) -> None:
    response = ApiClient().get("/api/v2/status", QUERY_STRING=query, HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/cbor"
