"""Text rules of the social canister: cleaning, length checks, handles, links, dates, search words.

Everything is stored as plain text, never as HTML: the page shows it with
``textContent``, so what a user writes cannot become markup in another browser.
Cleaning removes control characters and the bidirectional overrides that make text
display as something else, normalises newlines and strips surrounding whitespace.
Links are kept only when they are ``http``/``https`` URLs made of URL characters.
"""

from __future__ import annotations

import re

from icframework.sdk import Reject

from .limits import (
    HANDLE_MAX_CHARS,
    HANDLE_MIN_CHARS,
    MAX_INDEXED_TOKENS,
    MAX_LINK_CHARS,
    MAX_TOKEN_CHARS,
    MIN_TOKEN_CHARS,
)

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_HANDLE = re.compile(f"[a-z0-9_]{{{HANDLE_MIN_CHARS},{HANDLE_MAX_CHARS}}}")
_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&*+,;=%]*)?",
    re.IGNORECASE,
)
_MONTH = re.compile(r"(19|20)\d\d-(0[1-9]|1[0-2])")
_WORD = re.compile(r"\w+")


def clean(text: str) -> str:
    """``text`` with CR/LF normalised, control characters (but tab and newline) and
    bidirectional overrides removed, surrounding whitespace stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def line(text: str) -> str:
    """`clean` ``text`` on one line: runs of whitespace become one space."""
    return " ".join(clean(text).split())


def bounded(what: str, text: str, limit: int, *, required: bool = False,
            one_line: bool = True) -> str:
    """``text`` cleaned (on one line unless ``one_line`` is false); `Reject` naming
    ``what`` if it is longer than ``limit`` characters, or empty when ``required``."""
    value = line(text) if one_line else clean(text)
    if len(value) > limit:
        raise Reject(f"{what} is at most {limit} characters, got {len(value)}: shorten it")
    if required and not value:
        raise Reject(f"{what} is required: give at least one character")
    return value


def normalize_handle(handle: str) -> str:
    """``handle`` lower-cased, without a leading ``@``; `Reject` if it is not
    3–30 of ``a-z 0-9 _``."""
    h = handle.strip().removeprefix("@").lower()
    if not _HANDLE.fullmatch(h):
        raise Reject(
            f"invalid handle {handle[:40]!r}: use {HANDLE_MIN_CHARS}–{HANDLE_MAX_CHARS} "
            "characters a–z, 0–9 or _"
        )
    return h


def link(url: str) -> str:
    """``url`` stripped if it is an http(s) URL of URL characters; `Reject` otherwise."""
    value = url.strip()
    if len(value) > MAX_LINK_CHARS:
        raise Reject(f"a link is at most {MAX_LINK_CHARS} characters, got {len(value)}")
    if not _URL.fullmatch(value):
        raise Reject(f"{value[:60]!r} is not a link: use an http:// or https:// URL")
    return value


def month(what: str, value: str) -> str:
    """``value`` if it is a ``YYYY-MM`` month (1900–2099); `Reject` naming ``what``."""
    v = value.strip()
    if not _MONTH.fullmatch(v):
        raise Reject(f"{what} {value[:20]!r} is not a month: write it as YYYY-MM, e.g. 2021-09")
    return v


def tokens(text: str, limit: int = MAX_INDEXED_TOKENS) -> list[str]:
    """The distinct search words of ``text``: case-folded runs of letters, digits and
    ``_`` of 2..40 characters, at most ``limit`` of them, in order of appearance."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.casefold()):
        if MIN_TOKEN_CHARS <= len(word) <= MAX_TOKEN_CHARS:
            seen[word] = None
            if len(seen) >= limit:
                break
    return list(seen)


def skill_key(skill: str) -> str:
    """The case-folded, single-spaced form two spellings of one skill share."""
    return " ".join(skill.casefold().split())
