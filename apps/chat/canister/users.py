"""Users: registration, profiles, presence and blocking."""

from __future__ import annotations

from icframework.sdk import Principal, Reject, ic, nat32, query, update

from .access import require_user, resolve_user
from .limits import (
    MAX_BIO_CHARS,
    MAX_DISPLAY_NAME_CHARS,
    MAX_USERS_PER_QUERY,
    ONLINE_WINDOW_NS,
)
from .records import Presence, Profile
from .store import User, blocks, handles, presence, users
from .text import clean, normalize_handle
from .views import profile_of


def _display_name(name: str) -> str:
    shown = " ".join(clean(name).split())
    if not 1 <= len(shown) <= MAX_DISPLAY_NAME_CHARS:
        raise Reject(f"a display name is 1–{MAX_DISPLAY_NAME_CHARS} characters")
    return shown


def _bio(bio: str) -> str:
    text = clean(bio)
    if len(text) > MAX_BIO_CHARS:
        raise Reject(f"a bio is at most {MAX_BIO_CHARS} characters, got {len(text)}")
    return text


@update
def register(handle: str, display_name: str) -> Profile:
    """Create the caller's profile. Handles are unique, 3–20 of ``a-z 0-9 _``, compared
    case-insensitively (stored lower-case)."""
    me = ic.caller()
    if me.is_anonymous:
        raise Reject("sign in first: the anonymous principal cannot register")
    if me in users:
        raise Reject("you are already registered (update_profile changes your profile)")
    h = normalize_handle(handle)
    if h in handles:
        raise Reject(f"the handle @{h} is taken")
    record = User(handle=h, display_name=_display_name(display_name), bio="",
                  created_at=ic.time())
    users[me] = record
    handles[h] = me
    return profile_of(me, record)


@update
def update_profile(display_name: str | None, bio: str | None) -> Profile:
    """Change the caller's display name and/or bio (null leaves it)."""
    me, record = require_user()
    if display_name is not None:
        record.display_name = _display_name(display_name)
    if bio is not None:
        record.bio = _bio(bio)
    users[me] = record
    return profile_of(me, record)


@query
def me() -> Profile | None:
    """The caller's profile (null until they register)."""
    caller = ic.caller()
    record = users.get(caller)
    return None if record is None else profile_of(caller, record)


@query
def profile(user: str) -> Profile | None:
    """The profile of a handle (``@`` optional) or principal; null if there is none."""
    try:
        p = resolve_user(user)
    except Reject:
        return None
    return profile_of(p, users[p])


@query
def profiles(user_ids: list[Principal]) -> list[Profile]:
    """The profiles of registered users among ``user_ids`` (at most 200), in that order."""
    if len(user_ids) > MAX_USERS_PER_QUERY:
        raise Reject(f"ask for at most {MAX_USERS_PER_QUERY} users at once")
    out = []
    for p in user_ids:
        record = users.get(p)
        if record is not None:
            out.append(profile_of(p, record))
    return out


@query
def search_users(prefix: str, limit: nat32) -> list[Profile]:
    """Users whose handle starts with ``prefix`` (case-insensitive), by handle."""
    start = prefix.strip().removeprefix("@").lower()
    n = max(1, min(limit, 50))
    return [profile_of(p, users[p])
            for _, p in handles.range(start, start + "\U0010ffff", limit=n)]


@query
def handle_available(handle: str) -> bool:
    """Whether ``handle`` is free (`Reject` if it is not a valid handle)."""
    return normalize_handle(handle) not in handles


@update
def ping() -> None:
    """Mark the caller online (clients call it about once a minute)."""
    me, _ = require_user()
    presence[me] = ic.time()


@query(name="presence")
def presence_of(user_ids: list[Principal]) -> list[Presence]:
    """Last-seen times (ns) of ``user_ids`` (at most 200); online = pinged within 2 min."""
    if len(user_ids) > MAX_USERS_PER_QUERY:
        raise Reject(f"ask for at most {MAX_USERS_PER_QUERY} users at once")
    now = ic.time()
    out = []
    for p in user_ids:
        seen = presence.get(p)
        out.append(Presence(p, seen, seen is not None and now - seen <= ONLINE_WINDOW_NS))
    return out


@update
def block_user(user: str) -> None:
    """Block a user: neither of you can send direct messages to the other."""
    me, _ = require_user()
    other = resolve_user(user)
    if other == me:
        raise Reject("you cannot block yourself")
    blocks[(me, other)] = ic.time()


@update
def unblock_user(user: str) -> None:
    me, _ = require_user()
    blocks.remove((me, resolve_user(user)))


@query
def blocked() -> list[Profile]:
    """The users the caller blocked."""
    me, _ = require_user()
    out = []
    for (blocker, p), _at in blocks.range((me, Principal.management_canister()), None):
        if blocker != me:
            break
        out.append(profile_of(p, users[p]))
    return out
