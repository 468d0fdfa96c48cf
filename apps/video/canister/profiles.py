"""Identity and profiles: a unique handle, a name and a bio, and the counts a profile shows.

The user is the caller's principal (a key held by the browser); ``register`` gives it a
unique handle (3–30 of ``a-z 0-9 _``, compared case-insensitively, stored lower-case,
never changed). A `ProfileView` adds follower, following, video and likes-received
counts and the viewer's relation (following, followed by, blocked). A profile is hidden
from someone its owner blocked, and from everyone but moderators once its owner is
suspended. ``videos`` counts ready videos: `video_changed` keeps it (the catalogue
calls it on every status change and delete; a delete also drops the video's likes,
comments and reports). People search hears of a new profile and of a new name
(`catalogue.on_profile_changed`).
"""

from __future__ import annotations

import re

from icframework.sdk import Principal, Reject, ic, query, update

from . import catalogue, interactions, limits, ratelimit, safety
from .records import Video, VideoStatus
from .social_records import Profile, ProfileCard, ProfileInput, ProfileView
from .social_store import blocks, bump, counted_videos, counts_of, follows, handles, profiles

_HANDLE = re.compile(f"[a-z0-9_]{{{limits.HANDLE_MIN_CHARS},{limits.HANDLE_MAX_CHARS}}}")

# -- the contract ---------------------------------------------------------------------------


def get_profile(user: Principal) -> Profile | None:
    return profiles.get(user)


def require_user(caller: Principal) -> Profile:
    """``caller``'s profile; `Reject` if they have none (the anonymous principal never
    has) or are suspended."""
    if caller.is_anonymous:
        raise Reject("sign in first: the anonymous principal has no profile")
    profile = profiles.get(caller)
    if profile is None:
        raise Reject(f"{caller} has no profile yet: call register(handle, name) first")
    if safety.is_suspended(caller):
        raise Reject("your account is suspended by a moderator: you can no longer act")
    return profile


def require_profile(user: Principal) -> Profile:
    """``user``'s profile; `Reject` naming ``user`` if there is none."""
    profile = profiles.get(user)
    if profile is None:
        raise Reject(f"{user} has no profile: check the principal or the handle")
    return profile


def handle_of(user: Principal) -> str | None:
    profile = profiles.get(user)
    return None if profile is None else profile.handle


def normalize_handle(handle: str) -> str:
    """``handle`` lower-cased, without a leading ``@``; `Reject` unless it is 3–30 of
    ``a-z 0-9 _``."""
    h = handle.strip().removeprefix("@").lower()
    if not _HANDLE.fullmatch(h):
        raise Reject(f"invalid handle {handle[:40]!r}: use {limits.HANDLE_MIN_CHARS}–"
                     f"{limits.HANDLE_MAX_CHARS} characters a–z, 0–9 or _")
    return h


def card_of(user: Principal) -> ProfileCard:
    """What lists show of ``user`` (handle and name empty if they have no profile)."""
    profile = profiles.get(user)
    if profile is None:
        return ProfileCard(user, "", "")
    return ProfileCard(user, profile.handle, profile.name)


def visible_to(user: Principal, viewer: Principal) -> Profile | None:
    """``user``'s profile unless there is none, ``user`` blocked ``viewer``, or ``user``
    is suspended (moderators and the owner still see it)."""
    profile = profiles.get(user)
    if profile is None or viewer == user or safety.is_moderator(viewer):
        return profile
    if (user, viewer) in blocks or safety.is_suspended(user):
        return None
    return profile


def view(profile: Profile, viewer: Principal) -> ProfileView:
    """``profile`` with its counts and ``viewer``'s relation to it."""
    user = profile.user
    c = counts_of(user)
    return ProfileView(
        principal=user, handle=profile.handle, name=profile.name, bio=profile.bio,
        followers=c.followers, following=c.following, videos=c.videos,
        likes_received=c.likes_received,
        followed_by_me=(viewer, user) in follows, follows_me=(user, viewer) in follows,
        blocked_by_me=(viewer, user) in blocks, created_at=profile.created_at,
    )


def video_changed(video: Video, deleted: bool = False) -> None:
    """Keep the social side in step with ``video``: ``Counts.videos`` of its creator
    counts it while it is ready and not ``deleted``; once ``deleted``, its likes,
    comments, reports and counters go too (`interactions.forget_video`). Idempotent:
    the catalogue calls it after every status change and on delete."""
    if deleted:
        interactions.forget_video(video)
    counted = video.id in counted_videos
    ready = video.status is VideoStatus.ready and not deleted
    if ready and not counted:
        counted_videos[video.id] = video.creator
        bump(video.creator, videos=1)
    elif counted and not ready:
        counted_videos.remove(video.id)
        bump(video.creator, videos=-1)


def _apply(profile: Profile, data: ProfileInput) -> None:
    profile.name = safety.bounded("a name", data.name, limits.MAX_NAME_CHARS, required=True)
    profile.bio = safety.bounded("a bio", data.bio, limits.MAX_BIO_CHARS, one_line=False)


# -- methods --------------------------------------------------------------------------------


@update
def register(handle: str, name: str) -> Profile:
    """Create the caller's profile with a unique ``handle`` (3–30 of ``a-z 0-9 _``; it
    cannot change later) and a display ``name`` (at most 50 characters)."""
    me = ic.caller()
    if me.is_anonymous:
        raise Reject("sign in first: the anonymous principal cannot register")
    if me in profiles:
        raise Reject("you are already registered: update_profile changes your name and bio")
    h = normalize_handle(handle)
    if h in handles:
        raise Reject(f"the handle @{h} is taken: choose another one")
    ratelimit.check(me, "profile")
    now = ic.time()
    profile = Profile(user=me, handle=h, name="", bio="", created_at=now, updated_at=now)
    _apply(profile, ProfileInput(name=name, bio=""))
    handles[h] = me
    profiles[me] = profile
    catalogue.on_profile_changed(profile)
    return profile


@query
def handle_available(handle: str) -> bool:
    """Whether ``handle`` is valid and free (``register`` says why when it is not valid)."""
    try:
        return normalize_handle(handle) not in handles
    except Reject:
        return False


@update
def update_profile(data: ProfileInput) -> Profile:
    """Replace the caller's name (required, at most 50 characters) and bio (at most 200,
    newlines kept)."""
    me = ic.caller()
    profile = require_user(me)
    ratelimit.check(me, "profile")
    old_name = profile.name
    _apply(profile, data)
    profile.updated_at = ic.time()
    profiles[me] = profile
    if profile.name != old_name:
        catalogue.on_profile_changed(profile)
    return profile


@query
def me() -> ProfileView | None:
    """The caller's own profile (null until they register)."""
    caller = ic.caller()
    profile = profiles.get(caller)
    return None if profile is None else view(profile, caller)


@query
def profile(principal: Principal) -> ProfileView | None:
    """``principal``'s profile as the caller sees it; null if there is none or it is
    hidden from the caller."""
    viewer = ic.caller()
    found = visible_to(principal, viewer)
    return None if found is None else view(found, viewer)


@query
def profile_by_handle(handle: str) -> ProfileView | None:
    """The profile of ``handle`` (``@`` optional, any case), as `profile` shows it."""
    user = handles.get(handle.strip().removeprefix("@").lower())
    if user is None:
        return None
    viewer = ic.caller()
    found = visible_to(user, viewer)
    return None if found is None else view(found, viewer)
