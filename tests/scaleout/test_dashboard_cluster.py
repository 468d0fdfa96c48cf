"""The dashboard on a scale-out front end: a real cluster (two subnet writers, one
``runfrontend``) shows both subnets, their leases and heights, and a canister's page
for a canister on the app subnet; the live frame follows each subnet's copy."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from icframework.agent import Agent, ManagementCanister
from icframework.candid import NAT64
from icframework.candid.binary import decode
from icframework.channels.dashboard import live_frame
from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.replica import PostgresRegistry, set_api_backend, subnet_range
from icframework.scaleout import ClusterConfig, FrontendBackend
from tests.browser import chromium, console_errors, new_context, requires_chromium
from tests.replica.corpus import wat_wasm
from tests.scaleout.cluster_support import WAIT_S, ClusterProcesses, Proc, unique_names
from tests.scaleout.test_frontend_cluster import free_port

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services

EMPTY = b"DIDL\x00\x00"
DID = "service : { inc : () -> (nat64); get : () -> (nat64) query }\n"


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def with_candid(wasm: bytes, did: str) -> bytes:
    """``wasm`` with an ``icp:public candid:service`` custom section holding ``did``."""
    name = b"icp:public candid:service"
    payload = _leb(len(name)) + name + did.encode()
    return wasm + b"\x00" + _leb(len(payload)) + payload


class Running:
    def __init__(self, procs: ClusterProcesses, names: list[str], frontend: Proc,
                 url: str) -> None:
        self.procs, self.names, self.frontend, self.url = procs, names, frontend, url


@pytest.fixture
def cluster(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[Running]:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(2)
    with ClusterProcesses(tmp_path, config) as procs:
        procs.init(names)
        for name in names:
            procs.start_writer(name, f"{name}-writer")
        port = free_port()
        frontend = procs.spawn(["runfrontend", "--port", str(port)], "frontend")
        frontend.wait_for("icframework front end running")
        yield Running(procs, names, frontend, f"http://127.0.0.1:{port}")


def _counter(agent: Agent) -> Principal:
    """A counter canister on the app subnet (subnet 1), incremented once."""
    management = ManagementCanister(agent)
    canister = management.provisional_create_canister_with_cycles(
        effective_canister_id=Principal.from_canister_index(subnet_range(1).first))
    management.install_code(canister, with_candid(wat_wasm("counter"), DID))
    (value,) = decode(agent.update(canister, "inc", EMPTY), [NAT64])
    assert value == 1
    return canister


def _page(url: str, needles: list[str]) -> str:
    """The page at ``url`` once it shows every needle (the front end's copies lag the
    writers by their staleness bound; the timeout only guards against a hang)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        response = httpx.get(url, timeout=WAIT_S)
        if response.status_code == 200 and all(n in response.text for n in needles):
            return response.text
        if time.monotonic() > deadline:
            missing = [n for n in needles if n not in response.text]
            raise AssertionError(f"{url}: {response.status_code}, missing {missing}:\n"
                                 f"{response.text[:2000]}")
        time.sleep(0.05)


def test_front_end_dashboard_shows_every_subnet(cluster: Running) -> None:
    with PostgresRegistry(cluster.procs.config.database_url) as registry:
        records = [registry.subnet(name) for name in cluster.names]
    agent = Agent(cluster.url, Ed25519Identity.generate(), fetch_root_key=True)
    canister = _counter(agent)
    root, app = cluster.names
    subnet_ids = [Principal(record.subnet_id).to_text() for record in records]
    page = _page(f"{cluster.url}/", [canister.to_text(), *subnet_ids])
    assert "Cluster front end" in page
    for name, subnet_id, number in zip(cluster.names, subnet_ids, (0, 1), strict=True):
        row = re.search(rf'<tr data-subnet="{name}">(.*?)</tr>', page, re.S)
        assert row is not None, page
        assert subnet_id in row[1]
        assert str(subnet_range(number)) in row[1]
        assert f"{name}-writer" in row[1]  # the lease holder
        assert ('<span class="badge">root</span>' in row[1]) is (name == root)
    canister_row = re.search(rf'<tr data-canister="{canister}">(.*?)</tr>', page, re.S)
    assert canister_row is not None
    assert f'data-label="Subnet">{app}<' in canister_row[1]
    # The canister page and its interface, read from the app subnet's copy.
    detail = _page(f"{cluster.url}/canisters/{canister}/", ["Module hash"])
    assert f'data-subnet="{app}"' in detail
    assert subnet_ids[1] in detail
    assert "running" in detail
    assert "inc : () -&gt; (nat64)" in detail  # the interface, from the copy
    candid = httpx.get(f"{cluster.url}/canisters/{canister}/candid.did", timeout=WAIT_S)
    assert candid.status_code == 200 and candid.text == DID
    ghost = Principal.from_canister_index(subnet_range(1).first + 999)
    assert httpx.get(f"{cluster.url}/canisters/{ghost}/", timeout=WAIT_S).status_code == 404
    agent.close()


def test_live_frame_follows_each_subnet(cluster: Running) -> None:
    """The socket's frame, built by a front-end backend in this process: every subnet
    with its lease, and the app subnet's height moves after an update there."""
    agent = Agent(cluster.url, Ed25519Identity.generate(), fetch_root_key=True)
    canister = _counter(agent)
    backend = FrontendBackend(cluster.procs.config, cache_dir=cluster.procs.tmp_path / "cache")
    backend.start()
    set_api_backend(backend)
    try:
        frame = live_frame()
        assert frame is not None
        subnets = {subnet["name"]: subnet for subnet in frame["subnets"]}
        assert list(subnets) == cluster.names  # root first
        root, app = cluster.names
        assert subnets[root]["is_root"] and not subnets[app]["is_root"]
        for name in cluster.names:
            assert subnets[name]["lease_holder"] == f"{name}-writer"
            assert subnets[name]["lease_epoch"] >= 1
            assert subnets[name]["committed_height"] >= subnets[name]["height"] > 0
        assert {row["id"]: row["subnet"] for row in frame["rows"]}[canister.to_text()] == app
        before = subnets[app]["height"]
        agent.update(canister, "inc", EMPTY)
        deadline = time.monotonic() + WAIT_S
        while True:
            later = live_frame()
            assert later is not None
            height = {s["name"]: s["height"] for s in later["subnets"]}[app]
            if height > before:
                break
            assert time.monotonic() < deadline, f"the app subnet stayed at {before}"
            time.sleep(0.05)
    finally:
        set_api_backend(None)
        backend.stop()
        agent.close()



@requires_chromium
def test_a_browser_on_the_front_end(cluster: Running) -> None:
    """The canister page's method form calls the app subnet's canister through the front
    end (update to its writer, query on the copy); the landing page's live socket
    connects and the app subnet's row follows its copy's height."""
    from playwright.sync_api import expect

    agent = Agent(cluster.url, Ed25519Identity.generate(), fetch_root_key=True)
    canister = _counter(agent)
    app = cluster.names[1]
    with chromium() as browser:
        context = new_context(browser)
        page = context.new_page()
        errors = console_errors(page)
        page.goto(f"{cluster.url}/canisters/{canister}/")
        expect(page.locator("#method-forms")).to_have_attribute("data-ready", "true")
        page.locator("form[data-method=inc] button[type=submit]").click()
        expect(page.locator("form[data-method=inc] output")).to_have_text("(2)")
        page.locator("form[data-method=get] button[type=submit]").click()
        expect(page.locator("form[data-method=get] output")).to_have_text("(2)")
        page.goto(f"{cluster.url}/")
        expect(page.locator("#live-status")).to_have_text("live")
        height = page.locator(f'tr[data-subnet="{app}"] [data-field="height"]')
        shown = int((height.text_content() or "0").replace(",", ""))
        agent.update(canister, "inc", EMPTY)
        expect(height).not_to_have_text(f"{shown:,}")  # the socket moved it
        assert errors == []
        context.close()
    agent.close()
