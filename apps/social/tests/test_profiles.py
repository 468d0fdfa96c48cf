"""Profiles: registration, handles, editing, experience, education, pictures through the gateway."""

from __future__ import annotations

import pytest

from icframework.sdk import LocalCanister, Reject

from .network import ANON, As, fresh, limits, profile_input, records, register, user

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


@pytest.fixture
def c() -> LocalCanister:
    return fresh()


def get(c: LocalCanister, path: str, headers: list[tuple[str, str]] | None = None) -> object:
    return c.query("http_request", records.HttpRequest("GET", path, headers or [], b""))


def test_register_normalises_the_handle_and_keeps_it_unique(c: LocalCanister) -> None:
    alice = As(c, user("alice"))
    view = alice.register("  @Alice_1 ", profile_input("  Alice \n  Smith ", "Engineer"))
    assert (view.handle, view.name, view.relation) == ("alice_1", "Alice Smith",
                                                       records.Relation.own)
    other = As(c, user("other"))
    with pytest.raises(Reject, match=r"the handle @alice_1 is taken: choose another one"):
        other.register("ALICE_1", profile_input("Other"))
    assert other.handle_available("alice_1") is False
    assert other.handle_available("fresh_name") is True
    assert other.profile("@ALICE_1").user == alice.who
    assert other.profile(alice.who.to_text()).handle == "alice_1"
    assert other.profile("nobody") is None


@pytest.mark.parametrize("handle", ["ab", "has space", "a" * 31, "dash-ed", "émile", ""])
def test_invalid_handles_are_refused_with_the_rule(c: LocalCanister, handle: str) -> None:
    with pytest.raises(Reject, match=r"invalid handle .*: use 3–30 characters a–z, 0–9 or _"):
        As(c, user("x")).register(handle, profile_input("X"))
    assert As(c, user("x")).me() is None


def test_anonymous_and_unregistered_callers_are_told_what_to_do(c: LocalCanister) -> None:
    with pytest.raises(Reject, match="the anonymous principal cannot register"):
        As(c, ANON).register("anon", profile_input("Anon"))
    with pytest.raises(Reject, match=r"has no profile yet: call register\(handle, name\) first"):
        As(c, user("ghost")).update_profile(profile_input("Ghost"))


def test_oversized_fields_are_refused_and_nothing_changes(c: LocalCanister) -> None:
    alice = register(c, "alice", "Engineer")
    before = alice.me()
    cases = [
        (profile_input("x" * (limits.MAX_NAME_CHARS + 1)), "a name is at most 80 characters"),
        (profile_input("A", "h" * 221), "a headline is at most 220 characters, got 221"),
        (profile_input("A", about="a" * 2601), "about is at most 2600 characters"),
        (profile_input(""), "a name is required"),
        (profile_input("A", links=["javascript:alert(1)"]), "is not a link: use an http"),
        (profile_input("A", links=[f"https://x.org/{i}" for i in range(6)]),
         "at most 5 links, got 6"),
    ]
    for data, message in cases:
        with pytest.raises(Reject, match=message):
            alice.update_profile(data)
    assert alice.me() == before


def test_text_is_stored_plain_and_cleaned(c: LocalCanister) -> None:
    alice = register(c, "alice")
    view = alice.update_profile(profile_input(
        "<b>Al\u202eice</b>", "<script>x()</script>", "line one\r\nline\x00 two"))
    assert view.name == "<b>Alice</b>"  # shown with textContent: plain text, never markup
    assert view.headline == "<script>x()</script>"
    assert view.about == "line one\nline two"


def test_experience_and_education_are_ordered_validated_and_link_organisations(
        c: LocalCanister) -> None:
    alice = register(c, "alice")
    org_id = alice.create_org(records.OrgInput("Acme", records.OrgKind.company, "", "",
                                               "")).org.id
    jobs = [records.Experience("CTO", "Acme", org_id, "2022-01", None, "leading"),
            records.Experience("Engineer", "Initech", None, "2018-03", "2021-12", "")]
    assert alice.set_experience(jobs).experience == jobs
    school = records.Education("ETH", None, "MSc", "2014-09", "2016-07", "")
    assert alice.set_education([school]).education == [school]
    bad = [
        (records.Experience("X", "Y", None, "2020-13", None, ""), "is not a month: write it"),
        (records.Experience("X", "Y", None, "2020-05", "2019-01", ""), "before it starts"),
        (records.Experience("X", "Y", 999, "2020-05", None, ""), "no organisation 999"),
        (records.Experience("", "Y", None, "2020-05", None, ""), "a title is required"),
    ]
    for entry, message in bad:
        with pytest.raises(Reject, match=message):
            alice.set_experience([entry])
    with pytest.raises(Reject, match="at most 30 experience entries, got 31"):
        alice.set_experience(jobs[1:] * 31)
    assert alice.me().experience == jobs


def test_skills_merge_duplicates_and_are_bounded(c: LocalCanister) -> None:
    alice = register(c, "alice")
    view = alice.set_skills(["Python", " python ", "Distributed  systems"])
    assert [s.name for s in view.skills] == ["Python", "Distributed systems"]
    with pytest.raises(Reject, match="at most 50 skills, got 51"):
        alice.set_skills([f"skill {i}" for i in range(51)])


def upload(who: As, kind: object, data: bytes, content_type: str = "image/png") -> object:
    upload_id = who.begin_profile_image(kind, content_type, len(data))
    for n in range(0, len(data), limits.CHUNK_BYTES):
        who.upload_profile_image_chunk(upload_id, n // limits.CHUNK_BYTES,
                                       data[n: n + limits.CHUNK_BYTES])
    return who.commit_profile_image(upload_id)


def test_avatar_upload_is_served_with_caching_headers_and_replaced(c: LocalCanister) -> None:
    alice = register(c, "alice")
    big = PNG + bytes(limits.CHUNK_BYTES)  # two chunks
    view = upload(alice, records.ImageKind.avatar, big)
    assert view.avatar.startswith("/avatars/")
    answer = get(c, view.avatar)
    headers = dict(answer.headers)
    assert (answer.status_code, answer.body) == (200, big)
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-type"] == "image/png"
    assert headers["x-content-type-options"] == "nosniff"
    assert get(c, view.avatar, [("If-None-Match", headers["etag"])]).status_code == 304
    newer = upload(alice, records.ImageKind.avatar, PNG + b"new")
    assert newer.avatar != view.avatar
    assert get(c, view.avatar).status_code == 404  # the old picture is gone
    assert get(c, newer.avatar.replace("avatars", "banners")).status_code == 404
    banner = upload(alice, records.ImageKind.banner, PNG)
    assert get(c, banner.banner).status_code == 200


def test_bad_pictures_are_refused(c: LocalCanister) -> None:
    alice = register(c, "alice")
    bob = register(c, "bob")
    with pytest.raises(Reject, match=r"an avatar is 1 to 1048576 bytes, got 1048577"):
        alice.begin_profile_image(records.ImageKind.avatar, "image/png",
                                  limits.MAX_AVATAR_BYTES + 1)
    with pytest.raises(Reject, match=r"pictures are image/png, .* not 'text/html'"):
        alice.begin_profile_image(records.ImageKind.avatar, "text/html", 10)
    upload_id = alice.begin_profile_image(records.ImageKind.avatar, "image/png", 10)
    with pytest.raises(Reject, match=f"no upload {upload_id} of .* in progress"):
        bob.upload_profile_image_chunk(upload_id, 0, b"x" * 10)
    with pytest.raises(Reject, match="must be 10 bytes, got 3"):
        alice.upload_profile_image_chunk(upload_id, 0, b"abc")
    with pytest.raises(Reject, match="has 0 of 10 bytes: send the missing chunks"):
        alice.commit_profile_image(upload_id)
    alice.upload_profile_image_chunk(upload_id, 0, b"<html>....")
    with pytest.raises(Reject, match="is not a image/png file"):
        alice.commit_profile_image(upload_id)
    assert alice.me().avatar is None


def test_gateway_answers_other_methods_and_paths_in_plain_text(c: LocalCanister) -> None:
    answer = c.query("http_request", records.HttpRequest("POST", "/avatars/1", [], b""))
    assert answer.status_code == 405
    assert get(c, "/etc/passwd").status_code == 404
    assert b"pictures are at /avatars/<id>" in get(c, "/etc/passwd").body
    assert get(c, "/avatars/77").status_code == 404
