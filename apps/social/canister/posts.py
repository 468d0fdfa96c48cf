"""Posts: text with images, hashtags and mentions; edit and delete; reactions; threaded
comments with reactions; reposts with a comment; post images served over HTTP.

How it works:

* ``posts[id]`` holds a `Post`; ids grow, so "newest first" is "highest id first".
  Each post is indexed under its author (``by_author[(author, id)]``), its hashtags
  (``by_tag[(tag, id)]``), its organisation or group scope (``by_org``,
  ``by_group``) and, through `post_search`, its words. The feeds (`feed`) read these
  indexes newest first and never scan every post.
* ``by_public`` lists the newest `PUBLIC_INDEX_MAX` posts an anonymous visitor may
  be able to read (public posts and group posts; never ``connections`` ones outside
  a group), for the landing's `feed.public_feed`, which still checks `can_see`
  because privacy settings and group policies change after posting.
* Who may read a post is `can_see`: nobody blocked either way; a group post follows
  its group (`groups.can_read`); a ``connections`` post is its author's and their
  1st-degree connections'.
* Reactions: one per user and post (``reactions[(post, user)] -> kind``), counted in
  ``Post.reactions`` in `ReactionKind` order. Comments live under their post
  (``comments[(post, id)]``, ids unique across posts); a reply's parent is a
  top-level comment (a reply to a reply joins the same thread), listed through
  ``replies[(post, parent, id)]``.
* Images are uploaded in chunks of `limits.CHUNK_BYTES` (`begin_post_image`,
  `upload_post_image_chunk`, `commit_post_image`), attached to one post and served by
  the gateway at ``/images/<id>-<key>`` (`image_response`); the key is drawn from the
  upload's digest and time, so only readers of the post learn the URL.
* Deleting a post removes its record, indexes and images at once, so every read path
  stops showing it in that message; its reactions and comments (any number of them)
  are removed `limits.DELETE_BATCH` entries per message: the first batch by
  `delete_post`, the rest by a timer (`cleanup_step`) working through the durable
  queue ``cleanup``, which `resume_cleanup` starts again after an upgrade. A deleted
  comment's reactions go the same way.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from icframework.sdk import (
    ChunkedUploads,
    Principal,
    Reject,
    StableBTreeMap,
    StableCell,
    clear_timer,
    ic,
    nat32,
    nat64,
    query,
    set_timer,
    update,
)
from icframework.sdk.http import HttpRequest, HttpResponse, immutable_response

from . import graph, groups, notifications, orgs, post_search, profiles, ratelimit, safety
from .limits import CHUNK_BYTES, DELETE_BATCH, HANDLE_MAX_CHARS, HANDLE_MIN_CHARS, IMAGE_TYPES
from .post_records import (
    Audience,
    Author,
    Comment,
    CommentPage,
    CommentView,
    ImageMeta,
    Post,
    PostInput,
    PostView,
    ReactionCount,
    ReactionKind,
)
from .store import MIN_PRINCIPAL, moderators
from .text import bounded, clean

MAX_POST_CHARS = 3_000
MAX_COMMENT_CHARS = 1_250
MAX_IMAGES_PER_POST = 4
MAX_POST_IMAGE_BYTES = 2 * 1024 * 1024
MAX_MENTIONS = 20
MAX_COMMENTS_PAGE = 50
EXCERPT_CHARS = 140
PUBLIC_INDEX_MAX = 10_000
"""Newest possibly-public posts ``by_public`` keeps (older ones drop out of it)."""

KINDS = list(ReactionKind)
_MENTION = re.compile(
    rf"(?<![\w@])@([A-Za-z0-9_]{{{HANDLE_MIN_CHARS},{HANDLE_MAX_CHARS}}})(?!\w)")
_IMAGE_PATH = re.compile(r"/images/(\d{1,19})-([0-9a-f]{16})")

next_post_id = StableCell[nat64]("posts.next_id", default=1)
posts = StableBTreeMap[nat64, Post]("posts.posts")
by_author = StableBTreeMap[tuple[Principal, nat64], bool]("posts.by_author")
by_tag = StableBTreeMap[tuple[str, nat64], bool]("posts.by_tag")
by_org = StableBTreeMap[tuple[nat64, nat64], bool]("posts.by_org")
by_group = StableBTreeMap[tuple[nat64, nat64], bool]("posts.by_group")
by_public = StableBTreeMap[nat64, bool]("posts.by_public")
reactions = StableBTreeMap[tuple[nat64, Principal], ReactionKind]("posts.reactions")
reaction_noted = StableBTreeMap[tuple[nat64, nat64, Principal], bool]("posts.reaction_noted")
next_comment_id = StableCell[nat64]("posts.next_comment", default=1)
comments = StableBTreeMap[tuple[nat64, nat64], Comment]("posts.comments")
comment_home = StableBTreeMap[nat64, nat64]("posts.comment_home")
top_level = StableBTreeMap[tuple[nat64, nat64], bool]("posts.top_level")
replies = StableBTreeMap[tuple[nat64, nat64, nat64], bool]("posts.replies")
comment_reactions = StableBTreeMap[tuple[nat64, nat64, Principal], ReactionKind](
    "posts.comment_reactions")
next_image_id = StableCell[nat64]("posts.next_image", default=1)
uploads = ChunkedUploads(
    "posts.", CHUNK_BYTES,
    not_found="no image upload {id} of yours in progress: start one with begin_post_image",
    incomplete="upload {id} has {received} of {size} bytes: send the missing chunks first")
images = StableBTreeMap[nat64, ImageMeta]("posts.images")
# Deleted posts ``(post, 0)`` and comments ``(post, comment)`` whose leftovers are still
# being removed, and the id of the timer that removes them (0: none set).
cleanup = StableBTreeMap[tuple[nat64, nat64], bool]("posts.cleanup")
cleanup_timer = StableCell[nat64]("posts.cleanup_timer", default=0)


# -- reading --------------------------------------------------------------------------------

def author(p: Principal) -> Author:
    return Author(p, profiles.handle_of(p))


def can_see(viewer: Principal, post: Post) -> bool:
    """Whether ``viewer`` (anonymous included) may read ``post``: not if either blocked
    the other; a group post as its group says; otherwise as the author's ``posts``
    profile section says (`safety.can_see_section`; an organisation's posts are its
    page's, public) and, for a ``connections`` post, to 1st-degree connections only."""
    if not viewer.is_anonymous and viewer != post.author and graph.is_blocked(viewer, post.author):
        return False
    if post.group_id is not None:
        return groups.can_read(viewer, post.group_id)
    if post.org_id is None and not safety.can_see_section(viewer, post.author, "posts"):
        return False
    if post.audience is Audience.connections:
        return viewer == post.author or graph.is_connected(viewer, post.author)
    return True


def visible(viewer: Principal, post_id: int) -> Post | None:
    """The post if it exists and ``viewer`` may read it (and, for a repost, nothing
    hides it: the reposted post is checked by `view`)."""
    post = posts.get(post_id)
    if post is None or not can_see(viewer, post):
        return None
    return post


def _counts(counts: list[int]) -> list[ReactionCount]:
    return [ReactionCount(kind, n) for kind, n in zip(KINDS, counts, strict=False) if n]


def view(viewer: Principal, post: Post, *, nested: bool = False) -> PostView:
    """``post`` as ``viewer`` sees it (they may read it: see `can_see`)."""
    original = None
    if post.repost_of is not None and not nested:
        inner = visible(viewer, post.repost_of)
        original = view(viewer, inner, nested=True) if inner is not None else None
    mine = None if viewer.is_anonymous else reactions.get((post.id, viewer))
    return PostView(
        id=post.id, author=author(post.author), text=post.text, images=post.images,
        hashtags=post.hashtags, mentions=[author(p) for p in post.mentions],
        audience=post.audience, org_id=post.org_id, group_id=post.group_id,
        reactions=_counts(post.reactions), my_reaction=mine,
        comment_count=post.comment_count, repost_count=post.repost_count,
        created_at=post.created_at, edited_at=post.edited_at, repost_id=post.repost_of,
        repost_of=original,
    )


def _readable(viewer: Principal, post_id: int) -> Post:
    post = visible(viewer, post_id)
    if post is None:
        raise Reject(f"there is no post {post_id} you can see: it was deleted, or it is "
                     "shared with its author's connections or a group only")
    return post


# -- text -----------------------------------------------------------------------------------

def mentions_of(text: str, me: Principal) -> list[Principal]:
    """Users ``@mentioned`` in ``text`` who have a profile and are not blocked with ``me``."""
    found: dict[Principal, None] = {}
    for handle in _MENTION.findall(text):
        user = profiles.principal_of_handle(handle.lower())
        if user is not None and user != me and not graph.is_blocked(me, user):
            found[user] = None
            if len(found) >= MAX_MENTIONS:
                break
    return list(found)


def _body(text: str, limit: int, what: str, required: bool) -> str:
    return bounded(what, text, limit, required=required, one_line=False)


def _me() -> Principal:
    """The caller, who must have a profile (`profiles.require_user` rejects otherwise)."""
    me = ic.caller()
    profiles.require_user(me)
    return me


def excerpt(text: str) -> str:
    flat = " ".join(clean(text).split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS - 1] + "…"


# -- indexes --------------------------------------------------------------------------------

def maybe_public(post: Post) -> bool:
    """Whether ``post`` belongs in ``by_public``: a public post, or any group post (a
    group may open later); a ``connections`` post outside a group never does."""
    return post.group_id is not None or post.audience is Audience.public


def fill_public_index() -> None:
    """Build ``by_public`` from the newest `PUBLIC_INDEX_MAX` posts when it is empty
    (a canister upgraded from a version without it); reads at most that many posts."""
    if not by_public.is_empty():
        return
    for scanned, (post_id, post) in enumerate(posts.items(reverse=True), 1):
        if maybe_public(post):
            by_public[post_id] = True
        if scanned >= PUBLIC_INDEX_MAX:
            return


def _index(post: Post) -> None:
    by_author[(post.author, post.id)] = True
    for tag in post.hashtags:
        by_tag[(tag, post.id)] = True
    if post.org_id is not None:
        by_org[(post.org_id, post.id)] = True
    if post.group_id is not None:
        by_group[(post.group_id, post.id)] = True
    if maybe_public(post):
        by_public[post.id] = True
        if len(by_public) > PUBLIC_INDEX_MAX:
            oldest = by_public.first()
            assert oldest is not None
            by_public.remove(oldest[0])
    post_search.index(post.id, post.text, post.hashtags)


def _unindex(post: Post) -> None:
    by_author.remove((post.author, post.id))
    for tag in post.hashtags:
        by_tag.remove((tag, post.id))
    if post.org_id is not None:
        by_org.remove((post.org_id, post.id))
    if post.group_id is not None:
        by_group.remove((post.group_id, post.id))
    by_public.remove(post.id)
    post_search.unindex(post.id, post.text, post.hashtags)


def _notify_mentions(post: Post, users: list[Principal]) -> None:
    for user in users:
        if can_see(user, post):
            notifications.notify(user, "mention", post.author, excerpt(post.text),
                                 f"post:{post.id}")


# -- posting --------------------------------------------------------------------------------

def _attach(me: Principal, image_ids: list[int], post_id: int) -> list[str]:
    if len(image_ids) > MAX_IMAGES_PER_POST:
        raise Reject(f"a post has at most {MAX_IMAGES_PER_POST} images, got {len(image_ids)}")
    paths = []
    for image_id in dict.fromkeys(image_ids):
        meta = images.get(image_id)
        if meta is None or meta.owner != me:
            raise Reject(f"image {image_id} is not one of your committed uploads: upload "
                         "it with begin_post_image, upload_post_image_chunk, commit_post_image")
        if meta.post_id is not None:
            raise Reject(f"image {image_id} already belongs to post {meta.post_id}: "
                         "upload it again for another post")
        meta.post_id = post_id
        images[image_id] = meta
        paths.append(f"/images/{image_id}-{meta.key}")
    return paths


def _new_post(me: Principal, text: str, image_ids: list[int], audience: Audience,
              org_id: int | None, group_id: int | None, repost_of: int | None) -> Post:
    ratelimit.check(me, "post")
    body = _body(text, MAX_POST_CHARS, "a post", required=not image_ids and repost_of is None)
    if org_id is not None and group_id is not None:
        raise Reject("a post belongs to an organisation or a group, not both: leave one null")
    if org_id is not None and not orgs.is_admin(org_id, me):
        raise Reject(f"only admins of organisation {org_id} post on its page")
    if group_id is not None:
        groups.require_member(group_id, me, "post in it")
    post_id = next_post_id.get()
    next_post_id.set(post_id + 1)
    post = Post(
        id=post_id, author=me, text=body, images=_attach(me, list(image_ids), post_id),
        hashtags=post_search.hashtags_of(body), mentions=mentions_of(body, me), audience=audience,
        org_id=org_id, group_id=group_id, repost_of=repost_of, reactions=[0] * len(KINDS),
        comment_count=0, repost_count=0, created_at=ic.time(), edited_at=None,
    )
    posts[post_id] = post
    _index(post)
    _notify_mentions(post, post.mentions)
    return post


@update
def create_post(data: PostInput) -> PostView:
    """Publish a post (see `PostInput`); ``@handles`` of people who may read it are
    notified (``mention``)."""
    me = _me()
    post = _new_post(me, data.text, list(data.image_ids), data.audience, data.org_id,
                     data.group_id, None)
    return view(me, post)


@update
def repost(post_id: nat64, comment: str, audience: Audience) -> PostView:
    """Share a public post (a repost of a repost shares the original) with an optional
    comment; its author is notified (``repost``)."""
    me = _me()
    original = _readable(me, post_id)
    if original.repost_of is not None:
        original = _readable(me, original.repost_of)
    if original.audience is not Audience.public or (
            original.group_id is not None and not groups.is_public(original.group_id)):
        raise Reject(f"post {original.id} is shared with connections or a closed group "
                     "only, so it cannot be reposted")
    post = _new_post(me, comment, [], audience, None, None, original.id)
    original.repost_count += 1
    posts[original.id] = original
    notifications.notify(original.author, "repost", me, excerpt(post.text or original.text),
                         f"post:{post.id}")
    return view(me, post)


@update
def edit_post(post_id: nat64, text: str) -> PostView:
    """Replace the text of one's own post (hashtags, mentions and search words follow;
    newly mentioned people are notified)."""
    me = _me()
    post = posts.get(post_id)
    if post is None or post.author != me:
        raise Reject(f"post {post_id} is not one of your posts: only its author edits it")
    ratelimit.check(me, "post")
    body = _body(text, MAX_POST_CHARS, "a post",
                 required=not post.images and post.repost_of is None)
    _unindex(post)
    fresh = mentions_of(body, me)
    new_mentions = [p for p in fresh if p not in post.mentions]
    post.text, post.hashtags, post.mentions = body, post_search.hashtags_of(body), fresh
    post.edited_at = ic.time()
    posts[post_id] = post
    _index(post)
    _notify_mentions(post, new_mentions)
    return view(me, post)


def _may_remove(me: Principal, post: Post) -> bool:
    if post.author == me or me in moderators:
        return True
    if post.org_id is not None and orgs.is_admin(post.org_id, me):
        return True
    return post.group_id is not None and groups.is_manager(post.group_id, me)


@update
def delete_post(post_id: nat64) -> None:
    """Delete a post (its author, an admin of its organisation, an owner or admin of
    its group, or a moderator), with its images, comments and reactions. Readers stop
    seeing it at once; its reactions and comments beyond the first
    `limits.DELETE_BATCH` are removed by a timer in later messages."""
    me = _me()
    post = posts.get(post_id)
    if post is None or not _may_remove(me, post):
        raise Reject(f"post {post_id} is not yours to delete: only its author, or an "
                     "admin of its organisation or group, deletes it")
    _unindex(post)
    posts.remove(post_id)
    for path in post.images:
        _drop_image(int(path.split("/")[2].split("-")[0]))
    if post.repost_of is not None:
        original = posts.get(post.repost_of)
        if original is not None:
            original.repost_count = max(0, original.repost_count - 1)
            posts[original.id] = original
    _clean_up(post_id, 0)


# -- deletion in batches --------------------------------------------------------------------

def _leftovers(post_id: int, comment_id: int
               ) -> list[tuple[StableBTreeMap[Any, Any], tuple[Any, ...], tuple[Any, ...]]]:
    """The key ranges ``[low, high)`` of what a deleted post (``comment_id`` 0) or
    comment leaves behind."""
    if comment_id:
        low, high = (post_id, comment_id, MIN_PRINCIPAL), (post_id, comment_id + 1, MIN_PRINCIPAL)
        return [(comment_reactions, low, high), (reaction_noted, low, high)]
    return [
        (reactions, (post_id, MIN_PRINCIPAL), (post_id + 1, MIN_PRINCIPAL)),
        (comment_reactions, (post_id, 0, MIN_PRINCIPAL), (post_id + 1, 0, MIN_PRINCIPAL)),
        (reaction_noted, (post_id, 0, MIN_PRINCIPAL), (post_id + 1, 0, MIN_PRINCIPAL)),
        (replies, (post_id, 0, 0), (post_id + 1, 0, 0)),
        (top_level, (post_id, 0), (post_id + 1, 0)),
        (comments, (post_id, 0), (post_id + 1, 0)),
    ]


def _sweep(post_id: int, comment_id: int, budget: int) -> tuple[int, bool]:
    """Remove at most ``budget`` entries left by a deleted post or comment (a comment
    counts 2: its record and ``comment_home``); returns the budget left and whether
    nothing is left."""
    for table, low, high in _leftovers(post_id, comment_id):
        cost = 2 if table is comments else 1
        room = budget // cost
        if room == 0:
            return budget, False
        keys = [key for key, _v in table.range(low, high, limit=room)]
        for key in keys:
            table.remove(key)
            if table is comments:
                comment_home.remove(key[1])
        budget -= len(keys) * cost
        if len(keys) == room:
            return budget, False
    return budget, True


def _clean_up(post_id: int, comment_id: int) -> None:
    """Remove a first batch of what a just deleted post or comment left; queue the rest
    for `cleanup_step`."""
    _budget, done = _sweep(post_id, comment_id, DELETE_BATCH)
    if not done:
        cleanup[(post_id, comment_id)] = True
        _arm_cleanup()


def _arm_cleanup() -> None:
    """Set the one timer that runs `cleanup_step` (replacing any earlier one, so two
    steps never share a message)."""
    clear_timer(cleanup_timer.get())
    cleanup_timer.set(set_timer(1, cleanup_step))


def cleanup_step() -> None:
    """Timer: remove at most `limits.DELETE_BATCH` entries of the queued deleted posts
    and comments (each finished queue entry counts one), oldest first; set the timer
    again while any remain."""
    budget = DELETE_BATCH
    for key, _t in list(cleanup.range(limit=budget)):
        budget, done = _sweep(key[0], key[1], budget)
        if not done:
            break
        cleanup.remove(key)
        budget -= 1
        if budget <= 0:
            break
    if cleanup.is_empty():
        cleanup_timer.set(0)
    else:
        _arm_cleanup()


def resume_cleanup() -> None:
    """After an upgrade: run the cleanup of deleted posts and comments on (a step that
    failed stopped its timer; the upgrade that fixes it starts it again)."""
    if not cleanup.is_empty():
        _arm_cleanup()


@query
def get_post(post_id: nat64) -> PostView:
    """One post, if the caller may read it."""
    me = ic.caller()
    return view(me, _readable(me, post_id))


@query
def comment_post(comment_id: nat64) -> nat64:
    """The post a comment belongs to (a reported comment is named by its id alone)."""
    post_id = comment_home.get(comment_id)
    if post_id is None or post_id not in posts:
        raise Reject(f"there is no comment {comment_id}")
    return post_id


# -- reactions ------------------------------------------------------------------------------

@update
def react(post_id: nat64, kind: ReactionKind | None) -> PostView:
    """Set the caller's reaction to a post (null removes it). The author is notified
    once per person and post (``reaction``)."""
    me = _me()
    post = _readable(me, post_id)
    ratelimit.check(me, "reaction")
    old = reactions.get((post_id, me))
    if old is not None:
        post.reactions[KINDS.index(old)] -= 1
    if kind is None:
        reactions.remove((post_id, me))
    else:
        reactions[(post_id, me)] = kind
        post.reactions[KINDS.index(kind)] += 1
    posts[post_id] = post
    if kind is not None and (post_id, 0, me) not in reaction_noted:
        reaction_noted[(post_id, 0, me)] = True
        notifications.notify(post.author, "reaction", me,
                             f"{kind.value}: {excerpt(post.text)}", f"post:{post_id}")
    return view(me, post)


@query
def post_reactions(post_id: nat64, cursor: Principal | None, limit: nat32
                   ) -> tuple[list[tuple[Author, ReactionKind]], Principal | None]:
    """Who reacted to a post and how, at most ``limit`` (1–100) per page."""
    me = ic.caller()
    _readable(me, post_id)
    n = max(1, min(int(limit), 100))
    start = (post_id, cursor) if cursor is not None else (post_id, MIN_PRINCIPAL)
    rows = list(reactions.range(start, (post_id + 1, MIN_PRINCIPAL), limit=n + 1))
    out = [(author(user), kind) for (_p, user), kind in rows[:n]
           if me.is_anonymous or not graph.is_blocked(me, user)]
    return out, rows[n][0][1] if len(rows) > n else None


# -- comments -------------------------------------------------------------------------------

def _comment_view(viewer: Principal, c: Comment) -> CommentView:
    mine = None if viewer.is_anonymous or c.deleted else comment_reactions.get(
        (c.post_id, c.id, viewer))
    return CommentView(
        id=c.id, post_id=c.post_id, parent_id=c.parent_id, author=author(c.author),
        text="" if c.deleted else c.text,
        mentions=[] if c.deleted else [author(p) for p in c.mentions],
        reactions=[] if c.deleted else _counts(c.reactions), my_reaction=mine,
        reply_count=c.reply_count, created_at=c.created_at, edited_at=c.edited_at,
        deleted=c.deleted,
    )


def _comment(post_id: int, comment_id: int) -> Comment:
    c = comments.get((post_id, comment_id))
    if c is None or c.deleted or post_id not in posts:  # a deleted post's, being removed
        raise Reject(f"there is no comment {comment_id} on post {post_id}")
    return c


@update
def add_comment(post_id: nat64, parent_id: nat64 | None, text: str) -> CommentView:
    """Comment on a post the caller may read, or reply to one of its comments (a reply
    to a reply joins the same thread). The post's author (``comment``), the parent
    comment's author (``comment``) and mentioned readers (``mention``) are notified."""
    me = _me()
    post = _readable(me, post_id)
    ratelimit.check(me, "comment")
    body = _body(text, MAX_COMMENT_CHARS, "a comment", required=True)
    parent = None
    if parent_id is not None:
        parent = _comment(post_id, parent_id)
        if parent.parent_id is not None:
            parent = _comment(post_id, parent.parent_id)
    comment_id = next_comment_id.get()
    next_comment_id.set(comment_id + 1)
    c = Comment(
        id=comment_id, post_id=post_id, parent_id=None if parent is None else parent.id,
        author=me, text=body, mentions=mentions_of(body, me), reactions=[0] * len(KINDS),
        reply_count=0, created_at=ic.time(), edited_at=None, deleted=False,
    )
    post.comment_count += 1
    posts[post_id] = post
    comments[(post_id, c.id)] = c
    comment_home[c.id] = post_id
    if parent is None:
        top_level[(post_id, c.id)] = True
    else:
        parent.reply_count += 1
        comments[(post_id, parent.id)] = parent
        replies[(post_id, parent.id, c.id)] = True
    ref = f"comment:{post_id}:{c.id}"
    notifications.notify(post.author, "comment", me, excerpt(body), ref)
    if parent is not None and parent.author != post.author:
        notifications.notify(parent.author, "comment", me, excerpt(body), ref)
    for user in c.mentions:
        if can_see(user, post):
            notifications.notify(user, "mention", me, excerpt(body), ref)
    return _comment_view(me, c)


@update
def edit_comment(post_id: nat64, comment_id: nat64, text: str) -> CommentView:
    """Replace the text of one's own comment."""
    me = _me()
    c = _comment(post_id, comment_id)
    if c.author != me:
        raise Reject(f"comment {comment_id} is not yours: only its author edits it")
    ratelimit.check(me, "comment")
    c.text = _body(text, MAX_COMMENT_CHARS, "a comment", required=True)
    c.mentions = mentions_of(c.text, me)
    c.edited_at = ic.time()
    comments[(post_id, comment_id)] = c
    return _comment_view(me, c)


@update
def delete_comment(post_id: nat64, comment_id: nat64) -> None:
    """Delete a comment (its author, or whoever may delete the post: its author, the
    admins of its organisation or group, moderators).
    A comment with replies stays as a tombstone so the thread keeps its shape; its
    reactions beyond the first `limits.DELETE_BATCH` are removed by a timer."""
    me = _me()
    c = _comment(post_id, comment_id)
    post = posts[post_id]
    if c.author != me and not _may_remove(me, post):
        raise Reject(f"comment {comment_id} is not yours to delete: only its author or "
                     "the post's author deletes it")
    post.comment_count = max(0, post.comment_count - 1)
    posts[post_id] = post
    _clean_up(post_id, comment_id)
    if c.reply_count:
        c.deleted, c.text, c.mentions, c.reactions = True, "", [], [0] * len(KINDS)
        comments[(post_id, comment_id)] = c
        return
    comments.remove((post_id, comment_id))
    comment_home.remove(comment_id)
    if c.parent_id is None:
        top_level.remove((post_id, comment_id))
        return
    replies.remove((post_id, c.parent_id, comment_id))
    parent = comments.get((post_id, c.parent_id))
    if parent is not None:
        parent.reply_count -= 1
        if parent.deleted and not parent.reply_count:
            comments.remove((post_id, parent.id))
            comment_home.remove(parent.id)
            top_level.remove((post_id, parent.id))
        else:
            comments[(post_id, parent.id)] = parent


def _page_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not (cursor.isdigit() and cursor.isascii() and len(cursor) <= 20):
        raise Reject(f"{cursor[:40]!r} is not a comment cursor; pass the next_cursor of "
                     "the previous page, or null for the first")
    return int(cursor)


def _hidden(viewer: Principal, c: Comment) -> bool:
    return not viewer.is_anonymous and c.author != viewer and graph.is_blocked(viewer, c.author)


@query
def post_comments(post_id: nat64, cursor: str | None, limit: nat32) -> CommentPage:
    """A post's top-level comments, oldest first (``reply_count`` tells how many
    replies each has: read them with `comment_replies`)."""
    me = ic.caller()
    _readable(me, post_id)
    n = max(1, min(int(limit), MAX_COMMENTS_PAGE))
    rows = list(top_level.range((post_id, _page_cursor(cursor)), (post_id + 1, 0), limit=n + 1))
    out = [comments[key] for key, _t in rows[:n]]
    nxt = str(rows[n][0][1]) if len(rows) > n else None
    return CommentPage([_comment_view(me, c) for c in out if not _hidden(me, c)], nxt)


@query
def comment_replies(post_id: nat64, comment_id: nat64, cursor: str | None, limit: nat32
                    ) -> CommentPage:
    """Replies to a top-level comment, oldest first."""
    me = ic.caller()
    _readable(me, post_id)
    n = max(1, min(int(limit), MAX_COMMENTS_PAGE))
    start = (post_id, comment_id, _page_cursor(cursor))
    rows = list(replies.range(start, (post_id, comment_id + 1, 0), limit=n + 1))
    out = [comments[(post_id, key[2])] for key, _r in rows[:n]]
    nxt = str(rows[n][0][2]) if len(rows) > n else None
    return CommentPage([_comment_view(me, c) for c in out if not _hidden(me, c)], nxt)


@update
def react_to_comment(post_id: nat64, comment_id: nat64, kind: ReactionKind | None
                     ) -> CommentView:
    """Set the caller's reaction to a comment (null removes it); its author is notified
    once per person and comment."""
    me = _me()
    _readable(me, post_id)
    c = _comment(post_id, comment_id)
    ratelimit.check(me, "reaction")
    old = comment_reactions.get((post_id, comment_id, me))
    if old is not None:
        c.reactions[KINDS.index(old)] -= 1
    if kind is None:
        comment_reactions.remove((post_id, comment_id, me))
    else:
        comment_reactions[(post_id, comment_id, me)] = kind
        c.reactions[KINDS.index(kind)] += 1
    comments[(post_id, comment_id)] = c
    if kind is not None and (post_id, comment_id, me) not in reaction_noted:
        reaction_noted[(post_id, comment_id, me)] = True
        notifications.notify(c.author, "reaction", me, f"{kind.value}: {excerpt(c.text)}",
                             f"comment:{post_id}:{comment_id}")
    return _comment_view(me, c)


# -- reports --------------------------------------------------------------------------------

@update
def report_post(post_id: nat64, reason: str) -> None:
    """Report a post the caller can read to the moderators."""
    me = _me()
    _readable(me, post_id)
    safety.file_report(me, "post", str(post_id), reason)


@update
def report_comment(post_id: nat64, comment_id: nat64, reason: str) -> None:
    """Report a comment to the moderators (comment ids are unique across posts:
    `comment_post` finds its post)."""
    me = _me()
    _readable(me, post_id)
    _comment(post_id, comment_id)
    safety.file_report(me, "comment", str(comment_id), reason)


# -- images ---------------------------------------------------------------------------------

@update
def begin_post_image(content_type: str, size: nat32) -> nat64:
    """Start uploading an image of ``size`` bytes (PNG, JPEG, GIF or WebP, at most
    2 MiB) for a post; returns its id for `upload_post_image_chunk`."""
    me = _me()
    ratelimit.check(me, "image")
    if content_type not in IMAGE_TYPES:
        raise Reject(f"images are {', '.join(IMAGE_TYPES)}, not {content_type[:60]!r}")
    if not 0 < size <= MAX_POST_IMAGE_BYTES:
        raise Reject(f"a post image is 1 to {MAX_POST_IMAGE_BYTES} bytes, got {size}: "
                     "scale it down")
    image_id = next_image_id.get()
    next_image_id.set(image_id + 1)
    uploads.begin(image_id, me, content_type, size)
    return image_id


@update
def upload_post_image_chunk(image_id: nat64, index: nat32, data: bytes) -> nat32:
    """Store chunk ``index`` of an upload (every chunk but the last is exactly
    512 KiB); returns the bytes received so far."""
    return uploads.receive(image_id, ic.caller(), index, data)


@update
def commit_post_image(image_id: nat64) -> nat64:
    """Finish an upload once every chunk is in; pass the id to `create_post`."""
    me = ic.caller()
    upload, sha256 = uploads.commit(image_id, me)
    key = hashlib.sha256(sha256 + ic.time().to_bytes(8, "big") + me.raw
                         + image_id.to_bytes(8, "big")).hexdigest()[:16]
    images[image_id] = ImageMeta(me, upload.content_type, upload.size, upload.chunks,
                                 sha256, key, None)
    return image_id


def _drop_image(image_id: int) -> None:
    meta = images.remove(image_id)
    if meta is not None:
        uploads.delete(image_id, meta.chunks)


def image_response(request: HttpRequest, path: str) -> HttpResponse | None:
    """The gateway's answer for ``/images/<id>-<key>``: the image of a post (immutable,
    cached for a year), or None when no such image is attached to a live post."""
    match = _IMAGE_PATH.fullmatch(path)
    if match is None:
        return None
    image_id = int(match[1])
    meta = images.get(image_id)
    if meta is None or meta.key != match[2] or meta.post_id is None:
        return None
    return immutable_response(request, meta.content_type,
                              uploads.content(image_id, meta.chunks), meta.sha256)
