"""CBOR with the IC's conventions: self-describe tag 55799, no other tags, bounded work.

How it works: cbor2 does the decoding, but only after `scan` has walked the bytes once,
iteratively and without building anything, and refused what the IC interface spec does
not use. cbor2 alone cannot be trusted with hostile input: it honours semantic tags in
its C decoder before any ``tag_hook`` sees them (bignums 2/3 build integers of a
million digits, fractions 30 reduce them, shared references 28/29 let a few bytes
stand for millions of items, regular expressions 35 compile), so the scan is ours. It
allows exactly the spec's data model: unsigned and negative integers of at most 64
bits, byte and text strings, arrays and maps, all of definite length, ``false``,
``true`` and ``null``, and tag 55799 once, in front of the top-level item. Its cost
and cbor2's are then linear in the body size, and capped by `CborLimits`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cbor2

SELF_DESCRIBE_TAG = 55799

# The standard tags an attacker reaches for, named in error messages.
_TAG_NAMES = {
    0: "date/time string",
    1: "epoch date/time",
    2: "unsigned bignum",
    3: "negative bignum",
    4: "decimal fraction",
    5: "bigfloat",
    24: "embedded CBOR",
    28: "shareable value",
    29: "shared reference",
    30: "rational number",
    32: "URI",
    35: "regular expression",
    36: "MIME message",
    258: "set",
    260: "network address",
    55799: "self-describe",
}
_SIMPLE_ALLOWED = frozenset({20, 21, 22})  # false, true, null
_ARGUMENT_BYTES = {24: 1, 25: 2, 26: 4, 27: 8}


@dataclass(frozen=True, slots=True)
class CborLimits:
    """Caps on a CBOR item's shape, checked by `scan` before anything is decoded.

    ``max_depth`` counts nested arrays and maps; ``max_items`` counts every data item
    (map keys and values each count); ``text_keys`` requires map keys to be distinct
    text strings, as in the IC's request records.
    """

    max_depth: int
    max_items: int
    text_keys: bool = False


# Certificates, hash trees and other replica or canister output: a pruned tree nests a
# fork per level of a balanced tree and a labeled node per path label.
DEFAULT_LIMITS = CborLimits(max_depth=200, max_items=1 << 62)


def _tag_name(tag: int) -> str:
    name = _TAG_NAMES.get(tag)
    return f"tag {tag} ({name})" if name else f"tag {tag}"


def scan(data: bytes, what: str, error: type[Exception], limits: CborLimits) -> None:
    """Check that ``data`` is one CBOR item of the IC's data model within ``limits``.

    Pure Python and iterative: its work is one step per data item, at most
    ``limits.max_items`` steps, and it allocates nothing proportional to the input
    beyond the stack of open containers (at most ``limits.max_depth``). Raises
    ``error`` whose text names ``what``, the byte offset and the rule broken.
    """
    # Bytes (a request body) index and slice faster than a memoryview of them.
    view = data if isinstance(data, bytes) else memoryview(data)
    size = len(view)
    position = 0
    items = 0
    max_items = limits.max_items
    # Open containers: [items still expected, map keys seen or None for arrays].
    stack: list[tuple[list[int], set[str] | None]] = []
    # The innermost container's map keys (None: an array, or no container).
    keys: set[str] | None = None
    while True:
        start = position
        if position >= size:
            raise error(f"{what} is not valid CBOR: it ends inside an item at byte {start}")
        initial = view[position]
        position += 1
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            argument = info
        elif info in _ARGUMENT_BYTES:
            width = _ARGUMENT_BYTES[info]
            if position + width > size:
                raise error(f"{what} is not valid CBOR: it ends inside an item at byte {start}")
            argument = int.from_bytes(view[position:position + width], "big")
            position += width
        elif info == 31 and 2 <= major <= 5:
            raise error(
                f"{what} uses an indefinite-length item at byte {start}; the IC's CBOR "
                "encodes every string, array and map with its length"
            )
        else:
            raise error(
                f"{what} is not valid CBOR: byte {start} (0x{initial:02x}) starts no "
                "well-formed item"
            )
        items += 1
        if items > max_items:
            raise error(
                f"{what} has more than {max_items} CBOR data items; that is the limit"
            )
        in_key = keys is not None and stack[-1][0][0] % 2 == 0
        if in_key and major != 3:
            raise error(f"{what} has a map key that is not text at byte {start}; "
                        "the IC's records have text keys")
        if major == 6:
            if argument == SELF_DESCRIBE_TAG and start == 0:
                items -= 1
                continue
            raise error(f"{what} uses CBOR {_tag_name(argument)} at byte {start}; only the "
                        "self-describe tag 55799, in front of the whole value, is allowed "
                        "(IC interface spec, CBOR encoding of requests and responses)")
        if major in (2, 3):
            if argument > size - position:
                raise error(f"{what} is not valid CBOR: a {argument}-byte string at byte "
                            f"{start} runs past the end ({size - position} bytes left)")
            if in_key:
                assert keys is not None
                try:
                    key = bytes(view[position:position + argument]).decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise error(f"{what} is not valid CBOR: the text at byte {start} is not "
                                f"UTF-8 ({exc.reason})") from None
                if key in keys:
                    raise error(f"{what} repeats the map key {key[:40]!r} at byte {start}; "
                                "duplicate keys are not allowed")
                keys.add(key)
            position += argument
        elif major in (4, 5):
            count = argument * (2 if major == 5 else 1)
            if count > size - position:
                raise error(f"{what} is not valid CBOR: the {argument}-entry "
                            f"{'map' if major == 5 else 'array'} at byte {start} cannot fit "
                            f"in the {size - position} bytes left")
            if count:
                if len(stack) >= limits.max_depth:
                    raise error(f"{what} nests arrays and maps deeper than {limits.max_depth} "
                                f"levels (byte {start}); that is the limit")
                keys = set() if major == 5 and limits.text_keys else None
                stack.append(([count], keys))
                continue
        elif major == 7 and info not in _SIMPLE_ALLOWED:
            kind = "floating-point number" if info in (25, 26, 27) else "simple value"
            raise error(f"{what} has a CBOR {kind} at byte {start}; the IC's CBOR uses "
                        "integers, strings, arrays, maps, false, true and null only")
        # One item is complete: close every container it completes.
        while stack:
            remaining = stack[-1][0]
            remaining[0] -= 1
            if remaining[0]:
                break
            stack.pop()
            keys = stack[-1][1] if stack else None
        if not stack:
            break
    if position != size:
        raise error(f"{what} has {size - position} trailing bytes after the CBOR value")


def dumps_tagged(value: object) -> bytes:
    """Encode ``value`` prefixed with the self-describe tag (bytes ``d9 d9 f7``)."""
    return cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBE_TAG, value))


def loads_strict(
    data: bytes, what: str, error: type[Exception], limits: CborLimits = DEFAULT_LIMITS
) -> object:
    """Decode one CBOR item that must span all of ``data``, after `scan` with ``limits``.

    cbor2 strips a leading self-describe tag itself; tagged input decodes to immutable
    ``frozendict``/tuple containers, untagged input to ``dict``/list, so callers accept
    any `Mapping` and any list or tuple. Raises ``error`` naming ``what`` on failure.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise error(f"{what} must be bytes, got {type(data).__name__}")
    scan(data, what, error, limits)
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, EOFError, RecursionError) as exc:
        raise error(f"{what} is not valid CBOR: {exc}") from exc
    if stream.tell() != len(data):
        raise error(f"{what} has {len(data) - stream.tell()} trailing bytes after the CBOR value")
    return value
