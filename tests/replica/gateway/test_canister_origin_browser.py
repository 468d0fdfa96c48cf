"""A hostile canister in real headless Chromium against ``runreplica --demo``: it cannot
reach the keys of the apps the replica serves.

The attack: ``http://127.0.0.1:<port>/?canisterId=<id>`` served any canister's HTTP
responses on the origin of ``/chat/`` and ``/market/``, whose pages kept each user's
private key in localStorage; a canister answering with a ``<script>`` read both. Here a
tiny canister (hand-written WAT: ``http_request`` answers an HTML page whose script
looks through localStorage and IndexedDB for keys, tries ``crypto.subtle.exportKey`` on
every ``CryptoKey`` it finds and writes what it found into the page) is opened that way
in a browser where both apps have made their key. The gateway redirects it to the
canister's own origin, where it finds nothing. The same probe run on the app's origin
(a positive control) finds the browser's key — a ``CryptoKey`` whose private half
``exportKey`` refuses. Waits are Playwright's; nothing is timed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import wasmtime

from icframework.agent import Agent, ManagementCanister
from icframework.candid import BLOB, NAT16, Field, Record, encode
from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.replica.gateway import HEADERS
from tests.agent.live_replica import ServedProject
from tests.browser import WAIT_MS, chromium, requires_chromium

pytestmark = requires_chromium

# Everything a script can find of the origin's keys, as JSON in #report.
PROBE = """(async () => {
  const found = { origin: location.origin, localStorage: {}, databases: [], keys: [] };
  for (let i = 0; i < localStorage.length; i += 1) {
    const name = localStorage.key(i);
    found.localStorage[name] = localStorage.getItem(name);
  }
  const ask = (request) => new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  for (const { name } of await indexedDB.databases()) {
    found.databases.push(name);
    const db = await ask(indexedDB.open(name));
    for (const store of db.objectStoreNames) {
      for (const record of await ask(db.transaction(store).objectStore(store).getAll())) {
        for (const value of Object.values(record || {})) {
          if (!(value instanceof CryptoKey)) continue;
          const key = { algorithm: value.algorithm.name, type: value.type,
                        extractable: value.extractable, exported: null };
          for (const format of ['pkcs8', 'jwk', 'spki', 'raw']) {
            try { await crypto.subtle.exportKey(format, value); key.exported = format; break; }
            catch (error) { key.refused = error.name; }
          }
          found.keys.push(key);
        }
      }
    }
    db.close();
  }
  return found;
})()"""

HOSTILE_PAGE = (
    "<!doctype html><title>A friendly canister</title><pre id=report>probing</pre><script>"
    f"{PROBE}.then((found) => {{ document.getElementById('report').textContent = "
    "JSON.stringify(found); document.title = 'probed'; });</script>"
).encode()

HTTP_RESPONSE = Record([Field("status_code", NAT16), Field("headers", HEADERS),
                        Field("body", BLOB)])


def hostile_wasm() -> bytes:
    """A canister whose every ``http_request`` answers `HOSTILE_PAGE`."""
    reply = encode([HTTP_RESPONSE], [{
        "status_code": 200, "headers": [("content-type", "text/html; charset=utf-8")],
        "body": HOSTILE_PAGE}])
    data = "".join(f"\\{byte:02x}" for byte in reply)
    return bytes(wasmtime.wat2wasm(f"""(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "{data}")
  (func (export "canister_query http_request")
    (call $append (i32.const 0) (i32.const {len(reply)}))
    (call $reply)))"""))


@pytest.fixture(scope="module")
def served(demo_project: ServedProject) -> tuple[str, Principal]:
    """The session's demo replica's URL (`tests.demo_server`) and the hostile canister
    installed on it."""
    with Agent(demo_project.url, identity=Ed25519Identity.generate(),
               fetch_root_key=True) as agent:
        management = ManagementCanister(agent)
        canister = management.provisional_create_canister_with_cycles()
        management.install_code(canister, hostile_wasm())
    return demo_project.url, canister


@pytest.fixture(scope="module")
def browser(served: tuple[str, Principal]) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def open_both_apps(context: Any, url: str) -> Any:
    """Load the marketplace and the chat page, each of which makes or loads the key."""
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(f"{url}/market/")
    expect(page.locator("#browse")).to_have_attribute("data-ready", "true")
    market_principal = page.evaluate("window.marketApp.principal.toText()")
    page.goto(f"{url}/chat/")
    expect(page.locator("#signin")).to_be_visible()
    assert page.locator("#principal").text_content() == market_principal  # one key, both apps
    return page


def test_a_hostile_canister_is_sent_to_its_own_origin_and_finds_no_key(
        browser: Any, served: tuple[str, Principal]) -> None:
    from playwright.sync_api import expect

    url, canister = served
    port = url.rsplit(":", 1)[1]
    context = browser.new_context()
    page = open_both_apps(context, url)

    page.goto(f"{url}/?canisterId={canister}")
    expect(page).to_have_title("probed")
    assert page.url == f"http://{canister}.localhost:{port}/"
    found = json.loads(page.locator("#report").text_content() or "")
    assert found == {"origin": f"http://{canister}.localhost:{port}", "localStorage": {},
                     "databases": [], "keys": []}
    # A deep link keeps its path and query, minus canisterId.
    page.goto(f"{url}/some/page?canisterId={canister}&x=1")
    expect(page).to_have_title("probed")
    assert page.url == f"http://{canister}.localhost:{port}/some/page?x=1"
    context.close()


def test_on_the_apps_origin_the_key_is_a_crypto_key_that_cannot_be_exported(
        browser: Any, served: tuple[str, Principal]) -> None:
    url, _ = served
    context = browser.new_context()
    page = open_both_apps(context, url)
    found = page.evaluate(PROBE)
    assert found["origin"] == url
    assert found["localStorage"] == {}
    assert found["databases"] == ["icframework"]
    assert sorted(found["keys"], key=lambda key: key["type"]) == [
        {"algorithm": "ECDSA", "type": "private", "extractable": False, "exported": None,
         "refused": "InvalidAccessError"},
        # the public half is public (pkcs8 is refused: it is a format for private keys)
        {"algorithm": "ECDSA", "type": "public", "extractable": True, "exported": "jwk",
         "refused": "InvalidAccessError"},
    ]
    context.close()


def test_the_app_pages_cannot_be_framed_by_a_canister(
        browser: Any, served: tuple[str, Principal]) -> None:
    # Framed, an app page would run under a canister's page (clickjacking its buttons);
    # frame-ancestors 'none' and X-Frame-Options: DENY make Chromium refuse to render it.
    url, canister = served
    port = url.rsplit(":", 1)[1]
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"http://{canister}.localhost:{port}/")
    page.evaluate("""(src) => new Promise((resolve) => {
      const frame = document.createElement('iframe');
      frame.onload = () => resolve();
      frame.src = src;
      document.body.append(frame);
    })""", f"{url}/market/")
    (framed,) = [frame for frame in page.frames if frame != page.main_frame]
    # The frame's load event can reach the page before Playwright has heard of the
    # navigation it committed (its URL is still ''): let the browser's events catch up.
    deadline = time.monotonic() + WAIT_MS / 1000
    while framed.url == "" and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert framed.url == "chrome-error://chromewebdata/"  # the refusal page, not ours
    assert framed.locator("#browse").count() == 0
    context.close()
