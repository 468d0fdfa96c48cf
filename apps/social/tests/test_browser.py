"""The social page in real headless Chromium against ``runreplica --demo`` (the social
canister deployed and seeded with its demo network, next to the demo's chat).

First a fresh browser, before signing up, reads the landing: the newest public posts
with their authors and pictures, people and open jobs (never a closed group's post),
and a click on a person asks it to create a profile. Then two people, each a browser
context with a key of its own, use the page as a person would: they register, connect
(a request with a note, accepted from the network page), endorse a skill and write a
recommendation that shows once accepted, post with a picture uploaded in chunks
(served from the canister's own origin), comment, and see each notification arrive
live: the unread badge changes without a reload. One opens
an organisation, posts a job and attests the other's role; the other applies with a
note and sees the stage the poster moves the application to. The attested role shows
a verified badge only after the browser checked the replica's certificate; the same
check on a tampered certificate or a changed field shows no badge. "Message" opens
the chat's direct conversation with the same key. Text carrying markup stays text.
Waits are Playwright's (until the page shows the state); nothing is timed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.social.portraits import portrait
from tests.agent.live_replica import ServedProject
from tests.browser import chromium, console_errors, new_context, requires_chromium, wait_until

pytestmark = requires_chromium

ERRORS: dict[Any, list[str]] = {}  # each page's console errors, as they come
SNEAKY = 'Loves <img src=x onerror="window.pwned=1"> engines'

# The attested role's proof checked as the page checks it: as served, with a byte of the
# certificate's signature flipped, and with its title changed.
TAMPERED_CHECKS = """async (attestationId) => {
  const app = window.socialApp;
  const proof = await app.api.certified_attestation(BigInt(attestationId));
  const badge = async (p) => (await app.people.attestationItem(p))
    .querySelector('.attest-badge').dataset.verified;
  const forged = new Uint8Array(proof.certificate[0]);
  forged[forged.length - 5] ^= 1;
  const retitled = { ...proof.attestation, title: 'Chief Engineer' };
  return {
    honest: await badge(proof),
    certificate: await badge({ ...proof, certificate: [forged] }),
    title: await badge({ ...proof, attestation: retitled }),
    missing: await badge({ ...proof, certificate: [] }),
  };
}"""


@pytest.fixture(scope="module")
def served(demo_project: ServedProject) -> ServedProject:
    """The session's demo (`tests.demo_server`): chat, marketplace and the seeded social
    network."""
    assert f"  social:    {demo_project.url}/social/" in demo_project.printed, \
        demo_project.printed
    return demo_project


@pytest.fixture(scope="module")
def browser(served: ServedProject) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def register(browser: Any, url: str, handle: str, name: str, headline: str) -> Any:
    """A new browser context (a key of its own) that signs up on the page."""
    from playwright.sync_api import expect

    page = new_context(browser, viewport={"width": 1280, "height": 900}).new_page()
    ERRORS[page] = console_errors(page)
    page.goto(f"{url}/social/")
    expect(page.locator("#signup")).to_be_visible()
    page.fill("#signup-form [name=handle]", handle)
    page.fill("#signup-form [name=name]", name)
    page.fill("#signup-form [name=headline]", headline)
    page.click("#signup-form button[type=submit]")
    expect(page.locator("#feed")).to_have_attribute("data-ready", "true")
    expect(page.locator("#me")).to_have_text(f"@{handle}")
    expect(page.locator("#live")).to_have_text("live")
    return page


def open_profile(page: Any, handle: str) -> None:
    from playwright.sync_api import expect

    page.evaluate(f"location.hash = 'profile={handle}'")
    expect(page.locator("#profile-handle")).to_have_text(f"@{handle}")
    expect(page.locator("#profile")).to_have_attribute("data-ready", "true")


def open_organisation_with_job(page: Any, organisation: str, **job: str) -> Any:
    """``page`` opens ``organisation`` and posts a job there, filling the form's fields
    from ``job`` in order; the job's entry on the organisation's page, once shown."""
    from playwright.sync_api import expect

    page.click(".social-tabs [data-view=orgs]")
    page.fill("#org-form [name=name]", organisation)
    page.click("#org-form button[type=submit]")
    detail = page.locator("#org-detail")
    expect(detail.locator("h2")).to_have_text(organisation)
    job_form = detail.locator("form", has_text="Post a job")
    for field, value in job.items():
        job_form.locator(f"[name={field}]").fill(value)
    job_form.get_by_role("button", name="Post job").click()
    posted = detail.locator("li.job", has_text=job["title"])
    expect(posted).to_be_visible()  # the page shown again: now the next form
    return posted


def attest_role(page: Any, member: str, title: str, start: str) -> None:
    """On the open organisation's page, ``page`` attests ``member``'s role ``title``."""
    attest = page.locator("#org-detail form", has_text="Attest a role")
    attest.locator("[name=member]").fill(member)
    attest.locator("[name=title]").fill(title)
    attest.locator("[name=start]").fill(start)
    attest.get_by_role("button", name="Attest").click()


def unread(page: Any) -> Any:
    return page.locator("#unread")


def visit_landing(browser: Any, url: str) -> None:
    """A first-time visitor reads the public posts, people and jobs, then is asked to sign up."""
    from playwright.sync_api import expect

    page = new_context(browser, viewport={"width": 1280, "height": 900}).new_page()
    errors = console_errors(page)
    page.goto(f"{url}/social/")
    expect(page.locator("#public-feed")).to_have_attribute("data-ready", "true")
    posts = page.locator("#public-posts > li")
    expect(posts.filter(has_text="Welcome to Python on the IC!")).to_have_count(1)  # open group
    expect(posts.locator("img.post-image").first).to_be_visible()
    expect(page.locator("#public-posts")).not_to_contain_text("Which design tokens")
    for picture in posts.locator("img.post-image").all():  # served by the canister's origin
        expect(picture).to_have_js_property("complete", True)
        assert picture.evaluate("(img) => img.naturalWidth") > 0
    expect(page.locator("#public-people li").first).to_be_visible()
    expect(page.locator("#public-jobs .public-job").first).to_be_visible()
    page.locator("#public-people .person-link").first.click()
    expect(page.locator("#signup-prompt")).to_contain_text("Create your profile to see")
    expect(page.locator("#signup-form [name=handle]")).to_be_focused()
    assert errors == []
    page.context.close()


def test_two_people_connect_vouch_post_hire_and_verify_an_attested_role(
        browser: Any, served: ServedProject, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    visit_landing(browser, served.url)
    ada = register(browser, served.url, "ada_quill", "Ada Quill", "Analyst of engines")
    ben = register(browser, served.url, "ben_rivet", "Ben Rivet", SNEAKY)

    # Ben fills in his profile: skills, an experience entry and an avatar in chunks.
    ben.click("#my-profile-tab")
    ben.get_by_role("button", name="Edit profile").first.click()
    editor = ben.locator("#profile-editor")
    expect(editor).to_be_visible()
    editor.locator("[name=location]").fill("London")
    editor.locator("[name=skills]").fill("Python, Difference engines")
    editor.locator("[name=open_to_work]").check()
    editor.get_by_role("button", name="Add experience").click()
    entry = editor.locator("#edit-experience li").last
    entry.locator("[name=title]").fill("Mechanic")
    entry.locator("[name=organisation]").fill("Workshop")
    entry.locator("[name=start]").fill("2019-01")
    avatar = tmp_path / "ben.jpg"
    avatar.write_bytes(portrait("Ben Rivet"))
    editor.locator("[name=avatar]").set_input_files(str(avatar))
    editor.get_by_role("button", name="Save profile").click()
    expect(editor).to_be_hidden()
    expect(ben.locator("#profile-headline")).to_have_text(SNEAKY)  # as text, not markup
    expect(ben.locator("#profile-open")).to_be_visible()
    expect(ben.locator("#profile-experience li")).to_contain_text("Mechanic")
    canister = ben.evaluate("window.socialApp.config.canisterId")
    port = served.url.rsplit(":", 1)[1]
    expect(ben.locator("img#profile-avatar")).to_be_visible()
    src = ben.locator("img#profile-avatar").get_attribute("src") or ""
    assert src.startswith(f"http://{canister}.localhost:{port}/"), src
    wait_until(ben, "document.querySelector('img#profile-avatar')?.naturalWidth > 0")

    # Ada finds Ben by search and asks to connect, with a note; Ben's badge goes live.
    ada.fill("#search-form [name=q]", "rivet")
    ada.click("#search-form button[type=submit]")
    ada.locator("#found-people a", has_text="Ben Rivet").click()
    expect(ada.locator("#profile-name")).to_have_text("Ben Rivet")
    expect(ada.locator("#profile-degree")).to_have_text("3rd+")
    ada.get_by_role("button", name="Connect").click()
    ada.fill("#request-form [name=note]", "Met at the Analytical Society")
    ada.click("#request-form button[type=submit]")
    expect(ada.get_by_role("button", name="Withdraw request")).to_be_visible()
    expect(unread(ben)).to_have_text("1")  # pushed over the canister socket, no reload
    ben.click(".social-tabs [data-view=network]")
    invitation = ben.locator("#incoming li", has_text="Ada Quill")
    expect(invitation).to_contain_text("Met at the Analytical Society")
    invitation.get_by_role("button", name="Accept").click()
    expect(ben.locator("#connections li", has_text="Ada Quill")).to_be_visible()
    expect(unread(ada)).to_have_text("1")  # accepted

    # Ada, now 1st degree, endorses a skill and writes a recommendation.
    open_profile(ada, "ben_rivet")
    expect(ada.locator("#profile-degree")).to_have_text("1st")
    skill = ada.locator("#profile-skills li[data-skill='Python']")
    skill.get_by_role("button", name="Endorse").click()
    expect(skill).to_contain_text("1 endorsement")
    ada.fill("#recommend-form [name=relationship]", "We built engines together")
    ada.fill("#recommend-form [name=text]", "Ben is <b>meticulous</b> with gears.")
    ada.click("#recommend-form button[type=submit]")
    expect(unread(ben)).to_have_text("3")  # the endorsement and the recommendation
    ben.click("#my-profile-tab")
    pending = ben.locator("#pending-recommendations li")
    expect(pending).to_contain_text("Ben is <b>meticulous</b> with gears.")
    pending.get_by_role("button", name="Show on my profile").click()
    expect(ben.locator("#profile-recommendations li")).to_contain_text("meticulous")

    # Ada posts with a picture; Ben sees it in his feed from the canister's origin and
    # comments; Ada's badge counts the comment live.
    picture = tmp_path / "engine.jpg"
    picture.write_bytes(portrait("Difference Engine"))
    ada.click(".social-tabs [data-view=feed]")
    ada.fill("#composer-text", "The #engines run again, thanks @ben_rivet")
    ada.locator("#composer [name=image]").set_input_files(str(picture))
    ada.click("#composer button[type=submit]")
    mine = ada.locator("#posts li.post").first
    expect(mine).to_contain_text("The #engines run again")
    post_id = mine.get_attribute("data-post")
    ben.click(".social-tabs [data-view=feed]")
    post = ben.locator(f"#posts li.post[data-post='{post_id}']")
    expect(post).to_contain_text("from your network")
    image = post.locator("img.post-image")
    assert (image.get_attribute("src") or "").startswith(f"http://{canister}.localhost:{port}/images/")
    post_picture = f"li[data-post='{post_id}'] img.post-image"
    wait_until(ben, f"document.querySelector(\"{post_picture}\")?.naturalWidth > 0")
    before = int(unread(ada).text_content() or "0")
    post.get_by_role("button", name="Like").click()
    post = ben.locator(f"#posts li.post[data-post='{post_id}']")
    expect(post.get_by_role("button", name="Like")).to_have_attribute("aria-pressed", "true")
    post.locator(".toggle-comments").click()
    post.locator(".comment-form textarea").fill("Congratulations!")
    post.locator(".comment-form button[type=submit]").click()
    expect(post.locator(".comment")).to_contain_text("Congratulations!")
    expect(unread(ada)).to_have_text(str(before + 2))  # the reaction and the comment
    ada.click("#bell")
    expect(ada.locator("#notification-list li[data-kind=comment]")).to_have_count(1)
    expect(unread(ada)).to_be_hidden()  # read once seen

    # Ada opens an organisation, posts a job and attests Ben's role there.
    posted = open_organisation_with_job(
        ada, "Quill Gearworks", title="Gearwright", location="London", skills="Python, gears",
        description="Keep the engines turning.")
    attest_role(ada, "@ben_rivet", "Senior Mechanic", "2021-03")
    expect(ada.locator("#notice, .toast").last).to_contain_text("certified")

    # Ben applies with a note and sees the stage Ada moves his application to.
    ben.click(".social-tabs [data-view=jobs]")
    ben.fill("#job-search [name=q]", "gearwright")
    ben.click("#job-search button[type=submit]")
    ben.locator("#job-list li", has_text="Gearwright").locator("a").click()
    job = ben.locator("#job-detail")
    expect(job.locator("h2")).to_have_text("Gearwright")
    job.locator("[name=note]").fill("I already keep them turning.")
    job.get_by_role("button", name="Apply with my profile").click()
    application = ben.locator("#my-applications li", has_text="Gearwright")
    expect(application).to_have_attribute("data-stage", "applied")

    posted.locator("a").click()
    applicant = ada.locator("#job-detail li.applicant", has_text="Ben Rivet")
    expect(applicant).to_contain_text("I already keep them turning.")
    before = int(unread(ben).text_content() or "0")
    applicant.locator("select").select_option("interview")
    expect(applicant).to_have_attribute("data-stage", "interview")
    expect(unread(ben)).to_have_text(str(before + 1))  # the stage change, live
    ben.click(".social-tabs [data-view=jobs]")
    expect(application).to_have_attribute("data-stage", "interview")

    # The attested role: verified in the browser, and not when anything is tampered with.
    open_profile(ada, "ben_rivet")
    role = ada.locator("#profile-experience li.attested", has_text="Senior Mechanic")
    expect(role.locator(".attest-badge")).to_have_attribute("data-verified", "yes")
    expect(role.locator(".attest-badge")).to_have_text("✓ Verified")
    attestation_id = role.get_attribute("data-attestation")
    assert ada.evaluate(TAMPERED_CHECKS, attestation_id) == {
        "honest": "yes", "certificate": "no", "title": "no", "missing": "no"}

    for page in (ada, ben):
        assert page.evaluate("window.pwned") is None
        assert ERRORS[page] == []

    # "Message" opens the chat's direct conversation, signed by the same browser key: Ben
    # has a chat handle; Ada picks one on the chat page, and the conversation opens.
    ben_principal = ada.evaluate("window.socialApp.people.shown.user.toText()")
    ben.goto(f"{served.url}/chat/")
    ben.fill("#register-form [name=handle]", "rivet_chat")
    ben.fill("#register-form [name=display_name]", "Ben Rivet")
    ben.click("#register-form button[type=submit]")
    expect(ben.locator("#me")).to_have_text("@rivet_chat")
    assert ben.evaluate("window.location.pathname") == "/chat/"
    message = ada.get_by_role("link", name="Message")
    assert message.get_attribute("href") == f"/chat/?dm={ben_principal}"
    message.click()
    ada.fill("#register-form [name=handle]", "quill_chat")
    ada.fill("#register-form [name=display_name]", "Ada Quill")
    ada.click("#register-form button[type=submit]")
    expect(ada.locator("#room-name")).to_have_text("@rivet_chat")
    expect(ada.locator("#room-kind")).to_have_text("direct message")
    assert "dm=" not in ada.evaluate("location.search")
