"""Posts in plain CPython: text, hashtags and mentions, images over the gateway, edits
and deletes, reactions, threaded comments with reactions, reposts, reports, bad input
and flooding, and an upgrade that keeps everything."""

from __future__ import annotations

from typing import Any

import pytest

from icframework.sdk import Principal, Reject, set_backend
from icframework.sdk.stable import namespace

from .posts_world import ALICE, ANON, APP, BOB, CAROL, DAVE, MOD, TICK_NS, Net, R, people

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def net() -> Net:
    n = Net()
    people(n, "alice", "bob", "carol", "dave")
    return n


def upload(net: Net, who: Principal, data: bytes = PNG, content_type: str = "image/png") -> int:
    image_id = net.call(who, "begin_post_image", content_type, len(data))
    net.call(who, "upload_post_image_chunk", image_id, 0, data)
    return int(net.call(who, "commit_post_image", image_id))


def gateway(net: Net, path: str) -> tuple[int, bytes, dict[str, str]]:
    """What the HTTP gateway answers for GET ``path``."""
    request = APP.records.HttpRequest("GET", path, [], b"")
    answer = net.c.query("http_request", request, caller=ANON)
    return answer.status_code, answer.body, dict(answer.headers)


def test_a_post_keeps_raw_text_and_finds_hashtags_and_mentions(net: Net) -> None:
    post = net.post(ALICE, "Shipping the <b>new</b> #Python SDK with @bob and @nobody #python #IC")
    assert post.text == "Shipping the <b>new</b> #Python SDK with @bob and @nobody #python #IC"
    assert post.hashtags == ["python", "ic"]
    assert [m.handle for m in post.mentions] == ["bob"]
    assert post.author.handle == "alice"
    assert net.call(BOB, "get_post", post.id).text == post.text


def test_a_mention_notifies_only_people_who_may_read_the_post(net: Net) -> None:
    net.post(ALICE, "thanks @bob", "connections")
    assert net.call(BOB, "unread_notifications") == 0
    net.connect(ALICE, BOB)
    before = net.call(BOB, "unread_notifications")
    net.post(ALICE, "thanks again @bob", "connections")
    page = net.call(BOB, "my_notifications", None, 10)
    assert page.unread == before + 1
    assert page.notifications[0].kind is R.NotificationKind.mention
    assert page.notifications[0].subject == "thanks again @bob"


def test_bad_posts_are_refused_with_the_reason(net: Net) -> None:
    with pytest.raises(Reject, match="a post is required"):
        net.post(ALICE, "   ")
    with pytest.raises(Reject, match="a post is at most 3000 characters, got 3001"):
        net.post(ALICE, "x" * 3001)
    with pytest.raises(Reject, match="sign in first: the anonymous principal has no profile"):
        net.post(ANON, "hello")
    with pytest.raises(Reject, match="only admins of organisation 99"):
        net.post(ALICE, "hi", org_id=99)
    with pytest.raises(Reject, match="there is no group 5"):
        net.post(ALICE, "hi", group_id=5)


def test_only_the_author_edits_and_deletes(net: Net) -> None:
    post = net.post(ALICE, "first #draft")
    with pytest.raises(Reject, match=f"post {post.id} is not one of your posts"):
        net.call(BOB, "edit_post", post.id, "mine now")
    with pytest.raises(Reject, match=f"post {post.id} is not yours to delete"):
        net.call(BOB, "delete_post", post.id)
    edited = net.call(ALICE, "edit_post", post.id, "final #release")
    assert edited.hashtags == ["release"] and edited.edited_at is not None
    assert net.call(BOB, "hashtag", "draft").post_count == 0
    assert net.call(BOB, "hashtag", "release").post_count == 1
    net.call(ALICE, "delete_post", post.id)
    with pytest.raises(Reject, match=f"there is no post {post.id} you can see"):
        net.call(BOB, "get_post", post.id)
    assert net.call(BOB, "hashtag", "release").post_count == 0


def test_reactions_one_per_person_counted_by_kind(net: Net) -> None:
    post = net.post(ALICE, "launch day")
    net.call(BOB, "react", post.id, R.ReactionKind.like)
    net.call(CAROL, "react", post.id, R.ReactionKind.celebrate)
    view = net.call(BOB, "react", post.id, R.ReactionKind.celebrate)
    assert [(r.kind, r.count) for r in view.reactions] == [(R.ReactionKind.celebrate, 2)]
    assert view.my_reaction is R.ReactionKind.celebrate
    view = net.call(BOB, "react", post.id, None)
    assert [(r.kind, r.count) for r in view.reactions] == [(R.ReactionKind.celebrate, 1)]
    who, _next = net.call(ALICE, "post_reactions", post.id, None, 10)
    assert [(a.handle, k) for a, k in who] == [("carol", R.ReactionKind.celebrate)]
    kinds = [n.kind for n in net.call(ALICE, "my_notifications", None, 10).notifications]
    assert kinds.count(R.NotificationKind.reaction) == 2  # bob once, though he reacted twice


def test_comments_thread_under_top_level_comments(net: Net) -> None:
    post = net.post(ALICE, "question")
    top = net.call(BOB, "add_comment", post.id, None, "answer")
    reply = net.call(CAROL, "add_comment", post.id, top.id, "agree")
    deeper = net.call(DAVE, "add_comment", post.id, reply.id, "me too")
    assert reply.parent_id == top.id and deeper.parent_id == top.id
    page = net.call(ALICE, "post_comments", post.id, None, 10)
    assert [(c.text, c.reply_count) for c in page.comments] == [("answer", 2)]
    replies = net.call(ALICE, "comment_replies", post.id, top.id, None, 10)
    assert [c.text for c in replies.comments] == ["agree", "me too"]
    assert net.call(ALICE, "get_post", post.id).comment_count == 3
    liked = net.call(ALICE, "react_to_comment", post.id, reply.id, R.ReactionKind.insightful)
    assert [(r.kind, r.count) for r in liked.reactions] == [(R.ReactionKind.insightful, 1)]
    # the post's author and the thread's author hear of the reply
    bob_kinds = [n.kind for n in net.call(BOB, "my_notifications", None, 10).notifications]
    assert R.NotificationKind.comment in bob_kinds


def test_deleting_a_comment_with_replies_leaves_a_tombstone(net: Net) -> None:
    post = net.post(ALICE, "question")
    top = net.call(BOB, "add_comment", post.id, None, "answer")
    reply = net.call(CAROL, "add_comment", post.id, top.id, "agree")
    with pytest.raises(Reject, match=f"comment {top.id} is not yours to delete"):
        net.call(CAROL, "delete_comment", post.id, top.id)
    net.call(BOB, "delete_comment", post.id, top.id)
    page = net.call(ALICE, "post_comments", post.id, None, 10)
    assert [(c.deleted, c.text) for c in page.comments] == [(True, "")]
    net.call(ALICE, "delete_comment", post.id, reply.id)  # the post's author may
    assert net.call(ALICE, "post_comments", post.id, None, 10).comments == []
    assert net.call(ALICE, "get_post", post.id).comment_count == 0


def test_reposts_carry_a_comment_and_the_original(net: Net) -> None:
    post = net.post(ALICE, "big news #launch")
    share = net.call(BOB, "repost", post.id, "worth reading", R.Audience.public)
    assert share.repost_of.id == post.id and share.text == "worth reading"
    again = net.call(CAROL, "repost", share.id, "", R.Audience.public)
    assert again.repost_id == post.id  # a repost of a repost shares the original
    assert net.call(DAVE, "get_post", post.id).repost_count == 2
    private = net.post(ALICE, "just for my connections", "connections")
    net.connect(ALICE, BOB)
    with pytest.raises(Reject, match="cannot be reposted"):
        net.call(BOB, "repost", private.id, "", R.Audience.public)


def test_post_images_upload_in_chunks_and_are_served_by_the_gateway(net: Net) -> None:
    image_id = upload(net, ALICE)
    post = net.post(ALICE, "", image_ids=[image_id])
    [path] = post.images
    status, body, headers = gateway(net, path)
    assert (status, body) == (200, PNG)
    assert headers["content-type"] == "image/png"
    assert "immutable" in headers["cache-control"]
    assert gateway(net, f"/images/{image_id}-0000000000000000")[0] == 404
    with pytest.raises(Reject, match=f"image {image_id} already belongs to post {post.id}"):
        net.post(ALICE, "again", image_ids=[image_id])
    net.call(ALICE, "delete_post", post.id)
    assert gateway(net, path)[0] == 404


def test_bad_images_are_refused(net: Net) -> None:
    with pytest.raises(Reject, match="a post image is 1 to 2097152 bytes, got 2097153"):
        net.call(ALICE, "begin_post_image", "image/png", 2 * 1024 * 1024 + 1)
    with pytest.raises(Reject, match="not 'image/svg\\+xml'"):
        net.call(ALICE, "begin_post_image", "image/svg+xml", 100)
    image_id = net.call(ALICE, "begin_post_image", "image/png", 10)
    with pytest.raises(Reject, match=f"no image upload {image_id} of yours"):
        net.call(BOB, "upload_post_image_chunk", image_id, 0, b"x" * 10)
    with pytest.raises(Reject, match="must be 10 bytes, got 3"):
        net.call(ALICE, "upload_post_image_chunk", image_id, 0, b"abc")
    net.call(ALICE, "upload_post_image_chunk", image_id, 0, b"<svg>12345")
    with pytest.raises(Reject, match=f"upload {image_id} is not a image/png file"):
        net.call(ALICE, "commit_post_image", image_id)
    theirs = upload(net, BOB)
    with pytest.raises(Reject, match=f"image {theirs} is not one of your committed uploads"):
        net.post(ALICE, "stolen", image_ids=[theirs])
    many = [upload(net, ALICE) for _ in range(5)]
    with pytest.raises(Reject, match="a post has at most 4 images, got 5"):
        net.post(ALICE, "gallery", image_ids=many)


def test_flooding_posts_hits_the_rate_limit(net: Net) -> None:
    data = R.PostInput(text="spam", image_ids=[], audience=R.Audience.public)
    for _ in range(10):
        net.c.update("create_post", data, caller=ALICE)
    with pytest.raises(Reject, match=r"rate limit on post: at most 10 posts \(new, edited or "
                                     r"reposted\) per 1 min; try again in"):
        net.c.update("create_post", data, caller=ALICE)
    net.c.backend.advance_time(61 * 1_000_000_000)
    net.c.update("create_post", data, caller=ALICE)


def test_reports_reach_the_moderators_queue_and_moderators_remove_posts() -> None:
    net = Net(moderators=[MOD])
    people(net, "alice", "bob", "carol")
    net.register(MOD, "moderator")
    post = net.post(ALICE, "something rude")
    comment = net.call(BOB, "add_comment", post.id, None, "rude too")
    net.call(CAROL, "report_post", post.id, "rude")
    net.call(CAROL, "report_comment", post.id, comment.id, "rude")
    with pytest.raises(Reject, match="there is no comment 99"):
        net.call(CAROL, "report_comment", post.id, 99, "rude")
    queue = net.call(MOD, "report_queue", APP.records.ReportStatus.open, None, 10).reports
    assert sorted((r.kind, r.target_id) for r in queue) == [
        ("comment", str(comment.id)), ("post", str(post.id))]
    assert net.call(MOD, "comment_post", comment.id) == post.id
    net.call(MOD, "delete_post", post.id)
    with pytest.raises(Reject, match=f"there is no comment {comment.id}"):
        net.call(MOD, "comment_post", comment.id)


def test_everything_survives_an_upgrade(net: Net) -> None:
    image_id = upload(net, ALICE)
    post = net.post(ALICE, "before #upgrade", image_ids=[image_id])
    net.call(BOB, "add_comment", post.id, None, "still here")
    net.call(BOB, "react", post.id, R.ReactionKind.love)
    net.c.upgrade(None)
    net.c.backend.advance_time(TICK_NS)
    after = net.call(BOB, "get_post", post.id)
    assert (after.text, after.comment_count, after.my_reaction) == (
        "before #upgrade", 1, R.ReactionKind.love)
    assert gateway(net, after.images[0])[1] == PNG
    assert [p.id for p in net.call(BOB, "search_posts", "upgrade", None, 10).posts] == [post.id]


# -- deleting in batches ----------------------------------------------------------------------

LEFTOVERS = ("reactions", "comments", "comment_home", "top_level", "replies",
             "comment_reactions", "reaction_noted")
"""The `posts` tables a deleted post's reactions and comments live in."""


def _state(net: Net, read: Any) -> Any:
    """``read()`` over the canister's committed state."""
    previous = set_backend(net.c.backend)
    try:
        return read()
    finally:
        set_backend(previous)


def _rows(net: Net) -> set[tuple[str, Any, Any]]:
    """Every entry of the leftover tables, as ``(table, key, repr(value))``."""
    return _state(net, lambda: {(name, key, repr(value)) for name in LEFTOVERS
                                for key, value in getattr(APP.posts, name).items()})


def _of(post_id: int, rows: set[tuple[str, Any, Any]]) -> set[tuple[str, Any, Any]]:
    """The rows that belong to post ``post_id`` (``comment_home`` maps a comment to it)."""
    return {r for r in rows if (r[2] if r[0] == "comment_home" else r[1][0]) in (
        post_id, repr(post_id))}


def _count_removals(net: Net, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, each removal from a leftover table appends 1 to the returned list
    (the real store; `_per_message` reads it per message)."""
    prefixes = tuple(namespace(f"posts.{name}") for name in LEFTOVERS)
    removed: list[int] = []
    delete = net.c.backend.kv_delete

    def counting_delete(key: bytes) -> None:
        if key.startswith(prefixes):
            removed.append(1)
        delete(key)

    monkeypatch.setattr(net.c.backend, "kv_delete", counting_delete)
    return removed


def _popular(net: Net, text: str) -> tuple[Any, list[Any]]:
    """A post with reactions, comments, replies and comment reactions from bob, carol
    and dave (36 leftover entries); returns it and its comments."""
    post = net.post(ALICE, text)
    made = []
    for who in (BOB, CAROL, DAVE):
        net.call(who, "react", post.id, R.ReactionKind.like)
        top = net.call(who, "add_comment", post.id, None, f"great {text}")
        made += [top, net.call(ALICE, "add_comment", post.id, top.id, "thanks")]
    for c in made[:2]:
        for who in (BOB, CAROL, DAVE):
            net.call(who, "react_to_comment", post.id, c.id, R.ReactionKind.insightful)
    return post, made


def test_a_popular_post_is_hidden_at_once_and_removed_in_batches(
        net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = 10
    monkeypatch.setattr(APP.posts, "DELETE_BATCH", batch)  # entries per message
    other, other_comments = _popular(net, "other #launch")
    image_id = upload(net, ALICE)
    post = net.post(ALICE, "popular #launch", image_ids=[image_id])
    made: list[Any] = []
    for who in (BOB, CAROL, DAVE):
        net.call(who, "react", post.id, R.ReactionKind.love)
        top = net.call(who, "add_comment", post.id, None, "wow")
        made += [top, net.call(ALICE, "add_comment", post.id, top.id, "thanks")]
        for c in made:
            net.call(who, "react_to_comment", post.id, c.id, R.ReactionKind.like)
    before = _rows(net)
    theirs = before - _of(post.id, before)
    assert len(_of(post.id, before)) > 3 * batch
    removed = _count_removals(net, monkeypatch)

    net.call(ALICE, "delete_post", post.id)
    assert 0 < len(removed) <= batch
    # Gone for every reader at once, though most of its entries are still stored.
    assert len(_of(post.id, _rows(net))) > batch
    for method, args in [("get_post", (post.id,)), ("post_comments", (post.id, None, 10)),
                         ("comment_replies", (post.id, made[0].id, None, 10)),
                         ("post_reactions", (post.id, None, 10)),
                         ("comment_post", (made[-1].id,)),
                         ("edit_comment", (post.id, made[-1].id, "edited")),
                         ("react_to_comment", (post.id, made[-1].id, None)),
                         ("add_comment", (post.id, None, "late"))]:
        who = ALICE if method in ("edit_comment", "comment_post") else BOB
        with pytest.raises(Reject, match=r"there is no (post|comment)"):
            net.call(who, method, *args)
    with pytest.raises(Reject, match=f"comment {made[-1].id}"):
        net.call(ALICE, "delete_comment", post.id, made[-1].id)
    for page in (net.call(BOB, "user_posts", ALICE, None, 50),
                 net.call(BOB, "hashtag_posts", "launch", None, 50),
                 net.call(BOB, "search_posts", "#launch", None, 50)):
        assert [p.id for p in page.posts] == [other.id]
    assert [i.post.id for i in net.call(ALICE, "home_feed", R.FeedOrder.newest, None, 50
                                        ).items] == [other.id]
    assert net.call(BOB, "hashtag", "launch").post_count == 1
    assert gateway(net, post.images[0])[0] == 404

    steps = []
    while _of(post.id, _rows(net)):
        removed.clear()
        assert net.c.advance_time(1) == 1, "the cleanup's timer is not set"
        steps.append(len(removed))
        assert len(steps) < 20, "the cleanup never finished"
    assert max(steps) <= batch and len(steps) >= 3
    assert net.c.advance_time(1) <= 1  # at most the step that finds nothing left
    assert _state(net, APP.posts.cleanup.is_empty) and net.c.advance_time(1) == 0
    assert _rows(net) == theirs  # nothing of the other post was touched
    view = net.call(BOB, "get_post", other.id)
    assert (view.comment_count, [(r.kind, r.count) for r in view.reactions]) == (
        6, [(R.ReactionKind.like, 3)])
    assert len(net.call(BOB, "post_comments", other.id, None, 10).comments) == 3
    assert net.call(BOB, "comment_post", other_comments[0].id) == other.id


def test_a_moderator_deletes_a_popular_post_and_an_upgrade_resumes_the_cleanup(
        monkeypatch: pytest.MonkeyPatch) -> None:
    net = Net(moderators=[MOD])
    people(net, "alice", "bob", "carol", "dave")
    net.register(MOD, "moderator")
    monkeypatch.setattr(APP.posts, "DELETE_BATCH", 5)
    post, _made = _popular(net, "rude")
    other, _theirs = _popular(net, "fine")
    others = _of(other.id, _rows(net))
    removed = _count_removals(net, monkeypatch)
    net.call(MOD, "delete_post", post.id)
    assert len(removed) == 5
    with pytest.raises(Reject, match=f"there is no post {post.id}"):
        net.call(BOB, "get_post", post.id)
    removed.clear()
    assert net.c.advance_time(1) == 1 and len(removed) == 5
    left = len(_of(post.id, _rows(net)))

    # A step that fails stops the timer; the upgrade that follows starts it again.
    def failing(_post: int, _comment: int, _budget: int) -> tuple[int, bool]:
        raise RuntimeError("a failing step")

    sweep = APP.posts._sweep
    monkeypatch.setattr(APP.posts, "_sweep", failing)
    assert net.c.advance_time(1) == 1
    monkeypatch.setattr(APP.posts, "_sweep", sweep)
    assert net.c.advance_time(1) == 0 and len(_of(post.id, _rows(net))) == left
    net.c.upgrade(None)
    steps = 0
    while not _state(net, APP.posts.cleanup.is_empty):
        removed.clear()
        assert net.c.advance_time(1) == 1  # one timer, one step per message
        assert len(removed) <= 5
        steps += 1
        assert steps < 20, "the cleanup never finished"
    assert _of(post.id, _rows(net)) == set()
    assert _of(other.id, _rows(net)) == others
    net.c.upgrade(None)  # nothing queued: no timer
    assert net.c.advance_time(1) == 0


def test_a_deleted_comment_loses_its_many_reactions_in_batches(
        net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(APP.posts, "DELETE_BATCH", 3)
    post = net.post(ALICE, "question")
    top = net.call(BOB, "add_comment", post.id, None, "answer")
    reply = net.call(CAROL, "add_comment", post.id, top.id, "agree")
    keep = net.call(DAVE, "add_comment", post.id, None, "another")
    for who in (ALICE, CAROL, DAVE):
        net.call(who, "react_to_comment", post.id, top.id, R.ReactionKind.like)
        net.call(who, "react_to_comment", post.id, keep.id, R.ReactionKind.support)

    def reactions_to(comment_id: int) -> set[tuple[str, Any, Any]]:
        return {r for r in _rows(net) if r[0] in ("comment_reactions", "reaction_noted")
                and r[1][:2] == (post.id, comment_id)}

    kept = reactions_to(keep.id)
    assert len(reactions_to(top.id)) == 6  # 3 reactions, 3 notes that notified
    removed = _count_removals(net, monkeypatch)
    net.call(BOB, "delete_comment", post.id, top.id)  # a tombstone: it has a reply
    assert len(removed) == 3
    [tomb, _] = net.call(ALICE, "post_comments", post.id, None, 10).comments
    assert (tomb.deleted, tomb.reactions, tomb.my_reaction) == (True, [], None)
    while not _state(net, APP.posts.cleanup.is_empty):
        removed.clear()
        assert net.c.advance_time(1) == 1 and len(removed) <= 3
    assert reactions_to(top.id) == set() and reactions_to(keep.id) == kept
    assert net.call(ALICE, "comment_replies", post.id, top.id, None, 10).comments[0].id == (
        reply.id)
