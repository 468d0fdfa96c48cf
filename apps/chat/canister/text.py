"""Text rules of the chat: safe markdown, mentions, search tokens, handles and emoji.

How `render` stays safe: the raw text is cut into pieces that become markup we build
ourselves (code, links, mentions) — each kept aside behind a placeholder, with its text
HTML-escaped — and the rest is HTML-escaped as a whole. Only then are the emphasis
markers (``**``, ``*``, ``~~``) turned into tags, on text that can no longer contain
``<``, ``>``, ``"`` or ``'`` of its own; finally the placeholders are put back. Links
are made only for ``http``/``https`` URLs made of URL characters (no quotes, angle
brackets or spaces), so nothing a user writes can open a tag or an attribute.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from icframework.sdk import Principal, Reject

from .limits import (
    EXCERPT_CHARS,
    HANDLE_MAX_CHARS,
    HANDLE_MIN_CHARS,
    MAX_EMOJI_CHARS,
    MAX_INDEXED_TOKENS,
    MAX_MENTIONS,
    MAX_TOKEN_CHARS,
    MIN_TOKEN_CHARS,
)

_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")
_CODE_BLOCK = re.compile(r"```(?:([A-Za-z0-9_+#-]{1,20})[ \t]*\n|[ \t]*\n?)(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\[([^\[\]\n]{1,500})\]\((\S{1,2048}?)\)")
_BARE_URL = re.compile(r"(?<![\w/@.])https?://[^\s<>\"'`\ue000\ue001]+", re.IGNORECASE)
_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&*+,;=%]*)?",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?*~"
_HANDLE_LENGTH = f"{{{HANDLE_MIN_CHARS},{HANDLE_MAX_CHARS}}}"  # "{3,20}"
_MENTION = re.compile(r"(?<![\w@/.])@([A-Za-z0-9_]" + _HANDLE_LENGTH + r")(?!\w)")
_BOLD = re.compile(r"\*\*(?=\S)([^<>\n]*?[^\s<>])\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*])([^*<>\n]*?[^\s*<>])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)([^~<>\n]*?[^\s~<>])~~")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ue000\ue001]")
_HANDLE = re.compile("[a-z0-9_]" + _HANDLE_LENGTH)
_WORD = re.compile(r"\w+")
_SHORTCODE = re.compile(rf":[a-z0-9_+-]{{1,{MAX_EMOJI_CHARS - 2}}}:")

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def escape(text: str) -> str:
    """``text`` with ``& < > " '`` replaced by entities (safe in elements and attributes)."""
    return text.translate(_ESCAPES)


def clean(text: str) -> str:
    """``text`` with CR/LF normalised, control characters (but tab and newline) removed,
    surrounding whitespace stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def _emphasis(escaped: str) -> str:
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    escaped = _ITALIC.sub(r"<em>\1</em>", escaped)
    return _STRIKE.sub(r"<del>\1</del>", escaped)


def _safe_url(url: str) -> str | None:
    """``url`` if it is an http(s) URL made only of URL characters, else None."""
    return url if _URL.fullmatch(url) else None


Resolver = Callable[[str], Principal | None]
"""Maps a lower-case handle to the principal a mention of it stands for, or None."""


def render(text: str, resolve: Resolver) -> tuple[str, list[Principal]]:
    """The safe HTML of ``text`` (already `clean`) and the principals it mentions.

    Supported: ``**bold**``, ``*italic*``, ``~~strike~~``, `` `code` ``, fenced
    ````` ```code blocks``` `````, ``[label](https://...)`` and bare http(s) URLs
    (``rel="noopener noreferrer"``), ``@handle`` (when ``resolve`` knows it: at most
    `MAX_MENTIONS`), newlines as ``<br>``. Everything else is text.
    """
    text = text.replace(_OPEN, "\ufffd").replace(_CLOSE, "\ufffd")
    kept: list[str] = []
    mentioned: list[Principal] = []

    def keep(html: str) -> str:
        kept.append(html)
        return f"{_OPEN}{len(kept) - 1}{_CLOSE}"

    def code_block(m: re.Match[str]) -> str:
        lang = (m.group(1) or "").lower()
        cls = f' class="language-{escape(lang)}"' if lang else ""
        body = m.group(2).removesuffix("\n")
        return keep(f"<pre><code{cls}>{escape(body)}</code></pre>")

    def link(m: re.Match[str]) -> str:
        url = _safe_url(m.group(2))
        if url is None:
            return m.group(0)
        label = _emphasis(escape(m.group(1)))
        return keep(f'<a href="{escape(url)}" rel="noopener noreferrer" target="_blank">'
                    f"{label}</a>")

    def bare_url(m: re.Match[str]) -> str:
        found = m.group(0)
        url = found.rstrip(_TRAILING)
        if url.endswith(")") and url.count("(") < url.count(")"):
            url = url[:-1]
        cut = _URL.match(url)
        if cut is None:
            return found
        url = cut.group(0)
        shown = escape(url)
        return keep(f'<a href="{shown}" rel="noopener noreferrer" target="_blank">{shown}</a>'
                    ) + found[len(url):]

    def mention(m: re.Match[str]) -> str:
        handle = m.group(1).lower()
        user = resolve(handle) if len(mentioned) < MAX_MENTIONS else None
        if user is None:
            return m.group(0)
        if user not in mentioned:
            mentioned.append(user)
        return keep(f'<span class="mention" data-user="{escape(user.to_text())}">'
                    f"@{escape(handle)}</span>")

    out = _CODE_BLOCK.sub(code_block, text)
    out = _INLINE_CODE.sub(lambda m: keep(f"<code>{escape(m.group(1))}</code>"), out)
    out = _LINK.sub(link, out)
    out = _BARE_URL.sub(bare_url, out)
    out = _MENTION.sub(mention, out)
    out = _emphasis(escape(out)).replace("\n", "<br>")
    for _ in range(4):  # kept pieces nest at most twice (code inside a link label)
        if _OPEN not in out:
            break
        out = _PLACEHOLDER.sub(lambda m: kept[int(m.group(1))], out)
    return out, mentioned


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The first ``limit`` characters of ``text`` on one line, with "…" if cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


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


def normalize_handle(handle: str) -> str:
    """``handle`` lower-cased, without a leading ``@``; `Reject` if it is not 3–20 of
    ``a-z 0-9 _``."""
    h = handle.strip().removeprefix("@").lower()
    if not _HANDLE.fullmatch(h):
        raise Reject(
            f"invalid handle {handle[:40]!r}: use {HANDLE_MIN_CHARS}–{HANDLE_MAX_CHARS} "
            "characters a–z, 0–9 or _"
        )
    return h


def _emoji_char(c: str) -> bool:
    o = ord(c)
    return (
        0x1F000 <= o <= 0x1FAFF  # pictographs, emoticons, flags, skin tones
        or 0x2190 <= o <= 0x21FF  # arrows
        or 0x2300 <= o <= 0x23FF  # technical (⌚ ⏰)
        or 0x2460 <= o <= 0x27BF  # enclosed, shapes, misc symbols, dingbats
        or 0x2900 <= o <= 0x297F
        or 0x2B00 <= o <= 0x2BFF
        or o in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0x3297,
                 0x3299)
    )


def _emoji_modifier(c: str) -> bool:
    o = ord(c)
    return o in (0x200D, 0xFE0E, 0xFE0F, 0x20E3) or 0xE0020 <= o <= 0xE007F or c in "#*0123456789"


def check_emoji(emoji: str) -> str:
    """``emoji`` if it is 1–40 characters of emoji (with joiners, variation selectors,
    skin tones, keycaps, tags) or a ``:shortcode:``; `Reject` otherwise."""
    if not 1 <= len(emoji) <= MAX_EMOJI_CHARS:
        raise Reject(f"a reaction is 1–{MAX_EMOJI_CHARS} characters, got {len(emoji)}")
    if _SHORTCODE.fullmatch(emoji):
        return emoji
    if any(_emoji_char(c) or c == "\u20e3" for c in emoji) and all(
        _emoji_char(c) or _emoji_modifier(c) for c in emoji
    ):
        return emoji
    raise Reject(f"{emoji[:40]!r} is not an emoji (or a :shortcode:)")
