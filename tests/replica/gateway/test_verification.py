"""Response verification (v1 asset trees, v2 certification expressions) with signed certificates.

Certificates are built and BLS-signed here with a throw-away root key; the request and
response hashes are checked against known answers published with DFINITY's
``ic-http-certification`` crate (``packages/ic-http-certification/src/hash``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from collections.abc import Mapping

import cbor2
import pytest

from icframework.core import Principal, encode_uleb128
from icframework.protocol import (
    BlsKeyPair,
    Empty,
    HashTree,
    build_tree,
    encode_tree,
    reconstruct,
    sign_certificate,
)
from icframework.replica.gateway import (
    VERIFICATION_HEADER,
    CanisterHttpResponse,
    CertificationExpression,
    Gateway,
    HttpRequest,
    VerificationError,
    encode_http_request,
    expression_path,
    parse_certificate_expression,
    parse_certificate_header,
    request_hash,
    response_hash,
    verify_response,
)
from tests.replica.gateway.test_mapping import CANISTER, OTHER, FakeBackend, http_response

KEY = BlsKeyPair.generate()
NOW = 1_750_000_000 * 1_000_000_000
BODY = b"<!doctype html><h1>certified</h1>"


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def certificate(tree: HashTree, *, canister: Principal = CANISTER, time_ns: int = NOW,
                key: BlsKeyPair = KEY, certified: bytes | None = None) -> bytes:
    """A certificate revealing ``canister``'s certified data (default: ``tree``'s root)."""
    data = reconstruct(tree) if certified is None else certified
    state = build_tree({"canister": {canister.raw: {"certified_data": data}},
                        "time": encode_uleb128(time_ns)})
    return sign_certificate(state, key)


def header(tree: HashTree, cert: bytes | None = None, **extra: str) -> str:
    fields = [f"certificate=:{b64(cert or certificate(tree))}:", f"tree=:{b64(encode_tree(tree))}:"]
    fields += [f"{name}={value}" for name, value in extra.items()]
    return ", ".join(fields)


def verify(url: str, headers: list[tuple[str, str]], body: bytes, *, status: int = 200,
           request_headers: tuple[tuple[str, str], ...] = (), now_ns: int = NOW,
           root_key: bytes | None = None) -> int | None:
    request = HttpRequest("GET", url, request_headers)
    response = CanisterHttpResponse(status, tuple(headers), body)
    return verify_response(CANISTER, request, response, body,
                           root_key=root_key or KEY.public_key_der, now_ns=now_ns)


# -- the IC-Certificate header ----------------------------------------------------------


def test_parse_certificate_header() -> None:
    fields = parse_certificate_header("certificate=:AAE=:, tree=:AgM=:,version=2, expr_path=:gA==:")
    assert fields == {"certificate": b"\x00\x01", "tree": b"\x02\x03", "version": 2,
                      "expr_path": b"\x80"}


@pytest.mark.parametrize(("value", "message"), [
    ("certificate=:@@@:", "'certificate' is not valid base64"),
    ("certificate", "'certificate' is not name=value"),
])
def test_malformed_certificate_header(value: str, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        parse_certificate_header(value)


# -- v1 --------------------------------------------------------------------------------------

ASSETS = build_tree({"http_assets": {"/": sha256(BODY), "/a b.txt": sha256(b"spaced"),
                                     "/index.html": sha256(b"spa shell"),
                                     "/z.js.gz": sha256(b"console.log(1)")}})


def test_v1_verifies() -> None:
    assert verify("/", [("IC-Certificate", header(ASSETS))], BODY) == 1


def test_v1_ignores_the_query_and_decodes_the_path() -> None:
    assert verify("/?utm=1", [("ic-certificate", header(ASSETS))], BODY) == 1
    assert verify("/a%20b.txt", [("IC-Certificate", header(ASSETS))], b"spaced") == 1


def test_v1_falls_back_to_index_html() -> None:
    assert verify("/some/route", [("IC-Certificate", header(ASSETS))], b"spa shell") == 1


def test_v1_hashes_the_decoded_body() -> None:
    headers = [("IC-Certificate", header(ASSETS)), ("Content-Encoding", "gzip")]
    assert verify("/z.js.gz", headers, gzip.compress(b"console.log(1)")) == 1


def test_no_certificate_header_is_not_verified() -> None:
    assert verify("/", [("Content-Type", "text/html")], BODY) is None


@pytest.mark.parametrize(("url", "headers", "body", "message"), [
    ("/", [("IC-Certificate", header(ASSETS))], b"tampered", "the response was altered"),
    ("/", [("IC-Certificate", header(ASSETS, certificate(ASSETS, key=BlsKeyPair.generate())))],
     BODY, "the certificate is not valid: certificate signature is invalid"),
    ("/", [("IC-Certificate", header(ASSETS, certificate(ASSETS, time_ns=NOW - 600 * 10**9)))],
     BODY, "certificate is stale"),
    ("/", [("IC-Certificate", header(ASSETS, certificate(ASSETS, certified=b"\x00" * 32)))],
     BODY, "the tree's root hash is not the canister's certified data"),
    ("/", [("IC-Certificate", header(ASSETS, certificate(ASSETS, canister=OTHER)))],
     BODY, f"does not reveal /canister/{CANISTER}/certified_data"),
    ("/", [("IC-Certificate", header(build_tree({"http_assets": {"/x": b"\x00" * 32}})))],
     BODY, "no http_assets entry for '/'"),
    ("/", [("IC-Certificate", header(ASSETS, version="3"))], BODY, "version 3 is not supported"),
    ("/", [("IC-Certificate", f"certificate=:{b64(certificate(ASSETS))}:")], BODY,
     "needs certificate=:…: and tree=:…:"),
    ("/z.js.gz", [("IC-Certificate", header(ASSETS)), ("Content-Encoding", "gzip")],
     b"not gzip", "not valid gzip data"),
])
def test_v1_failures(url: str, headers: list[tuple[str, str]], body: bytes, message: str) -> None:
    with pytest.raises(VerificationError, match=message) as caught:
        verify(url, headers, body)
    assert caught.value.status == 503


# -- v2 --------------------------------------------------------------------------------------

RESPONSE_ONLY = (
    'default_certification(ValidationArgs{certification:Certification{no_request_certification:'
    'Empty{},response_certification:ResponseCertification{certified_response_headers:'
    'ResponseHeaderList{headers:["Content-Type"]}}}})')
WITH_REQUEST = (
    'default_certification(ValidationArgs{certification:Certification{request_certification:'
    'RequestCertification{certified_request_headers:["Accept"],certified_query_parameters:["q"]},'
    'response_certification:ResponseCertification{response_header_exclusions:'
    'ResponseHeaderList{headers:["Date"]}}}})')
NO_CERTIFICATION = "default_certification(ValidationArgs{no_certification:Empty{}})"


def expr_tree(paths: Mapping[tuple[str, ...], Mapping[bytes, object]]) -> HashTree:
    """A v2 tree: each expression path maps to its ``{expr_hash: {request: {response}}}``."""
    root: dict[bytes | str, object] = {}
    for path, entries in paths.items():
        node = root
        for label in path[:-1]:
            node = node.setdefault(label, {})  # type: ignore[assignment]
        node[path[-1]] = entries
    return build_tree(root)


def v2_entry(expression: str, request_label: bytes, response_digest: bytes) -> dict[bytes, object]:
    return {sha256(expression.encode()): {request_label: {response_digest: Empty()}}}


def v2_headers(tree: HashTree, path: list[str], expression: str,
               *rest: tuple[str, str]) -> list[tuple[str, str]]:
    cert = header(tree, version="2", expr_path=f":{b64(cbor2.dumps(path))}:")
    return [("IC-Certificate", cert), ("IC-CertificateExpression", expression), *rest]


PAGE_HEADERS = [("IC-CertificateExpression", RESPONSE_ONLY), ("Content-Type", "text/html")]
PAGE_HASH = response_hash(200, PAGE_HEADERS, BODY, parse_certificate_expression(RESPONSE_ONLY))
PAGE_TREE = expr_tree({("http_expr", "", "<$>"): v2_entry(RESPONSE_ONLY, b"", PAGE_HASH)})
PAGE_PATH = ["http_expr", "", "<$>"]


def test_v2_response_only() -> None:
    headers = v2_headers(PAGE_TREE, PAGE_PATH, RESPONSE_ONLY, ("Content-Type", "text/html"))
    assert verify("/", headers, BODY) == 2
    # A header the expression does not certify may change.
    assert verify("/", [*headers, ("X-Extra", "1")], BODY) == 2


@pytest.mark.parametrize(("headers", "body", "status", "message"), [
    (v2_headers(PAGE_TREE, PAGE_PATH, RESPONSE_ONLY, ("Content-Type", "text/plain")), BODY, 200,
     "does not hold this request/response pair"),
    (v2_headers(PAGE_TREE, PAGE_PATH, RESPONSE_ONLY, ("Content-Type", "text/html")), b"x", 200,
     "does not hold this request/response pair"),
    (v2_headers(PAGE_TREE, PAGE_PATH, RESPONSE_ONLY, ("Content-Type", "text/html")), BODY, 404,
     "does not hold this request/response pair"),
    (v2_headers(PAGE_TREE, PAGE_PATH, NO_CERTIFICATION), BODY, 200, "no expression hash"),
    (v2_headers(PAGE_TREE, ["http_expr", "other", "<$>"], RESPONSE_ONLY), BODY, 200,
     "is not the most specific path"),
    (v2_headers(PAGE_TREE, ["http_expr", "<$>", "<$>"], RESPONSE_ONLY), BODY, 200,
     "is not http_expr, URL segments, then <$> or <*>"),
    ([("IC-Certificate", header(PAGE_TREE, version="2", expr_path=f":{b64(cbor2.dumps(PAGE_PATH))}:"
                                ))], BODY, 200, "needs an IC-CertificateExpression header"),
    ([("IC-Certificate", header(PAGE_TREE, version="2"))], BODY, 200, "needs an expr_path"),
])
def test_v2_failures(headers: list[tuple[str, str]], body: bytes, status: int,
                     message: str) -> None:
    with pytest.raises(VerificationError, match=re.escape(message)):
        verify("/", headers, body, status=status)


def test_v2_expr_path_with_cbor_tags_is_refused_before_decoding() -> None:
    # The canister picks these bytes after a valid certificate: a fraction of two
    # 1 MB bignums held the gateway for minutes when cbor2 decoded it.
    fraction = cbor2.CBORTag(30, [cbor2.CBORTag(2, b"\xa7" * 1_000_000),
                                  cbor2.CBORTag(2, b"\x95" * 1_000_000)])
    cert = header(PAGE_TREE, version="2", expr_path=f":{b64(cbor2.dumps([fraction]))}:")
    headers = [("IC-Certificate", cert), ("IC-CertificateExpression", RESPONSE_ONLY),
               ("Content-Type", "text/html")]
    with pytest.raises(VerificationError, match=re.escape(
            "expr_path uses CBOR tag 30 (rational number) at byte 1; only the self-describe "
            "tag 55799")):
        verify("/", headers, BODY)


def test_v2_self_describing_expr_path_verifies() -> None:
    tagged = cbor2.dumps(cbor2.CBORTag(55799, PAGE_PATH))
    cert = header(PAGE_TREE, version="2", expr_path=f":{b64(tagged)}:")
    headers = [("IC-Certificate", cert), ("IC-CertificateExpression", RESPONSE_ONLY),
               ("Content-Type", "text/html")]
    assert verify("/", headers, BODY) == 2


def test_v2_no_certification() -> None:
    tree = expr_tree({("http_expr", "", "<$>"): {sha256(NO_CERTIFICATION.encode()): {}}})
    assert verify("/", v2_headers(tree, PAGE_PATH, NO_CERTIFICATION), b"anything") == 2


def test_v2_request_certification() -> None:
    expression = parse_certificate_expression(WITH_REQUEST)
    url = "/search?q=cats&page=2"
    request_headers = (("Accept", "text/html"), ("User-Agent", "test"))
    request = HttpRequest("GET", url, request_headers)
    response_headers = [("IC-CertificateExpression", WITH_REQUEST), ("Date", "today")]
    entry = v2_entry(WITH_REQUEST, request_hash(request, expression),
                     response_hash(200, response_headers, BODY, expression))
    tree = expr_tree({("http_expr", "search", "<$>"): entry})
    path = ["http_expr", "search", "<$>"]
    headers = v2_headers(tree, path, WITH_REQUEST, ("Date", "tomorrow"))
    assert verify(url, headers, BODY, request_headers=request_headers) == 2
    # Uncertified query parameters and request headers may change ...
    assert verify("/search?q=cats&page=9", headers, BODY,
                  request_headers=(("Accept", "text/html"),)) == 2
    # ... certified ones may not.
    with pytest.raises(VerificationError, match="does not hold"):
        verify("/search?q=dogs&page=2", headers, BODY, request_headers=request_headers)
    with pytest.raises(VerificationError, match="does not hold"):
        verify(url, headers, BODY, request_headers=(("Accept", "application/json"),))


def test_v2_wildcard_paths() -> None:
    entry = v2_entry(RESPONSE_ONLY, b"", PAGE_HASH)
    wildcard = ["http_expr", "assets", "<*>"]
    tree = expr_tree({tuple(wildcard): entry})
    headers = v2_headers(tree, wildcard, RESPONSE_ONLY, ("Content-Type", "text/html"))
    assert verify("/assets/js/app.js", headers, BODY) == 2
    with pytest.raises(VerificationError, match="does not match the URL"):
        verify("/other/app.js", headers, BODY)
    shadowed = expr_tree({tuple(wildcard): entry, ("http_expr", "assets", "js", "<*>"): entry})
    headers = v2_headers(shadowed, wildcard, RESPONSE_ONLY, ("Content-Type", "text/html"))
    with pytest.raises(VerificationError, match=r"\['http_expr', 'assets', 'js', '<\*>'\]"):
        verify("/assets/js/app.js", headers, BODY)


@pytest.mark.parametrize(("path", "wildcard", "expected"), [
    ("/", False, ["http_expr", "", "<$>"]),
    ("/foo", False, ["http_expr", "foo", "<$>"]),
    ("/foo/bar/", True, ["http_expr", "foo", "bar", "", "<*>"]),
    ("", True, ["http_expr", "<*>"]),
])
def test_expression_path(path: str, wildcard: bool, expected: list[str]) -> None:
    assert expression_path(path, wildcard=wildcard) == expected


# -- CEL expressions and hashes (known answers from ic-http-certification) --------------------


def test_parse_spaced_expression() -> None:
    text = """
        default_certification (
          ValidationArgs {
            certification: Certification {
              request_certification: RequestCertification {
                certified_request_headers: ["host", "accept"],
                certified_query_parameters: []
              },
              response_certification: ResponseCertification {
                response_header_exclusions: ResponseHeaderList { headers: ["Date"] }
              }
            }
          }
        )
    """
    assert parse_certificate_expression(text) == CertificationExpression(
        request_headers=("host", "accept"), query_parameters=(), response_headers=("Date",),
        exclude_response_headers=True)
    assert parse_certificate_expression(NO_CERTIFICATION).no_certification


@pytest.mark.parametrize(("text", "message"), [
    ("other(ValidationArgs{no_certification:Empty{}})", "expected default_certification"),
    ("default_certification(ValidationArgs{})", "needs certification or no_certification"),
    ("default_certification(ValidationArgs{no_certification:Empty{}}) x", "text after"),
    ("default_certification(ValidationArgs{no_certification:Empty{}", "ends early"),
    ("default_certification(ValidationArgs{certification:Certification{"
     "no_request_certification:Empty{}}})", "needs response_certification"),
    ("default_certification(Validation$)", "unexpected text at offset 32"),
])
def test_malformed_expressions(text: str, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        parse_certificate_expression(text)


def _kat_request(url: str) -> HttpRequest:
    headers = (("Accept-Language", "en"), ("Accept-Language", "en-US"), ("Host", "https://ic0.app"))
    return HttpRequest("POST", url, headers, bytes(range(7)))


def test_request_hash_known_answers() -> None:
    without_query = CertificationExpression(request_headers=("host",))
    assert request_hash(_kat_request("https://ic0.app"), without_query).hex() == (
        "10796453466efb3e333891136b8a5931269f77e40ead9d437fcee94a02fa833c")
    with_query = CertificationExpression(request_headers=("host",), query_parameters=("q", "name"))
    url = "https://ic0.app?q=hello+world&name=foo&name=bar&color=purple"
    assert request_hash(_kat_request(url), with_query).hex() == (
        "3ade1c9054f05bc8bcebd3fd7b884078a6e67c63e5ac4a639fa46a47f5a955c9")


def _kat_response_headers(expression: str) -> list[tuple[str, str]]:
    return [
        ("IC-Certificate", "certificate=:SGVsbG8gQ2VydGlmaWNhdGUh:,tree=:SGVsbG8gVHJlZSE=:"),
        ("IC-CertificateExpression", expression),
        ("Accept-Encoding", "gzip"),
        ("Cache-Control", "no-cache"),
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", "default-src 'self'"),
    ]


def test_response_hash_known_answers() -> None:
    certified = (
        'default_certification(ValidationArgs{certification:Certification{'
        'no_request_certification:Empty{},response_certification:ResponseCertification{'
        'certified_response_headers:ResponseHeaderList{headers:["Accept-Encoding",'
        '"Cache-Control"]}}}})')
    headers = _kat_response_headers(certified)
    expression = parse_certificate_expression(certified)
    assert response_hash(200, headers, b"Hello World!", expression).hex() == (
        "3393250e3cedc30408dcb7e8963898c3d7549b8a0b76496b82fdfeae99c2ac78")
    excluded = (
        'default_certification(ValidationArgs{certification:Certification{'
        'no_request_certification:Empty{},response_certification:ResponseCertification{'
        'response_header_exclusions:ResponseHeaderList{headers:["Content-Security-Policy"]}}}})')
    exclusions = CertificationExpression(response_headers=("Accept-Encoding", "Cache-Control"),
                                         exclude_response_headers=True)
    assert response_hash(200, _kat_response_headers(excluded), b"Hello World!",
                         exclusions).hex() == (
        "a2ffb50ef8971650c2fb46c0a2788b7d5ac5a027d635175e8e06b419ce6c4cda")


# -- through the gateway ---------------------------------------------------------------------


class CertifyingBackend(FakeBackend):
    def root_key(self) -> bytes:
        return KEY.public_key_der

    def now_ns(self) -> int:
        return NOW


def test_gateway_serves_verified_and_refuses_tampered_responses() -> None:
    def page(arg: bytes) -> bytes:
        url = "/" if arg == encode_http_request(HttpRequest("GET", "/")) else "/tampered"
        body = BODY if url == "/" else b"tampered"
        return http_response(200, body, [("IC-Certificate", header(ASSETS))])

    gateway = Gateway(CertifyingBackend({"http_request": page}))
    good = gateway.handle(CANISTER, HttpRequest("GET", "/"))
    assert (good.status, good.body) == (200, BODY)
    assert good.header(VERIFICATION_HEADER) == "verified-v1"
    bad = gateway.handle(CANISTER, HttpRequest("GET", "/tampered"))
    assert bad.status == 503
    assert bad.header(VERIFICATION_HEADER) == "failed"
    assert bad.header("content-type") == "text/plain; charset=utf-8"
    assert bad.body.startswith(b"the body's SHA-256 ")
    raw = gateway.handle(CANISTER, HttpRequest("GET", "/tampered"), verify=False)
    assert (raw.status, raw.body) == (200, b"tampered")
    assert raw.header(VERIFICATION_HEADER) == "skipped-raw"
