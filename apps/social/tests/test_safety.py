"""Privacy and safety: per-section visibility, reports and the moderator queue, rate limits."""

from __future__ import annotations

import pytest

from icframework.sdk import LocalCanister, Reject

from .network import ANON, APP, MOD, As, connect, fresh, records, register

Visibility = records.Visibility


@pytest.fixture
def c() -> LocalCanister:
    return fresh()


def test_sections_shown_to_connections_only_are_hidden_from_others(c: LocalCanister) -> None:
    alice, bob, carol = register(c, "alice"), register(c, "bob"), register(c, "carol")
    alice.update_profile(records.ProfileInput("Alice", "Engineer", "my story", "Bern",
                                              ["https://alice.example"], True))
    alice.set_skills(["Python"])
    alice.set_privacy(records.Privacy(about=Visibility.connections, links=Visibility.connections,
                                      skills=Visibility.connections,
                                      connections=Visibility.connections))
    connect(alice, bob)
    for viewer in (carol, As(c, ANON)):
        seen = viewer.profile("alice")
        assert (seen.about, seen.links, seen.skills, seen.connection_count) == (
            None, None, None, None)
        assert (seen.name, seen.headline, seen.open_to_work) == ("Alice", "Engineer", True)
        assert viewer.endorsers(alice.who, "Python") == []
    with pytest.raises(Reject, match="@alice shows connections to connections only"):
        carol.connections_of(alice.who, None, 10)
    seen = bob.profile("alice")
    assert (seen.about, seen.links, seen.connection_count) == (
        "my story", ["https://alice.example"], 1)
    assert alice.my_privacy().about == Visibility.connections


def test_reports_go_to_the_moderator_queue(c: LocalCanister) -> None:
    alice, bob = register(c, "alice"), register(c, "bob")
    mod = As(c, MOD)
    report_id = alice.report("user", bob.who.to_text(), "spam messages")
    with pytest.raises(Reject, match=f"you already reported user {bob.who.to_text()}"):
        alice.report("user", bob.who.to_text(), "again")
    with pytest.raises(Reject, match="cannot report a 'planet': report one of user, post"):
        alice.report("planet", "1", "x")
    with pytest.raises(Reject, match="a report's reason is required"):
        alice.report("user", alice.who.to_text(), " ")
    with pytest.raises(Reject, match="no job 7 to report"):
        alice.report("job", "7", "scam")
    with pytest.raises(Reject, match="is not a moderator: moderators are named at install"):
        alice.report_queue(records.ReportStatus.open, None, 10)
    assert mod.is_moderator() and not alice.is_moderator()
    [queued] = mod.report_queue(records.ReportStatus.open, None, 10).reports
    assert (queued.id, queued.reason, queued.reporter) == (report_id, "spam messages", alice.who)
    mod.resolve_report(report_id, records.ReportStatus.resolved, "warned")
    assert mod.report_queue(records.ReportStatus.open, None, 10).reports == []
    [done] = mod.report_queue(records.ReportStatus.resolved, None, 10).reports
    assert (done.resolved_by, done.note) == (MOD, "warned")


def test_report_flooding_is_rate_limited(c: LocalCanister) -> None:
    alice = register(c, "alice")
    targets = [register(c, f"user{i}") for i in range(11)]
    for t in targets[:10]:
        c.update("report", "user", t.who.to_text(), "spam", caller=alice.who)
    with pytest.raises(Reject, match=r"rate limit on report: at most 10 reports per 1 h; "
                                     r"try again in 3600\.0 s"):
        c.update("report", "user", targets[10].who.to_text(), "spam", caller=alice.who)


def test_profile_edit_flooding_is_rate_limited_and_the_window_slides(c: LocalCanister) -> None:
    alice = register(c, "alice")
    data = records.ProfileInput("Alice", "", "", "", [], False)
    c.backend.advance_time(61 * 10**9)
    for _ in range(30):
        c.update("update_profile", data, caller=alice.who)
    with pytest.raises(Reject, match="rate limit on profile: at most 30 profile edits per 1 min"):
        c.update("update_profile", data, caller=alice.who)
    c.backend.advance_time(61 * 10**9)
    c.update("update_profile", data, caller=alice.who)


def test_install_refuses_an_anonymous_admin() -> None:
    local = LocalCanister(APP)
    with pytest.raises(Reject, match="the anonymous principal cannot be an admin"):
        local.install(records.InitArgs(admins=[ANON]))
