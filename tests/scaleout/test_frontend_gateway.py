"""The HTTP gateway on a front end: a canister's pages come from the front end's copy of
its subnet (certified responses verified under the cluster's root key, through the
subnet's delegation) and ``http_request_update`` goes to the subnet's writer."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest

from icframework.candid import BLOB, NAT, decode, encode
from icframework.core import Principal
from icframework.protocol import build_tree, encode_tree, reconstruct
from icframework.replica.gateway import VERIFICATION_HEADER, Gateway, GatewayResponse, HttpRequest
from icframework.scaleout import ClusterConfig, FrontendBackend, GatewayCanisters
from tests.node import requires_node
from tests.replica.corpus import motoko_wasm
from tests.scaleout.cluster_support import (
    WAIT_S,
    Answers,
    Client,
    ClusterProcesses,
    free_port,
    unique_names,
)

pytest_plugins = ["tests.services"]
pytestmark = [pytest.mark.services, requires_node]

EMPTY = b"DIDL\x00\x00"
INDEX_HTML = b"<!doctype html><title>http_site</title><h1>Hello from http_site</h1>\n"


def page(gateway: Gateway, canister: Principal, path: str) -> GatewayResponse:
    return gateway.handle(canister, HttpRequest("GET", path))


def test_gateway_pages_from_the_copy_and_updates_through_the_writer(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(2)
    answers = Answers(redis_url, names)
    digest = hashlib.sha256(INDEX_HTML).digest()
    tree = build_tree({"http_assets": {"/": digest, "/tampered": digest}})
    init = encode([BLOB, BLOB], [encode_tree(tree), reconstruct(tree)])
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init(names)
            for name in names:
                procs.start_writer(name, f"{name}-w1")
            client = Client(config, answers)
            canister = client.create_canister(names[1], 1)
            client.install(names[1], canister, motoko_wasm("http_site"), init)
            frontend = FrontendBackend(config).start()
            try:
                gateway = Gateway(GatewayCanisters(frontend))
                deadline = time.monotonic() + WAIT_S
                index = page(gateway, canister, "/")
                while index.status != 200:  # the copy has the module within its bound
                    assert time.monotonic() < deadline, index
                    time.sleep(0.02)
                    index = page(gateway, canister, "/")
                assert index.body == INDEX_HTML
                assert index.header(VERIFICATION_HEADER) == "verified-v1"
                tampered = page(gateway, canister, "/tampered")
                assert tampered.status == 503
                assert tampered.header(VERIFICATION_HEADER) == "failed"
                first, second = (page(gateway, canister, "/counter") for _ in range(2))
                assert (first.status, first.body) == (200, b"counter=1"), first.body[:400]
                assert (second.status, second.body) == (200, b"counter=2")
                assert first.header(VERIFICATION_HEADER) == "update-call"
                # read-your-writes: the copy already has the round of the last update
                reply = GatewayCanisters(frontend).query(canister, "get_counter", EMPTY)
                assert list(decode(reply, [NAT])) == [2]
                missing = page(gateway, canister, "/no/such/page")
                assert (missing.status, missing.body) == (404, b"not found: /no/such/page")
            finally:
                frontend.stop()
            # A `runfrontend` process serves the page on the canister's own origin too.
            port = free_port()
            served = procs.spawn(["runfrontend", "--port", str(port)], "frontend-gateway")
            served.wait_for("icframework front end running")
            host = f"{canister.to_text()}.localhost:{port}"
            over_http = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": host},
                                  timeout=WAIT_S)
            assert over_http.status_code == 200, over_http.text[:400]
            assert over_http.content == INDEX_HTML
            assert over_http.headers[VERIFICATION_HEADER] == "verified-v1"
    finally:
        answers.close()
