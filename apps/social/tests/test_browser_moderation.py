"""The social page's moderation and clean-up controls in real headless Chromium against
``runreplica --demo`` (as test_browser.py serves it).

The moderator is the demo admin (``<state dir>/admin.pem``, which the seeder names in
the canister's install argument): its Ed25519 key is handed to the browser the way the
bundle's `browserIdentity` migrates an older app's key (a ``[DER public key, seed]``
hex pair in localStorage, put there by an init script and read once, when IndexedDB
holds no key yet), so the page signs as the admin without test-only code in the page.
Two people sign up with keys of their own. One posts; the other comments on the post
and edits the comment, reports the post, then blocks the author and unblocks them from
the network page. The moderator sees the Moderation tab (nobody else does), finds the
report with the post's text and the reason, and resolves it by deleting the post, which
is then gone for its readers.

Then the other controls the page gained with it: who endorsed a skill (the count
clicked), a recommendation asked for and written by the person asked, a job its
organisation's admin closes and reopens, an application withdrawn, and an attested
role revoked by its member.
Waits are Playwright's (until the page shows the state); nothing is timed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from apps.social.tests.test_browser import (
    ERRORS,
    attest_role,
    open_organisation_with_job,
    open_profile,
    register,
)
from icframework.identity import Ed25519Identity
from icframework.replica.admin import admin_identity
from tests.agent.live_replica import ServedProject
from tests.browser import chromium, console_errors, new_context, requires_chromium

pytestmark = requires_chromium

#: where `browserIdentity` looks for an older app's key to migrate (social.js LEGACY_KEYS)
LEGACY_KEY = "icframework.chat.identity"


@pytest.fixture(scope="module")
def served(demo_project: ServedProject) -> ServedProject:
    """The session's demo (`tests.demo_server`): chat, marketplace and the seeded social
    network."""
    return demo_project


@pytest.fixture(scope="module")
def browser(served: ServedProject) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def sign_in_as_moderator(browser: Any, served: ServedProject) -> Any:
    """A browser context whose key is the demo admin's, signed up on the page."""
    from playwright.sync_api import expect

    admin = admin_identity(served.root / "state")
    assert isinstance(admin, Ed25519Identity), admin
    context = new_context(browser, viewport={"width": 1280, "height": 900})
    key = json.dumps([admin.der_public_key.hex(), admin.seed.hex()])
    context.add_init_script(f"localStorage.setItem({json.dumps(LEGACY_KEY)}, {json.dumps(key)})")
    page = context.new_page()
    ERRORS[page] = console_errors(page)
    page.goto(f"{served.url}/social/")
    expect(page.locator("#signup")).to_be_visible()
    assert page.evaluate("window.socialApp.principal.toText()") == admin.principal.to_text()
    page.fill("#signup-form [name=handle]", "mod_mira")
    page.fill("#signup-form [name=name]", "Mira Moderator")
    page.click("#signup-form button[type=submit]")
    expect(page.locator("#me")).to_have_text("@mod_mira")
    expect(page.locator("#feed")).to_have_attribute("data-ready", "true")
    return page


def test_a_report_is_resolved_by_deleting_the_post_and_blocks_and_comments_are_undone(
        browser: Any, served: ServedProject) -> None:
    from playwright.sync_api import expect

    cleo = register(browser, served.url, "cleo_cog", "Cleo Cog", "Gear merchant")
    dan = register(browser, served.url, "dan_dial", "Dan Dial", "Clock keeper")
    expect(dan.locator("#moderation-tab")).to_be_hidden()  # not a moderator

    # Cleo posts; Dan reads it on her profile, comments and edits his comment.
    cleo.fill("#composer-text", "Cheap gears, no questions asked: gears.example")
    cleo.click("#composer button[type=submit]")
    mine = cleo.locator("#posts li.post").first
    expect(mine).to_contain_text("Cheap gears")
    post_id = mine.get_attribute("data-post")
    open_profile(dan, "cleo_cog")
    post = dan.locator(f"#profile-posts li.post[data-post='{post_id}']")
    post.locator(".toggle-comments").click()
    post.locator(".comment-form textarea").fill("Are they tested?")
    post.locator(".comment-form button[type=submit]").click()
    comment = post.locator(".comment", has_text="Are they tested?")
    comment.get_by_role("button", name="Edit").click()
    comment.locator("form.inline textarea").fill("Are they tested? Which standard?")
    comment.locator("form.inline button[type=submit]").click()
    edited = post.locator(".comment", has_text="Which standard?")
    expect(edited).to_contain_text("edited")
    expect(post.locator(".comment")).to_have_count(1)

    # Dan reports the post, with a reason.
    post.locator(".post-actions").get_by_role("button", name="Report").click()
    post.locator("form.inline [name=reason]").fill("Selling counterfeit gears")
    post.locator("form.inline button[type=submit]").click()
    expect(dan.locator(".toast").last).to_contain_text("Reported to the moderators")

    # Dan blocks Cleo and unblocks her from the network page.
    dan.locator("#profile-actions").get_by_role("button", name="Block").click()
    blocked = dan.locator("#blocked li", has_text="Cleo Cog")
    expect(blocked).to_be_visible()
    expect(dan.locator("#blocked-empty")).to_be_hidden()
    blocked.get_by_role("button", name="Unblock @cleo_cog").click()
    expect(blocked).to_have_count(0)
    expect(dan.locator("#blocked-empty")).to_be_visible()
    open_profile(dan, "cleo_cog")  # visible again

    # The moderator finds the report, with what was posted and why, and deletes the post.
    mod = sign_in_as_moderator(browser, served)
    mod.click("#moderation-tab")
    expect(mod.locator("#moderation")).to_have_attribute("data-ready", "true")
    report = mod.locator(f"#report-list li[data-kind=post][data-target='{post_id}']")
    expect(report).to_contain_text("Selling counterfeit gears")
    expect(report).to_contain_text("@dan_dial")
    expect(report.locator(".reported")).to_contain_text("Cheap gears, no questions asked")
    report.get_by_role("button", name="Delete post").click()
    expect(report).to_have_count(0)
    mod.click("[data-report-status=resolved]")
    resolved = mod.locator(f"#report-list li[data-kind=post][data-target='{post_id}']")
    expect(resolved).to_have_attribute("data-status", "resolved")
    expect(resolved).to_contain_text("post deleted")
    expect(resolved).to_contain_text("no longer there")

    # The post is gone for its readers.
    dan.evaluate("location.hash = ''")  # so that opening the profile again loads it
    dan.click(".social-tabs [data-view=feed]")
    open_profile(dan, "cleo_cog")
    expect(dan.locator(f"#profile-posts li.post[data-post='{post_id}']")).to_have_count(0)
    cleo.reload()
    expect(cleo.locator("#feed")).to_have_attribute("data-ready", "true")
    expect(cleo.locator(f"#posts li.post[data-post='{post_id}']")).to_have_count(0)

    for page in (cleo, dan, mod):
        assert ERRORS[page] == []


def test_endorsers_asked_recommendations_job_closing_withdrawals_and_revokes(
        browser: Any, served: ServedProject) -> None:
    from playwright.sync_api import expect

    eve = register(browser, served.url, "eve_escape", "Eve Escape", "Escapement maker")
    finn = register(browser, served.url, "finn_fitter", "Finn Fitter", "Fitter of gears")

    # Who endorsed a demo person's skill, shown when the count is clicked.
    open_profile(finn, "alice")
    python = finn.locator("#profile-skills li[data-skill='Python']")
    python.locator(".endorsement-count").click()
    expect(python.locator(".endorsement-count")).to_have_attribute("aria-expanded", "true")
    expect(python.locator(".endorsers .person-link").first).to_be_visible()

    # Eve and Finn connect; Finn asks Eve for a recommendation, which she writes.
    open_profile(eve, "finn_fitter")
    eve.get_by_role("button", name="Connect").click()
    eve.click("#request-form button[type=submit]")
    finn.click(".social-tabs [data-view=network]")
    finn.locator("#incoming li", has_text="Eve Escape").get_by_role("button", name="Accept").click()
    expect(finn.locator("#connections li", has_text="Eve Escape")).to_be_visible()
    open_profile(finn, "eve_escape")
    finn.fill("#ask-recommendation-form [name=note]", "Could you vouch for my gearwork?")
    finn.click("#ask-recommendation-form button[type=submit]")
    expect(finn.locator(".toast").last).to_contain_text("Asked @eve_escape")
    finn.click("#my-profile-tab")
    expect(finn.locator("#asked-recommendations li", has_text="Eve Escape")).to_be_visible()
    eve.click("#my-profile-tab")
    asked = eve.locator("#requested-recommendations li", has_text="Finn Fitter")
    expect(asked).to_contain_text("Could you vouch for my gearwork?")
    asked.locator("[name=relationship]").fill("He fitted my escapements")
    asked.locator("[name=text]").fill("Finn fits gears to a tenth of a hair.")
    asked.get_by_role("button", name="Write recommendation").click()
    expect(asked).to_have_count(0)
    finn.evaluate("location.hash = ''")
    finn.click(".social-tabs [data-view=feed]")
    finn.click("#my-profile-tab")
    pending = finn.locator("#pending-recommendations li", has_text="Eve Escape")
    pending.get_by_role("button", name="Show on my profile").click()
    expect(finn.locator("#profile-recommendations li")).to_contain_text("tenth of a hair")

    # Eve opens an organisation, posts a job, attests Finn's role, closes and reopens the job.
    posted = open_organisation_with_job(
        eve, "Eve Escapements", title="Escapement apprentice", location="Geneva",
        description="Learn the anchor escapement.")
    attest_role(eve, "@finn_fitter", "Escapement fitter", "2022-01")
    expect(eve.locator(".toast").last).to_contain_text("certified")
    posted.locator("a").click()
    job = eve.locator("#job-detail")
    expect(job.locator("h2")).to_have_text("Escapement apprentice")
    job.get_by_role("button", name="Close job").click()
    expect(job).to_have_attribute("data-open", "false")
    job.get_by_role("button", name="Reopen job").click()
    expect(job).to_have_attribute("data-open", "true")

    # Finn applies and withdraws his application.
    finn.click(".social-tabs [data-view=jobs]")
    finn.fill("#job-search [name=q]", "escapement apprentice")
    finn.click("#job-search button[type=submit]")
    finn.locator("#job-list li", has_text="Escapement apprentice").locator("a").click()
    finn.locator("#job-detail").get_by_role("button", name="Apply with my profile").click()
    application = finn.locator("#my-applications li", has_text="Escapement apprentice")
    expect(application).to_have_attribute("data-stage", "applied")
    application.get_by_role("button", name="Withdraw").click()
    expect(application).to_have_attribute("data-stage", "withdrawn")
    expect(application.get_by_role("button", name="Withdraw")).to_have_count(0)

    # Finn revokes the role Eve attested.
    finn.click("#my-profile-tab")
    role = finn.locator("#profile-experience li.attested", has_text="Escapement fitter")
    role.get_by_role("button", name="Revoke the attested role Escapement fitter").click()
    expect(finn.locator("#profile-experience li.attested")).to_have_count(0)

    for page in (eve, finn):
        assert ERRORS[page] == []
