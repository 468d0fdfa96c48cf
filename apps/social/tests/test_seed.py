"""The social demo seeder on a replica with SQLite state: the canister installed once and
controlled by the demo admin alone, a network of the expected shape (people with their
pictures, organisations with attested roles, connections, trust, posts, jobs, groups and
an event), the chat's and the marketplace's demo people as the same principals, and
nothing added by a second run, also after the replica is reopened from its state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.test import override_settings

from apps.chat.seed import demo_identities as chat_identities
from apps.chat.tests.test_seed_control import assert_anonymous_is_refused, controllers
from apps.marketplace.seed import demo_identities as market_identities
from apps.social.canister import post_records as P
from apps.social.canister import records as R
from apps.social.seed import (
    CANISTER_MODULE,
    DEMO_GROUPS,
    DEMO_JOBS,
    DEMO_ORGS,
    DEMO_PEOPLE,
    DEMO_POSTS,
    PENDING_REQUESTS,
    RECOMMENDATIONS,
    connection_pairs,
    demo_identities,
    pictures_dir,
    run_demo,
)
from icframework.core import Principal
from icframework.demo import TypedCaller, admin_identity, method_table
from icframework.deployments import recorded_id
from icframework.replica.embedded import Replica
from tests.demo_server import share_build_caches

URL = "http://127.0.0.1:4943"
ANONYMOUS = Principal.anonymous()


def test_seeding_builds_the_network_once_and_only_the_admin_controls_it(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    share_build_caches(tmp_path, ("apps",))  # the pictures are drawn and kept here, checked
    with override_settings(BASE_DIR=tmp_path):
        with Replica.open(state) as replica:
            first = run_demo(replica, URL, state)
            canister = recorded_id("social", URL)
            assert canister is not None
            admin = admin_identity(state).principal
            assert controllers(replica, canister) == [admin]
            assert_anonymous_is_refused(replica, canister)
            drawn = sorted(pictures_dir().glob("*.jpg"))
            again = run_demo(replica, URL, state)
        with Replica.open(state) as replica:
            reopened = run_demo(replica, URL, state)
            call = TypedCaller(replica, canister, method_table(CANISTER_MODULE))
            check_network(call, state, admin)
    assert first[0] == f"  social:    {URL}/social/"
    assert f"added {len(DEMO_PEOPLE)} people, {len(DEMO_ORGS)} organisations" in first[1]
    assert f"{len(DEMO_JOBS)} jobs" in first[1]
    assert again[1].endswith("(unchanged; nothing new to seed)")
    assert reopened[1].endswith("(unchanged; nothing new to seed)")
    assert first[3] == (f"             controller and moderator: the demo admin "
                        f"{admin.to_text()} ({state / 'admin.pem'})")
    # a portrait and a banner per person and one picture per illustrated post, kept
    pictured = sum(1 for post in DEMO_POSTS if post[3] is not None)
    assert len(drawn) == 2 * len(DEMO_PEOPLE) + pictured


def check_network(call: TypedCaller, state: Path, admin: Principal) -> None:
    """The seeded network, as the page sees it through the canister's queries."""
    people = demo_identities(state)

    def as_(handle: str, method: str, *args: Any) -> Any:
        return call(people[handle].principal, method, *args)

    # one browser key story: the chat's and the marketplace's demo people are the same
    chat, market = chat_identities(state), market_identities(state)
    for handle in ("alice", "bob", "carol"):
        assert people[handle].principal == chat[handle].principal
    for handle in ("ana", "ben", "cleo"):
        assert people[handle].principal == market[handle].principal
    assert call(admin, "is_moderator") is True

    alice = as_("bob", "profile", "alice")
    assert alice.name == "Alice Martin" and alice.avatar and alice.banner
    assert alice.relation is R.Relation.connected
    assert [e.organisation for e in alice.experience] == ["Northwind Labs", "Ledgerline"]
    assert all(e.org_id is not None for e in alice.experience)
    assert alice.education and alice.education[0].school == "Lakeside University"
    skills = {s.name: s.endorsements for s in alice.skills}
    assert skills["Python"] >= 5 and skills["Candid"] >= 5
    assert alice.connection_count == sum(1 for pair in connection_pairs()
                                         if "alice" in pair[:2])
    waiting = {r.user.handle for r in as_("alice", "incoming_requests")}
    assert waiting == {a for a, b, _ in PENDING_REQUESTS if b == "alice"}

    attested = call(ANONYMOUS, "attestations_of", people["alice"].principal)
    assert {(a.org_name, a.title) for a in attested} == {
        ("Northwind Labs", "Staff engineer"), ("Ledgerline", "Software engineer")}
    certified = call(ANONYMOUS, "certified_attestation", attested[0].id)
    assert certified.certificate is not None  # a query: the replica's certificate

    shown = call(ANONYMOUS, "recommendations_of", people["alice"].principal)
    assert [r.author.handle for r in shown] == ["dan"]
    last_author, last_subject = RECOMMENDATIONS[-1][:2]
    assert call(ANONYMOUS, "recommendations_of", people[last_subject].principal) == []
    assert any(r.author.handle == last_author and r.status is R.RecommendationStatus.pending
               for r in as_(last_subject, "my_recommendations"))

    orgs = call(ANONYMOUS, "find_orgs", "lakeside", 10)
    assert [o.org.kind for o in orgs] == [R.OrgKind.school]
    assert orgs[0].org.follower_count >= 5

    feed = as_("alice", "home_feed", P.FeedOrder.newest, None, 8)
    assert len(feed.items) == 8 and feed.next_cursor is not None
    later = as_("alice", "home_feed", P.FeedOrder.newest, feed.next_cursor, 8).items
    assert later and not {i.post.id for i in later} & {i.post.id for i in feed.items}
    top = as_("alice", "home_feed", P.FeedOrder.top, None, 5).items
    assert all(item.score is not None for item in top)
    tagged = call(ANONYMOUS, "hashtag_posts", "canisters", None, 20).posts
    assert {p.author.handle for p in tagged} >= {"alice", "erin", "zoe"}
    assert any(p.images for p in tagged)
    sdk = call(ANONYMOUS, "search_posts", "certified data", None, 10).posts
    assert sdk and sdk[0].author.handle == "alice"
    assert sdk[0].comment_count >= 3 and sum(r.count for r in sdk[0].reactions) >= 7
    assert call(ANONYMOUS, "search_people", "payments", None, 20).people

    jobs = call(ANONYMOUS, "search_jobs", R.JobQuery(
        words="", org_id=None, seniority=None, skill="Python", min_salary=None,
        workplace=None, include_closed=False), None, 50).jobs
    assert {j.job.title for j in jobs} >= {"Senior backend engineer, payouts",
                                           "Graduate software engineer"}
    stages = {a.job_title: a.stage for a in as_("sam", "my_applications")}
    assert stages == {"Senior backend engineer, payouts": R.Stage.reviewing,
                      "Graduate software engineer": R.Stage.offer}

    groups = {g.name: g for g in as_("alice", "my_group_list")}
    assert set(groups) == {g.name for g in DEMO_GROUPS.values() if "alice" in
                           (g.owner, *g.admins, *g.members)}
    python_ic = groups["Python on the IC"]
    assert python_ic.my_role is P.GroupRole.admin
    events = as_("alice", "group_events", python_ic.id, 10)
    assert len(events) == 1 and events[0].going >= 5 and events[0].interested == 2
    assert as_("alice", "people_you_may_know")

