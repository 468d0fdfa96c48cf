"""The dashboard pages, with and without a replica served by this process."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime
from django.test import Client, override_settings

from icframework.core import Principal
from icframework.deployments import save_canister_id
from icframework.replica.errors import CanisterError
from icframework.replica.service import ReplicaService, start_service, stop_service
from icframework.templatetags import icframework_dashboard
from tests.dashboard.support import FAIL_LINE, OWNER, build_demo, install_demo, python_runtime
from tests.replica.wat_counter import counter_wasm

__all__ = ["python_runtime"]

URL = "http://127.0.0.1:4943"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ReplicaService]:
    running = start_service(tmp_path / "state")
    with override_settings(BASE_DIR=tmp_path):
        yield running
    stop_service()


def test_without_a_replica(settings: object, tmp_path: Path) -> None:
    settings.ICFRAMEWORK = {"STATE_DIR": str(tmp_path)}  # type: ignore[attr-defined]
    page = Client().get("/").content.decode()
    assert "This process serves no replica" in page
    assert "dashboard.js" not in page


def test_lists_canisters(service: ReplicaService) -> None:
    canister = service.run(lambda replica: replica.create_canister(sender=OWNER))
    page = Client().get("/").content.decode()
    assert canister.to_text() in page
    assert "(unnamed)" in page
    assert Principal(service.replica.subnet.config.subnet_id).to_text() in page
    assert f'href="/canisters/{canister.to_text()}/"' in page


def test_figures_are_written_for_people(service: ReplicaService) -> None:
    canister = service.run(lambda replica: replica.create_canister(sender=OWNER))
    service.run(lambda replica: replica.install_code(canister, counter_wasm(), sender=OWNER))
    cycles, memory = service.run(lambda replica: (
        replica.subnet.canister_state.states[canister.raw].cycles,
        replica.subnet.canister_state.memory_usage(canister.raw)))
    page = Client().get("/").content.decode()
    assert f'title="{cycles:,} cycles">{icframework_dashboard.cycles(cycles)}</td>' in page
    assert f'title="{memory:,} bytes">{icframework_dashboard.bytes_size(memory)}</td>' in page
    assert f">{cycles}<" not in page  # no bare digits

    detail = Client().get(f"/canisters/{canister}/").content.decode()
    assert f"{icframework_dashboard.cycles(cycles)} <span" in detail
    assert f"({cycles:,})" in detail


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (999, "999"), (1_000, "1.00 k"), (1_999_999, "1.99 M"),
    (2_500_000_000, "2.50 B"), (99_999_644_376_836, "99.99 T"),
    (1_234_567_000_000_000, "1,234.56 T"),
])
def test_cycles_are_shortened_rounding_down(value: int, text: str) -> None:
    assert icframework_dashboard.cycles(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (None, "–"), (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (121_007, "118.1 KiB"),
    (1_644_290, "1.5 MiB"), (3 << 30, "3.0 GiB"),
])
def test_bytes_are_written_in_binary_units(value: int | None, text: str) -> None:
    assert icframework_dashboard.bytes_size(value) == text


def test_gateway_link_only_for_a_canister_that_serves_http(service: ReplicaService) -> None:
    counter = service.run(lambda replica: replica.create_canister(sender=OWNER))
    service.run(lambda replica: replica.install_code(counter, counter_wasm(), sender=OWNER))
    page = Client().get("/", SERVER_PORT="4943").content.decode()
    assert f'<a href="http://{counter}.localhost:4943/"' not in page
    assert "canisterId=" not in page


def test_gateway_link_is_a_short_label_with_the_origin_in_href_and_title(
        service: ReplicaService) -> None:
    site = service.run(lambda replica: replica.create_canister(sender=OWNER))
    module = bytes(wasmtime.wat2wasm('(module (func (export "canister_query http_request")))'))
    service.run(lambda replica: replica.install_code(site, module, sender=OWNER))
    origin = f"http://{site}.localhost:4943/"
    link = (f'<a href="{origin}" title="{origin}" rel="noopener noreferrer">'
            "Open site</a>")
    assert link in Client().get("/", SERVER_PORT="4943").content.decode()
    assert link in Client().get(f"/canisters/{site}/", SERVER_PORT="4943").content.decode()
    assert f">{origin}<" not in Client().get("/", SERVER_PORT="4943").content.decode()


def test_names_app_pages_interface_and_traps(service: ReplicaService, tmp_path: Path,
                                             python_runtime: None) -> None:
    canister = service.run(lambda replica: install_demo(replica, tmp_path))
    save_canister_id("chat", canister, URL)
    with pytest.raises(CanisterError):
        service.run(lambda replica: replica.update(canister, "fail"))

    page = Client().get("/").content.decode()
    assert "<strong>chat</strong>" in page
    assert 'href="/chat/"' in page  # the app registered under the recorded name
    assert f"canister.py:{FAIL_LINE} in fail" in page
    assert "ValueError: no good" in page
    assert f'<strong title="{canister}">chat</strong> in <code>fail</code>' in page

    wasm, did = build_demo(tmp_path)
    detail = Client().get(f"/canisters/{canister}/").content.decode()
    assert f'<code id="module-hash">0x{hashlib.sha256(wasm).hexdigest()}</code>' in detail
    assert f"code install · module 0x{hashlib.sha256(wasm).hexdigest()}" in detail
    assert OWNER.to_text() in detail
    assert "code install" in detail
    assert "add : (nat, text) -&gt; (nat);" in detail
    assert 'src="/static/icframework/candid-form.js"' in detail
    assert re.search(r"[\d,]+ messages?, [\d,]+ instructions?, .* cycles? burned, 1 trap</td>",
                     detail)  # "1 trap", not "1 traps"

    served = Client().get(f"/canisters/{canister}/candid.did")
    assert served.status_code == 200
    assert served.content.decode() == did


def test_history_shows_upgrades(service: ReplicaService, tmp_path: Path,
                                python_runtime: None) -> None:
    canister = service.run(lambda replica: install_demo(replica, tmp_path))
    wasm, _did = build_demo(tmp_path)
    service.run(lambda replica: replica.install_code(canister, wasm, mode="upgrade",
                                                     sender=OWNER))
    detail = Client().get(f"/canisters/{canister}/").content.decode()
    assert detail.index("code upgrade") < detail.index("code install")  # newest first
    assert "creation" in detail


def test_unknown_or_malformed_canister_is_404(service: ReplicaService) -> None:
    unknown = Principal.from_text("rrkah-fqaaa-aaaaa-aaaaq-cai")
    assert Client().get(f"/canisters/{unknown}/").status_code == 404
    assert Client().get("/canisters/not-a-principal/").status_code == 404
    empty = service.run(lambda replica: replica.create_canister(sender=OWNER))
    assert Client().get(f"/canisters/{empty}/candid.did").status_code == 404
    page = Client().get(f"/canisters/{empty}/").content.decode()
    assert "no module installed" in page
