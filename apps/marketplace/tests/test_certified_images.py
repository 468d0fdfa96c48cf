"""Certified images: the marketplace's ``/images/<id>`` answers carry an ``IC-Certificate``
that the replica's HTTP gateway verifies (v1, ``http_assets``), and the gateway refuses
an answer whose bytes were altered on the way. A real replica (the marketplace built
and installed on it) behind the real gateway middleware, through Django's test client.
The certified data is a hash tree that also holds the listings' root: a listing's
proof still verifies against the replica's certificate (`certify.verify`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from apps.marketplace.canister import certified_http
from apps.marketplace.seed import png
from icframework.compiler.app_build import build_app
from icframework.core import Principal
from icframework.demo import TypedCaller, method_table
from icframework.protocol import lookup_value, parse_certificate
from icframework.replica import (
    ReplicaService,
    pack_python_module,
    set_gateway_backend,
    start_service,
    stop_service,
)
from icframework.replica.gateway import VERIFICATION_HEADER
from icframework.replica.gateway_middleware import ServiceBackend

from .world import certify, records

APP_DIR = Path(__file__).resolve().parents[1]
SELLER = Principal.self_authenticating(b"certified images: seller")
LEDGER = Principal.from_text("bd3sg-teaaa-aaaaa-qaaba-cai")


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReplicaService, Any]]:
    root = tmp_path_factory.mktemp("certified-images")
    with override_settings(BASE_DIR=root):
        built = build_app(APP_DIR, pack_python_module, cache_dir=root / ".build", progress=None)
    service = start_service(root / "state")
    try:
        canister = service.run(lambda r: r.create_canister(sender=SELLER))
        from icframework.candid import encode, parse_did, parse_values

        did = parse_did(built.did)
        assert did.service_args is not None
        arg = encode(did.service_args, parse_values(
            f'(record {{ ledger = principal "{LEDGER.to_text()}" }})', did.service_args,
            env=did.env))
        service.run(lambda r: r.install_code(canister, built.wasm, arg, sender=SELLER))
        yield service, canister
    finally:
        stop_service()


def call(service: ReplicaService, canister: Any, method: str, *args: Any) -> Any:
    caller = TypedCaller
    return service.run(lambda r: caller(r, canister, method_table("apps.marketplace.canister"))(
        SELLER, method, *args))


def upload(service: ReplicaService, canister: Any, data: bytes) -> str:
    image = call(service, canister, "begin_image_upload", "image/png", len(data))
    call(service, canister, "upload_image_chunk", image, 0, data)
    path: str = call(service, canister, "commit_image", image)
    return path


class Tampering(ServiceBackend):
    """The replica's answers with one byte of ``body`` changed on the way."""

    def __init__(self, service: ReplicaService, body: bytes) -> None:
        super().__init__(service)
        self.body = body

    def query(self, canister_id: Principal, method: str, arg: bytes) -> bytes:
        reply = super().query(canister_id, method, arg)
        at = reply.find(self.body)
        assert at >= 0
        spot = at + len(self.body) // 2
        return reply[:spot] + bytes([reply[spot] ^ 1]) + reply[spot + 1:]


def test_the_gateway_verifies_image_answers_and_refuses_a_tampered_one(
        market: tuple[ReplicaService, Any]) -> None:
    service, canister = market
    pictures = [png((40 * n % 256, 90, 200), size=24 + n) for n in range(12)]
    paths = [upload(service, canister, data) for data in pictures]
    host = f"{canister.to_text()}.localhost"
    for path, data in zip(paths, pictures, strict=True):
        answer = Client().get(path, HTTP_HOST=host)
        assert answer.status_code == 200, answer.content
        assert answer[VERIFICATION_HEADER] == "verified-v1"
        assert answer.content == data
    assert Client().head(paths[0], HTTP_HOST=host).status_code == 200

    set_gateway_backend(Tampering(service, pictures[3]))
    try:
        refused = Client().get(paths[3], HTTP_HOST=host)
    finally:
        set_gateway_backend(None)
    assert refused.status_code == 503
    assert b"the response was altered" in refused.content
    assert pictures[3] not in refused.content


def test_listings_stay_certified_in_the_same_tree(market: tuple[ReplicaService, Any]) -> None:
    service, canister = market
    if call(service, canister, "my_shop") is None:
        call(service, canister, "open_shop", "Certified", "", None, 0)
    image = upload(service, canister, png((1, 2, 3)))
    item = call(service, canister, "create_listing",
                records.ListingInput("Lamp", "", 1_000, 1, "home"), [int(image.split("/")[2])])
    proof = call(service, canister, "certified_listing", item.id)
    assert proof.certificate is not None
    certificate = parse_certificate(proof.certificate)
    data = lookup_value(["canister", canister.raw, "certified_data"], certificate.tree)
    assert data is not None
    assert certify.verify(proof.listing_id, proof.seller, proof.price, proof.available,
                          proof.status.value, proof.bucket, proof.buckets, data, proof.witness)
    assert not certify.verify(proof.listing_id, proof.seller, proof.price - 1, proof.available,
                              proof.status.value, proof.bucket, proof.buckets, data,
                              proof.witness)
    # The witness is what the canister's tree says about the listings, nothing else.
    tree = certified_http.decode(proof.witness)
    assert certified_http.reconstruct(tree) == data
    assert hashlib.sha256(b"".join(proof.buckets)).digest() == \
        certified_http.lookup(tree, certified_http.LISTINGS)[1]  # type: ignore[index]
