"""Post search by words and hashtags, over an inverted index (never a scan of every post).

Every post is indexed under its words (`text.tokens`: case-folded runs of letters,
digits and ``_``, 2–40 characters) and its hashtags (``#`` + the tag), as postings
``postings[(token, post id)]``; ``df[token]`` counts a token's posts. A query's tokens
are its words and its ``#tags``; a post matches when it has every one of them. The
search walks the postings of the rarest token newest first and checks each candidate
for the other tokens by point lookups, then for the viewer's right to read it
(`posts.can_see`). One call examines at most `limits.MAX_SEARCH_SCAN` candidates: when
it stops there, ``next_cursor`` continues the walk, so paging to the end returns
exactly the matching posts the viewer may read, newest first.
"""

from __future__ import annotations

import re

from icframework.sdk import Reject, StableBTreeMap, ic, nat32, nat64, query

from . import posts
from .limits import MAX_QUERY_TOKENS, MAX_SEARCH_RESULTS, MAX_SEARCH_SCAN
from .post_records import PostPage
from .store import MAX_ID, count_down, count_up
from .text import tokens

MAX_HASHTAGS = 10
MAX_HASHTAG_CHARS = 40
_HASHTAG = re.compile(rf"(?<![\w#])#(\w{{1,{MAX_HASHTAG_CHARS}}})(?!\w)")

postings = StableBTreeMap[tuple[str, nat64], bool]("post_search.postings")
df = StableBTreeMap[str, nat64]("post_search.df")


def hashtags_of(text: str) -> list[str]:
    """The distinct ``#tags`` of ``text``, case-folded, in order (at most `MAX_HASHTAGS`)."""
    seen: dict[str, None] = {}
    for tag in _HASHTAG.findall(text):
        seen[tag.casefold()] = None
    return list(seen)[:MAX_HASHTAGS]


def normalize_tag(tag: str) -> str:
    """``tag`` without ``#``, case-folded; `Reject` unless it is 1–40 word characters."""
    t = tag.strip().removeprefix("#").casefold()
    if not re.fullmatch(rf"\w{{1,{MAX_HASHTAG_CHARS}}}", t):
        raise Reject(f"{tag[:50]!r} is not a hashtag: use 1–{MAX_HASHTAG_CHARS} letters, "
                     "digits or _ after #")
    return t


def post_tokens(text: str, hashtags: list[str]) -> list[str]:
    """What a post is indexed under: its words and ``#`` + each hashtag."""
    return tokens(text) + ["#" + tag for tag in hashtags]


def query_tokens(text: str) -> list[str]:
    """What a query asks for: its ``#tags`` and the words of the rest."""
    tags = ["#" + tag for tag in hashtags_of(text)]
    words = tokens(_HASHTAG.sub(" ", text))
    return list(dict.fromkeys(tags + words))


def index(post_id: int, text: str, hashtags: list[str]) -> None:
    for token in post_tokens(text, hashtags):
        postings[(token, post_id)] = True
        count_up(df, token)


def unindex(post_id: int, text: str, hashtags: list[str]) -> None:
    for token in post_tokens(text, hashtags):
        if postings.remove((token, post_id)) is not None:
            count_down(df, token)


@query
def search_posts(text: str, cursor: str | None, limit: nat32) -> PostPage:
    """Posts the caller may read that have every word and ``#tag`` of ``text``,
    newest first, at most ``limit`` (1–50) per page. A page may hold fewer posts than
    asked while ``next_cursor`` is set: the search bounds its work per call."""
    me = ic.caller()
    wanted = query_tokens(text[:1000])
    if not wanted:
        raise Reject(f"{text[:60]!r} has no word to search for: give a word of 2 or more "
                     "letters or digits, or a #hashtag")
    if len(wanted) > MAX_QUERY_TOKENS:
        raise Reject(f"a search has at most {MAX_QUERY_TOKENS} words and hashtags, "
                     f"got {len(wanted)}: drop some")
    before = MAX_ID
    if cursor is not None:
        if not (cursor.isdigit() and cursor.isascii() and len(cursor) <= 20):
            raise Reject(f"{cursor[:40]!r} is not a search cursor; pass the next_cursor "
                         "of the previous page, or null for the first")
        before = int(cursor)
    n = max(1, min(int(limit), MAX_SEARCH_RESULTS))
    counts = {token: df.get(token, 0) for token in wanted}
    rarest = min(wanted, key=lambda token: (counts[token], token))
    if counts[rarest] == 0:
        return PostPage([], None)
    others = [t for t in wanted if t != rarest]
    found = []
    last = before
    for scanned, ((_token, post_id), _true) in enumerate(
            postings.range((rarest, 0), (rarest, before), reverse=True), 1):
        last = post_id
        if all((t, post_id) in postings for t in others):
            post = posts.visible(me, post_id)
            if post is not None:
                found.append(posts.view(me, post))
                if len(found) >= n:
                    break
        if scanned >= MAX_SEARCH_SCAN:
            break
    else:
        return PostPage(found, None)
    more = any(True for _ in postings.range((rarest, 0), (rarest, last), limit=1))
    return PostPage(found, str(last) if more else None)


@query
def hashtag_counts(tags: list[str]) -> list[tuple[str, nat64]]:
    """How many posts carry each of ``tags`` (at most 50), for the page's tag chips."""
    return [(tag, df.get("#" + normalize_tag(tag), 0)) for tag in tags[:50]]
