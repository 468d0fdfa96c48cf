"""Headless Chromium for the browser tests: where it is, how it starts, how long pages may take.

A browser test module marks itself `requires_chromium` (skipped without Debian's
Chromium), serves its pages with `tests.agent.live_replica.served_project` and drives
them in the browser `chromium` launches. Every Playwright wait is bounded by `WAIT_MS`
(``expect``'s and, through `new_context`, the page actions'): generous, since nothing
asserts how fast anything is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
)
#: the upper bound of every wait for a page to show a state, in milliseconds
WAIT_MS = 60_000
# No sandbox (the tests run as root in containers), no GPU, and no traffic of its own.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless with `CHROMIUM_ARGS`, under Playwright; closed after.

    From here on, ``expect`` waits up to `WAIT_MS` for what it checks.
    """
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser: Any, **options: Any) -> Any:
    """``browser.new_context(**options)`` whose page actions wait up to `WAIT_MS`."""
    context = browser.new_context(**options)
    context.set_default_timeout(WAIT_MS)
    return context


def console_errors(page: Any) -> list[str]:
    """The errors ``page`` will log, as they come: console errors (a CSP violation
    included) and uncaught exceptions (``uncaught: ...``)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    return errors


def wait_until(page: Any, expression: str, *, poll_seconds: float = 0.05) -> None:
    """Wait (up to `WAIT_MS`) until the JavaScript ``expression`` is truthy on ``page``,
    or, given a locator, until it (a function of the element) is truthy on the element
    the locator finds at each check (a list that draws its items again replaces the
    element an element handle would hold).

    Polls with ``evaluate``, which the page's Content-Security-Policy does not govern:
    Playwright's own ``wait_for_function`` compiles its predicate in the page when the
    first check fails, which a CSP without ``'unsafe-eval'`` refuses.
    """
    deadline = time.monotonic() + WAIT_MS / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {WAIT_MS} ms: {expression}")
        time.sleep(poll_seconds)
