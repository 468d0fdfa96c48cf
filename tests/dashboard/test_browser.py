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

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agent.live_replica import served_project
from tests.browser import chromium, console_errors, new_context, requires_chromium
from tests.dashboard.support import FAIL_LINE, SOURCE

pytestmark = requires_chromium


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(replica URL, greeter canister id) of a runreplica with the greeter deployed."""
    project = tmp_path_factory.mktemp("dashboard_project")
    app = project / "greeter"
    app.mkdir()
    (app / "canister.py").write_text(SOURCE, encoding="utf-8")
    with served_project(project, demo=False) as served:
        printed = served.deploy(app)
        assert printed.startswith("greeter: canister "), printed
        yield served.url, printed.split()[2]


@pytest.fixture(scope="module")
def browser(deployed: tuple[str, str]) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_the_method_form_calls_an_update_and_a_query(browser: Any,
                                                     deployed: tuple[str, str]) -> None:
    from playwright.sync_api import expect

    url, canister = deployed
    context = new_context(browser)
    page = context.new_page()
    errors = console_errors(page)
    page.goto(f"{url}/canisters/{canister}/")
    expect(page.locator("#method-forms")).to_have_attribute("data-ready", "true")
    principal = page.locator("#caller").text_content()
    assert principal and principal != "2vxsx-fae"  # the browser's own key, not anonymous

    add = page.locator("form[data-method=add]")
    add.locator("[name=arg0]").fill("5")
    add.locator("[name=arg1]").fill("a note")
    add.locator("button[type=submit]").click()
    expect(add.locator("output")).to_have_text("(5)")
    add.locator("[name=arg0]").fill("37")
    add.locator("button[type=submit]").click()
    expect(add.locator("output")).to_have_text("(42)")

    greet = page.locator("form[data-method=greet]")
    greet.locator("[name=arg0]").fill("dashboard")
    greet.locator("[name=arg1]").check()
    greet.locator("button[type=submit]").click()
    expect(greet.locator("output")).to_have_text('("HELLO DASHBOARD")')

    add.locator("[name=arg0]").fill("-1")
    add.locator("button[type=submit]").click()
    expect(add.locator("output")).to_have_text('arg0: "-1" is not a natural number')

    fail = page.locator("form[data-method=fail]")
    fail.locator("button[type=submit]").click()
    expect(fail.locator("output")).to_contain_text(f"canister.py:{FAIL_LINE} in fail")
    expect(fail.locator("output")).to_contain_text("IC0503")
    expect(fail.locator("output")).not_to_contain_text("HTTP details")

    page.goto(f"{url}/")
    expect(page.locator("#live-status")).to_have_text("live")
    expect(page.locator("#canisters")).to_contain_text("greeter")
    calls = page.locator("#calls")
    expect(calls).to_contain_text("greet")
    expect(calls.locator("tr", has_text="add").first).to_contain_text("replied")
    expect(page.locator("#traps .dash-location").first).to_have_text(
        f"canister.py:{FAIL_LINE} in fail")
    expect(page.locator("#figure-rounds")).not_to_have_text("–")
    # the calls above ran before this page opened: no lines, the chart says it is idle
    expect(page.locator("#chart-instructions")).to_have_attribute(
        "data-state", re.compile("^(idle|drawn)$"))
    expect(page.locator("#legend-instructions")).to_contain_text("greeter")
    assert errors == []
    context.close()
