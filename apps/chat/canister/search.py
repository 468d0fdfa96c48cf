"""Message search: exact, case-insensitive word match over undeleted messages.

The index holds one entry per (word, room, message), valued with the message's time.
A search takes its longest word (likely the rarest) and scans that word's postings in
each room newest first, keeping the messages that also contain every other word (one
key lookup each). At most `MAX_SEARCH_SCAN` postings are examined per search, so the
cost is bounded however many messages match; across rooms the newest hits win.
"""

from __future__ import annotations

from icframework.sdk import Reject, ic, nat32, nat64, query

from .access import readable_room, require_user
from .limits import MAX_QUERY_TOKENS, MAX_SEARCH_RESULTS, MAX_SEARCH_SCAN, MIN_TOKEN_CHARS
from .records import SearchHit
from .store import MAX_ID, memberships, messages, rooms, search_index
from .text import tokens
from .views import Views


@query
def search(room_id: nat64 | None, text: str, limit: nat32) -> list[SearchHit]:
    """Messages containing every word of ``text`` (case-insensitive, whole words of 2+
    characters), newest first: in one readable room, or in all the caller's rooms when
    ``room_id`` is null. At most ``limit`` (1–50) hits."""
    words = tokens(text, MAX_QUERY_TOKENS)
    if not words:
        raise Reject(f"search for at least one word of {MIN_TOKEN_CHARS} or more characters")
    n = max(1, min(limit, MAX_SEARCH_RESULTS))
    me = ic.caller()
    if room_id is not None:
        room_ids = [readable_room(room_id).id]
    else:
        require_user()
        room_ids = [r for (_, r), _at in memberships.range((me, 0), (me, MAX_ID))]
    driver = max(words, key=len)
    others = [w for w in words if w != driver]
    budget = MAX_SEARCH_SCAN
    found: list[tuple[int, int, int]] = []  # (created_at, room, message)
    for rid in room_ids:
        hits = 0
        for (_, _, mid), at in search_index.range((driver, rid, 0), (driver, rid, MAX_ID),
                                                   reverse=True):
            budget -= 1
            if all((w, rid, mid) in search_index for w in others):
                found.append((at, rid, mid))
                hits += 1
            if hits >= n or budget <= 0:
                break
        if budget <= 0:
            break
    found.sort(reverse=True)
    views = Views(None if me.is_anonymous else me)
    out = []
    for _at, rid, mid in found[:n]:
        name = views.room_name(rooms[rid], me)
        out.append(SearchHit(room_id=rid, room_name=name,
                             message=views.message(rid, messages[(rid, mid)])))
    return out
