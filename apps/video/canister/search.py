"""Search and trending: captions' words, hashtags and mentions, and the queries over them.

Text rules (pure): a *hashtag* is ``#`` + 1–30 of ``a-z 0-9 _`` after case-folding,
not glued to a word before or after (``#Cats`` → ``cats``; ``x#y`` and ``#café`` are
none), at most `MAX_HASHTAGS` distinct per caption; a *mention* is ``@`` + a handle
(3–30 of ``a-z 0-9 _``); a search *word* is a case-folded run of letters, digits and
``_`` of 2–40 characters. A video is indexed (`feed_store.terms`) under its caption's
words (a hashtag's word included) and its creator's handle; a person
(`feed_store.people`) under their handle and the words of their name.

`search` matches every query word as a *prefix* of some indexed word (so it works while
typing): it walks the postings of the query's longest word's prefix range (at most
`MAX_SEARCH_SCAN`), keeps the videos whose entry has every other word too, and shows
the newest the caller may see; people come from the handle index (`social_store.handles`)
and the name index the same way; hashtags from the tag counts. Each part reads a
bounded number of entries. `trending_tags` is the hashtags with the most shown videos.
"""

from __future__ import annotations

import re

from icframework.sdk import Principal, Reject, ic, nat32, query

from . import cards, feed_store, follows, profiles, social_store
from .feed_records import SearchResults, TagCount, VideoCard
from .feed_store import MAX_PRINCIPAL, MAX_TEXT, MIN_PRINCIPAL, lookup, scan
from .limits import (
    MAX_HASHTAGS,
    MAX_INDEXED_TERMS,
    MAX_QUERY_WORDS,
    MAX_SEARCH_RESULTS,
    MAX_SEARCH_SCAN,
    MAX_TERM_CHARS,
    MAX_TRENDING,
    MIN_TERM_CHARS,
)
from .social_records import ProfileView

_HASHTAG = re.compile(r"(?<![\w#])#([a-z0-9_]{1,30})(?![\w#])")
_MENTION = re.compile(r"(?<![\w@])@([a-z0-9_]{3,30})(?![\w@])")
_WORD = re.compile(r"\w+")
_TAG = re.compile(r"[a-z0-9_]{1,30}")


# -- text -----------------------------------------------------------------------------------

def hashtags_of(text: str) -> list[str]:
    """The distinct hashtags of ``text``, case-folded, in order (at most `MAX_HASHTAGS`)."""
    found = dict.fromkeys(_HASHTAG.findall(text.casefold()))
    return list(found)[:MAX_HASHTAGS]


def mentions_of(text: str) -> list[str]:
    """The distinct ``@handles`` of ``text``, case-folded, in order."""
    return list(dict.fromkeys(_MENTION.findall(text.casefold())))


def words(text: str, limit: int = MAX_INDEXED_TERMS) -> list[str]:
    """The distinct search words of ``text`` in order (at most ``limit``)."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.casefold()):
        if MIN_TERM_CHARS <= len(word) <= MAX_TERM_CHARS:
            seen[word] = None
            if len(seen) >= limit:
                break
    return list(seen)


def video_terms(caption: str, handle: str) -> list[str]:
    """What a video is indexed under: its caption's words and its creator's handle."""
    found = dict.fromkeys(words(caption))
    if handle:
        found[handle] = None
    return list(found)[:MAX_INDEXED_TERMS]


def person_terms(handle: str, name: str) -> list[str]:
    """What a person is indexed under: their handle and the words of their name."""
    return list(dict.fromkeys([handle, *words(name)]))[:MAX_INDEXED_TERMS]


def normalize_tag(tag: str) -> str:
    """``tag`` without ``#``, case-folded; `Reject` unless it is 1–30 of ``a-z 0-9 _``."""
    t = tag.strip().removeprefix("#").casefold()
    if not _TAG.fullmatch(t):
        raise Reject(f"{tag[:40]!r} is not a hashtag: use 1–30 characters a–z, 0–9 or _ "
                     "after #")
    return t


def _matches(query_words: list[str], indexed: list[str]) -> bool:
    """Whether every query word starts some indexed word."""
    return all(any(term.startswith(q) for term in indexed) for q in query_words)


# -- queries --------------------------------------------------------------------------------

def _videos(me: Principal, wanted: list[str], n: int) -> list[VideoCard]:
    longest = max(wanted, key=len)
    candidates: set[int] = set()
    for (_term, video_id), _true in scan(feed_store.terms, (longest, 0),
                                         (longest + MAX_TEXT, 0), reverse=True,
                                         limit=MAX_SEARCH_SCAN):
        candidates.add(video_id)
    out: list[VideoCard] = []
    for video_id in sorted(candidates, reverse=True):
        e = feed_store.entry(video_id)
        if e is None or not _matches(wanted, e.terms):
            continue
        card = cards.card_for(video_id, me)
        if card is not None:
            out.append(card)
            if len(out) >= n:
                break
    return out


def _people(me: Principal, wanted: list[str], n: int) -> list[ProfileView]:
    found: dict[Principal, None] = {}
    first = wanted[0]
    for handle, user in scan(social_store.handles, first, first + MAX_TEXT,
                             limit=MAX_SEARCH_SCAN):
        if handle.startswith(first):
            found[user] = None
    longest = max(wanted, key=len)
    for (_word, user), _true in scan(feed_store.people, (longest, MIN_PRINCIPAL),
                                     (longest + MAX_TEXT, MAX_PRINCIPAL),
                                     limit=MAX_SEARCH_SCAN):
        found[user] = None
    out: list[ProfileView] = []
    for user in found:
        profile = profiles.visible_to(user, me)
        if profile is None or (me != user and follows.is_blocked_either(me, user)):
            continue
        indexed = lookup(feed_store.people_terms, user) or person_terms(profile.handle,
                                                                        profile.name)
        if _matches(wanted, [profile.handle, *indexed]):
            out.append(profiles.view(profile, me))
            if len(out) >= n:
                break
    return out


def _tags(prefix: str, n: int) -> list[TagCount]:
    found = [TagCount(tag, count) for tag, count in scan(
        feed_store.tag_counts, prefix, prefix + MAX_TEXT, limit=MAX_SEARCH_SCAN)]
    found.sort(key=lambda t: (-t.count, t.tag))
    return found[:n]


@query
def search(text: str, limit: nat32) -> SearchResults:
    """Videos, people and hashtags matching ``text`` (every word as a prefix; see the
    module docstring), at most ``limit`` (1–20) of each. A query without a word of 2 or
    more letters or digits finds nothing (no error: the page searches while typing)."""
    me = ic.caller()
    wanted = words(text[:500], MAX_QUERY_WORDS + 1)
    if len(wanted) > MAX_QUERY_WORDS:
        raise Reject(f"a search has at most {MAX_QUERY_WORDS} words, got more: drop some")
    if not wanted:
        return SearchResults([], [], [])
    n = max(1, min(int(limit), MAX_SEARCH_RESULTS))
    tags = _tags(wanted[0], n) if len(wanted) == 1 and _TAG.fullmatch(wanted[0]) else []
    return SearchResults(_videos(me, wanted, n), _people(me, wanted, n), tags)


@query
def trending_tags(limit: nat32) -> list[TagCount]:
    """The hashtags carried by the most shown videos, most first (``limit`` 1–50; equal
    counts in reverse alphabetical order, the index's order)."""
    n = max(1, min(int(limit), MAX_TRENDING))
    return [TagCount(tag, count) for (count, tag), _true in scan(
        feed_store.tag_rank, None, None, reverse=True, limit=n)]

