"""The dashboard in real headless Chromium against a real ``runreplica``.

A module fixture starts ``manage.py runreplica`` on a free port in a scratch project,
deploys the tests' greeter canister (`tests.dashboard.support`) with ``manage.py
deploy`` and launches Debian's Chromium. Through the canister page's method form the
browser calls an update and a query, signed with its own non-extractable key, and sees
the Candid replies; a bad input is refused in the form; the dashboard goes live over
its socket and shows the calls, the canister's name and a trap's Python file:line. The
pages run under the replica's strict CSP, so a blocked inline script or style would
show as a console error, and there must be none. Waits are Playwright's; nothing is
timed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.agent.live_replica import free_port, wait_until_serving
from tests.dashboard.support import FAIL_LINE, SOURCE

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
)
ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 60_000
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

SERVE = """
import os, sys
from pathlib import Path
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
from django.conf import settings
settings.BASE_DIR = Path(sys.argv[1])
import django
django.setup()
from django.core.management import call_command
call_command("runreplica", "--port", sys.argv[2], "--state-dir", sys.argv[3])
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(replica URL, greeter canister id) of a runreplica with the greeter deployed."""
    project = tmp_path_factory.mktemp("dashboard_project")
    app = project / "greeter"
    app.mkdir()
    (app / "canister.py").write_text(SOURCE, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = project / "runreplica.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(project), str(port), str(project / "state")],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "ICFRAMEWORK_HOME": str(project / "home")},
        )
    try:
        wait_until_serving(process, url, log)
        with pytest.MonkeyPatch.context() as env, override_settings(BASE_DIR=project):
            env.setenv("ICFRAMEWORK_HOME", str(project / "home"))
            env.setenv("DFX_CONFIG_ROOT", str(project / "dfxroot"))
            printed = StringIO()
            call_command("deploy", str(app), "--network", url, stdout=printed, stderr=StringIO())
        assert printed.getvalue().startswith("greeter: canister "), printed.getvalue()
        yield url, printed.getvalue().split()[2]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(deployed: tuple[str, str]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def test_the_method_form_calls_an_update_and_a_query(browser: Any,
                                                     deployed: tuple[str, str]) -> None:
    from playwright.sync_api import expect

    url, canister = deployed
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.goto(f"{url}/canisters/{canister}/")
    expect(page.locator("#method-forms")).to_have_attribute("data-ready", "true", timeout=WAIT_MS)
    principal = page.locator("#caller").text_content()
    assert principal and principal != "2vxsx-fae"  # the browser's own key, not anonymous

    add = page.locator("form[data-method=add]")
    add.locator("[name=arg0]").fill("5")
    add.locator("[name=arg1]").fill("a note")
    add.locator("button[type=submit]").click()
    expect(add.locator("output")).to_have_text("(5)", timeout=WAIT_MS)
    add.locator("[name=arg0]").fill("37")
    add.locator("button[type=submit]").click()
    expect(add.locator("output")).to_have_text("(42)", timeout=WAIT_MS)

    greet = page.locator("form[data-method=greet]")
    greet.locator("[name=arg0]").fill("dashboard")
    greet.locator("[name=arg1]").check()
    greet.locator("button[type=submit]").click()
    expect(greet.locator("output")).to_have_text('("HELLO DASHBOARD")', timeout=WAIT_MS)

    add.locator("[name=arg0]").fill("-1")
    add.locator("button[type=submit]").click()
    expect(add.locator("output")).to_have_text('arg0: "-1" is not a natural number')

    fail = page.locator("form[data-method=fail]")
    fail.locator("button[type=submit]").click()
    expect(fail.locator("output")).to_contain_text(f"canister.py:{FAIL_LINE} in fail",
                                                   timeout=WAIT_MS)
    expect(fail.locator("output")).to_contain_text("IC0503")
    expect(fail.locator("output")).not_to_contain_text("HTTP details")

    page.goto(f"{url}/")
    expect(page.locator("#live-status")).to_have_text("live", timeout=WAIT_MS)
    expect(page.locator("#canisters")).to_contain_text("greeter")
    calls = page.locator("#calls")
    expect(calls).to_contain_text("greet")
    expect(calls.locator("tr", has_text="add").first).to_contain_text("replied")
    expect(page.locator("#traps .dash-location").first).to_have_text(
        f"canister.py:{FAIL_LINE} in fail")
    expect(page.locator("#figure-rounds")).not_to_have_text("–", timeout=WAIT_MS)
    expect(page.locator("#chart-instructions polyline").first).to_be_attached()
    assert errors == []
    context.close()
