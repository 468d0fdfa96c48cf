"""Every page on the shared shell in headless Chromium, at phone and desktop widths, light and dark.

A module fixture starts ``manage.py runreplica --demo`` (every app seeded) in a scratch
project that reuses the checkout's build caches, and launches Debian's Chromium. Each
page the shell links to — the dashboard, chat and marketplace, and any app added later —
plus the page that ``startdapp`` scaffolds (its template rendered as a new app's view
renders it, served at ``/hello/`` on the same origin) is opened as a first-time visitor
at 390×844 and 1280×800, in the light and the dark colour scheme, and saved as
``.build/screenshots/<page>-<width>-<scheme>.png`` for people to look at. Checks on
each: the shell's navigation is visible and marks the page, every link in it answers,
nothing is wider than the screen, the primary button and the current link take the
design tokens' colour, the background is the scheme's token, and the browser logged
no error (a CSP violation included). The theme toggle switches the page to the other
scheme and keeps the choice across a reload.

Waits are Playwright's with a generous upper bound; nothing asserts how fast anything is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.template import engines
from django.test import RequestFactory

from icframework.templatetags.icframework_shell import nav_items
from tests.agent.live_replica import ServedProject
from tests.browser import chromium, console_errors, new_context, requires_chromium, wait_until

pytestmark = requires_chromium

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / ".build" / "screenshots"
SCAFFOLD = ROOT / "icframework" / "compiler" / "templates" / "index.html.tmpl"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
#: the body's background in each scheme: design.css's --color-bg
BACKGROUND = {"light": "rgb(245, 246, 250)", "dark": "rgb(15, 17, 23)"}


@dataclass(frozen=True)
class Page:
    """A page to photograph: its name in the file, its path and what shows it is ready."""

    name: str
    path: str
    ready: str  # a selector that is visible once the page has rendered what it loads


PAGES = [
    # two live frames in: the charts show a rate (or say they are idle)
    Page("dashboard", "/", "#chart-subnet:is([data-state=idle], [data-state=drawn])"),
    Page("chat", "/chat/", "#landing-preview"),
    Page("market", "/market/", "#browse[data-ready=true] #listings li img"),
    Page("social", "/social/", "#public-feed[data-ready=true] #public-posts li img.post-image"),
    Page("scaffold", "/hello/", "#canister-id"),
]
PAGES += [Page(item.url.strip("/"), item.url, ".shell-nav") for item in nav_items("")
          if item.url and item.url not in {p.path for p in PAGES}]


@pytest.fixture(scope="module")
def demo_url(demo_project: ServedProject) -> str:
    """The URL of the session's served demo (`tests.demo_server`): the apps seeded and the
    transcoding worker running, whose calls (``worker_original_chunk``) fill the
    dashboard's recent calls, which must still fit a phone's screen."""
    return demo_project.url


@pytest.fixture(scope="module")
def browser(demo_url: str) -> Iterator[Any]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as launched:
        yield launched


def scaffolded_page() -> str:
    """The page ``startdapp hello`` scaffolds, as its view renders it once deployed."""
    source = SCAFFOLD.read_text("utf-8").replace("__APP_NAME__", "hello")
    request = RequestFactory().get("/hello/")
    return engines["django"].from_string(source).render(
        {"canister_id": "bkyz2-fmaaa-aaaaa-qaaaq-cai",
         "did": "service : {\n  greet : (text) -> (text) query;\n}"},
        request,
    )


def open_page(browser: Any, url: str, page_spec: Page, viewport: str,
              scheme: str) -> tuple[Any, list[str]]:
    """A fresh visitor's tab on ``page_spec``, rendered, and the errors its console logs."""
    from playwright.sync_api import expect

    context = new_context(browser, viewport=VIEWPORTS[viewport], color_scheme=scheme)
    page = context.new_page()
    errors = console_errors(page)
    if page_spec.name == "scaffold":
        html = scaffolded_page()
        page.route(f"{url}/hello/", lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", body=html,
            headers={"Content-Security-Policy": "default-src 'self'; script-src 'self'; "
                     "style-src 'self'; img-src 'self' data:; object-src 'none'"}))
    page.goto(f"{url}{page_spec.path}")
    expect(page.locator(page_spec.ready).first).to_be_visible()
    wait_until(page, "[...document.images].every((img) => img.complete)")
    return page, errors


def token(page: Any, name: str, prop: str = "color") -> str:
    """The computed ``prop`` of an element styled with ``var(name)``: a token as the page
    resolves it (rgb(...))."""
    return str(page.evaluate(
        """([name, prop]) => {
          const probe = document.createElement('span');
          probe.style.setProperty(prop, `var(${name})`);
          document.body.append(probe);
          const value = getComputedStyle(probe).getPropertyValue(prop);
          probe.remove();
          return value;
        }""", [name, prop]))


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("page_spec", PAGES, ids=[p.name for p in PAGES])
def test_every_page_wears_the_shell(browser: Any, demo_url: str, page_spec: Page,
                                    viewport: str, scheme: str) -> None:
    from playwright.sync_api import expect

    page, errors = open_page(browser, demo_url, page_spec, viewport, scheme)
    try:
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / f"{page_spec.name}-{viewport}-{scheme}.png"),
                        full_page=True)
        nav = page.locator(".shell-nav")
        expect(nav).to_be_visible()
        current = nav.locator("a[aria-current=page]")
        if page_spec.name != "scaffold":
            expect(current).to_have_attribute("href", page_spec.path)
            assert current.evaluate("(a) => getComputedStyle(a).color") == token(
                page, "--color-primary")
        # no dead links: every entry with an address answers, the others are marked soon
        for href in nav.locator("a").evaluate_all("(links) => links.map((a) => a.href)"):
            assert httpx.get(href, timeout=30).status_code == 200, href
        for soon in nav.locator(".shell-nav-soon").all():
            assert soon.get_attribute("aria-disabled") == "true"
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{page_spec.path} is {width[0]} px wide on {width[1]} px"
        if page_spec.name == "dashboard":  # its tables fit too, rather than scroll inside
            for wide in page.locator(".table-wrap").evaluate_all(
                    "(wraps) => wraps.map((w) => w.scrollWidth - w.clientWidth)"):
                assert wide <= 0, f"a dashboard table is {wide} px too wide on {viewport}"
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == \
            BACKGROUND[scheme] == token(page, "--color-bg", "background-color")
        # the first primary button outside a hero banner (where primary is white on colour)
        primary = page.locator(
            ":is(button[type=submit], .btn-primary):not(.hero *):visible").first
        if primary.count():
            assert primary.evaluate("(b) => getComputedStyle(b).backgroundColor") == token(
                page, "--color-primary", "background-color")
        assert errors == []
    finally:
        page.context.close()


def test_the_theme_toggle_switches_the_scheme_and_remembers_it(browser: Any,
                                                               demo_url: str) -> None:
    from playwright.sync_api import expect

    page, errors = open_page(browser, demo_url, PAGES[1], "phone", "light")
    try:
        background = "() => getComputedStyle(document.body).backgroundColor"
        toggle = page.locator("#theme-toggle")
        expect(toggle).to_have_attribute("aria-pressed", "false")
        toggle.click()
        expect(toggle).to_have_attribute("aria-pressed", "true")
        assert page.evaluate(background) == BACKGROUND["dark"]
        page.reload()
        expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "true")
        assert page.evaluate(background) == BACKGROUND["dark"]
        page.locator("#theme-toggle").click()
        assert page.evaluate(background) == BACKGROUND["light"]
        assert errors == []
    finally:
        page.context.close()
