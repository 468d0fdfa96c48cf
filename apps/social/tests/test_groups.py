"""Groups and events in plain CPython: open join and join requests, roles and who may
act on whom, posts inside groups, events with RSVPs and attendee lists, bad input and
another user's objects, and an upgrade."""

from __future__ import annotations

import pytest

from icframework.sdk import Reject

from .posts_world import ALICE, ANON, BOB, CAROL, DAVE, HOUR_NS, TICK_NS, Net, R, people

OPEN, REQUEST = R.JoinPolicy.open, R.JoinPolicy.request


@pytest.fixture
def net() -> Net:
    n = Net()
    people(n, "alice", "bob", "carol", "dave")
    return n


def group(net: Net, policy: object = OPEN, name: str = "Pythonistas") -> int:
    return int(net.call(ALICE, "create_group", R.GroupInput(name, "We write Python", policy)).id)


def test_open_groups_are_joined_at_once_and_read_by_anyone(net: Net) -> None:
    gid = group(net)
    view = net.call(BOB, "join_group", gid)
    assert (view.my_role, view.member_count) == (R.GroupRole.member, 2)
    post = net.post(BOB, "hello group", group_id=gid)
    assert post.group_id == gid
    assert [p.id for p in net.call(ANON, "group_posts", gid, None, 10).posts] == [post.id]
    with pytest.raises(Reject, match=f"join group {gid} first to post in it"):
        net.post(CAROL, "drive-by", group_id=gid)


def test_request_groups_need_approval_and_hide_their_posts(net: Net) -> None:
    gid = group(net, REQUEST, "Founders")
    view = net.call(BOB, "join_group", gid)
    assert (view.my_role, view.requested) == (None, True)
    kinds = [n.kind for n in net.call(ALICE, "my_notifications", None, 10).notifications]
    assert kinds == [R.NotificationKind.group_request]
    inside = net.post(ALICE, "members only", group_id=gid)
    with pytest.raises(Reject, match=f"group {gid} shows its posts to members only"):
        net.call(BOB, "group_posts", gid, None, 10)
    with pytest.raises(Reject, match=f"there is no post {inside.id} you can see"):
        net.call(BOB, "get_post", inside.id)
    with pytest.raises(Reject, match=f"only the owner and admins of group {gid} answer"):
        net.call(BOB, "answer_join_request", gid, BOB, True)
    pending, _ = net.call(ALICE, "join_requests_of", gid, None, 10)
    assert [a.handle for a in pending] == ["bob"]
    net.call(ALICE, "answer_join_request", gid, BOB, True)
    assert [p.id for p in net.call(BOB, "group_posts", gid, None, 10).posts] == [inside.id]
    net.call(CAROL, "join_group", gid)
    net.call(ALICE, "answer_join_request", gid, CAROL, False)
    assert net.call(CAROL, "get_group", gid).my_role is None
    with pytest.raises(Reject, match="has no pending request to join group"):
        net.call(ALICE, "answer_join_request", gid, CAROL, True)
    with pytest.raises(Reject, match="cannot be reposted"):
        net.call(BOB, "repost", inside.id, "", R.Audience.public)


def test_roles_rank_owner_over_admin_over_member(net: Net) -> None:
    gid = group(net)
    for who in (BOB, CAROL, DAVE):
        net.call(who, "join_group", gid)
    net.call(ALICE, "set_group_role", gid, BOB, R.GroupRole.admin)
    with pytest.raises(Reject, match=f"only the owner of group {gid} changes roles"):
        net.call(BOB, "set_group_role", gid, CAROL, R.GroupRole.admin)
    with pytest.raises(Reject, match="a group member cannot remove a member"):
        net.call(CAROL, "remove_group_member", gid, DAVE)
    with pytest.raises(Reject, match="a group admin cannot remove a owner"):
        net.call(BOB, "remove_group_member", gid, ALICE)
    spam = net.post(DAVE, "buy my course", group_id=gid)
    net.call(BOB, "delete_post", spam.id)  # admins moderate the group's posts
    net.call(BOB, "remove_group_member", gid, DAVE)
    assert net.call(DAVE, "get_group", gid).my_role is None
    with pytest.raises(Reject, match=f"you own group {gid}: make another member its owner"):
        net.call(ALICE, "leave_group", gid)
    net.call(ALICE, "set_group_role", gid, CAROL, R.GroupRole.owner)
    view = net.call(ALICE, "get_group", gid)
    assert (view.owner, view.my_role) == (CAROL, R.GroupRole.admin)
    net.call(ALICE, "leave_group", gid)
    members = net.call(CAROL, "group_members", gid, None, 10).members
    assert sorted(m.member.handle for m in members) == ["bob", "carol"]


def test_bad_group_input_is_refused(net: Net) -> None:
    with pytest.raises(Reject, match="a group name is required"):
        net.call(ALICE, "create_group", R.GroupInput("  ", "", OPEN))
    with pytest.raises(Reject, match="a group name is at most 100 characters, got 101"):
        net.call(ALICE, "create_group", R.GroupInput("x" * 101, "", OPEN))
    gid = group(net)
    with pytest.raises(Reject, match=f"only the owner and admins of group {gid} change"):
        net.call(BOB, "update_group", gid, R.GroupInput("Mine", "", OPEN))
    with pytest.raises(Reject, match="there is no group 99"):
        net.call(BOB, "join_group", 99)
    with pytest.raises(Reject, match="'bad' is not a members cursor"):
        net.call(BOB, "group_members", gid, "bad", 10)


def test_events_take_rsvps_and_list_attendees(net: Net) -> None:
    gid = group(net)
    net.call(BOB, "join_group", gid)
    start = net.now() + 24 * HOUR_NS
    data = R.EventInput("Meetup", "Talks and pizza", "Zurich", start, start + 3 * HOUR_NS, gid)
    with pytest.raises(Reject, match=f"only the owner and admins of group {gid} create"):
        net.call(BOB, "create_event", data)
    ev = net.call(ALICE, "create_event", data)
    assert (ev.going, ev.my_rsvp) == (1, R.Rsvp.going)
    net.call(BOB, "rsvp", ev.id, R.Rsvp.going)
    net.call(CAROL, "rsvp", ev.id, R.Rsvp.interested)
    view = net.call(DAVE, "rsvp", ev.id, R.Rsvp.not_going)
    assert (view.going, view.interested) == (2, 1)
    view = net.call(BOB, "rsvp", ev.id, R.Rsvp.interested)
    assert (view.going, view.interested) == (1, 2)
    page = net.call(ANON, "event_attendees", ev.id, None, 10)
    assert sorted((a.attendee.handle, a.rsvp.value) for a in page.attendees) == [
        ("alice", "going"), ("bob", "interested"), ("carol", "interested")]
    assert [e.id for e in net.call(ANON, "upcoming_events", 10)] == [ev.id]
    assert [e.id for e in net.call(ANON, "group_events", gid, 10)] == [ev.id]
    with pytest.raises(Reject, match="an event ends after it starts"):
        net.call(ALICE, "create_event",
                 R.EventInput("Late", "", "", start, start - 1, None))
    with pytest.raises(Reject, match="an event starts in the future"):
        net.call(ALICE, "create_event", R.EventInput("Past", "", "", 1, 2, None))


def test_closed_group_events_are_for_members(net: Net) -> None:
    gid = group(net, REQUEST, "Board")
    start = net.now() + HOUR_NS
    ev = net.call(ALICE, "create_event", R.EventInput("Board meeting", "", "", start,
                                                      start + HOUR_NS, gid))
    with pytest.raises(Reject, match=f"there is no event {ev.id} you can see"):
        net.call(BOB, "rsvp", ev.id, R.Rsvp.going)
    assert net.call(BOB, "upcoming_events", 10) == []


def test_flooding_joins_hits_the_rate_limit(net: Net) -> None:
    ids = []
    for n in range(31):  # group creation has its own limit: one every 6 minutes stays under
        net.c.backend.advance_time(6 * 60 * 1_000_000_000)
        ids.append(group(net, name=f"G{n}"))
    for gid in ids[:30]:
        net.c.update("join_group", gid, caller=BOB)
    with pytest.raises(Reject, match="rate limit on join: at most 30 group joins and RSVPs "
                                     "per 1 min; try again in"):
        net.c.update("join_group", ids[30], caller=BOB)


def test_groups_and_events_survive_an_upgrade(net: Net) -> None:
    gid = group(net, REQUEST, "Keepers")
    net.call(BOB, "join_group", gid)
    start = net.now() + HOUR_NS
    ev = net.call(ALICE, "create_event", R.EventInput("Kept", "", "", start, start, gid))
    net.c.upgrade(None)
    net.c.backend.advance_time(TICK_NS)
    assert net.call(ALICE, "get_group", gid).request_count == 1
    assert net.call(ALICE, "get_event", ev.id).going == 1
