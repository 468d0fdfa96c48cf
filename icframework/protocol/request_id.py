"""The representation-independent hash of the IC: request ids and signed-map hashes.

How it works: a map hashes as SHA-256 over the sorted concatenation of
``SHA-256(key) ‖ hash_value(value)`` for every present field; bytes and text hash as
themselves, naturals as their shortest unsigned LEB128 (negative integers as signed
LEB128), arrays as SHA-256 of their elements' hashes concatenated, and nested maps
recursively. A request id is the hash of a request's ``content`` map.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping

from icframework.core import Principal, encode_sleb128, encode_uleb128
from icframework.protocol.errors import ProtocolError

_sha256 = hashlib.sha256


def domain_separator(name: str) -> bytes:
    """One length byte followed by the ASCII name, e.g. ``b"\\x0aic-request"``."""
    encoded = name.encode("ascii")
    return bytes((len(encoded),)) + encoded


REQUEST_DOMAIN = domain_separator("ic-request")
RESPONSE_DOMAIN = domain_separator("ic-response")
DELEGATION_DOMAIN = domain_separator("ic-request-auth-delegation")
STATE_ROOT_DOMAIN = domain_separator("ic-state-root")


def hash_value(value: object) -> bytes:
    """The 32-byte representation-independent hash of one value.

    Accepts bytes-like, str, int (not bool), `Principal` (its bytes), lists and tuples,
    and mappings with str keys. Raises `ProtocolError` for anything else.
    """
    if isinstance(value, bytes):
        return _sha256(value).digest()
    if isinstance(value, str):
        return _sha256(value.encode("utf-8")).digest()
    if isinstance(value, bool):
        raise ProtocolError(f"booleans have no representation-independent hash: {value!r}")
    if isinstance(value, int):
        leb = encode_uleb128(value) if value >= 0 else encode_sleb128(value)
        return _sha256(leb).digest()
    if isinstance(value, list | tuple):
        return _sha256(b"".join(hash_value(item) for item in value)).digest()
    if isinstance(value, Mapping):
        return hash_of_map(value)
    if isinstance(value, Principal):
        return _sha256(value.raw).digest()
    if isinstance(value, bytearray | memoryview):
        return _sha256(bytes(value)).digest()
    raise ProtocolError(
        f"cannot hash a value of type {type(value).__name__}: {value!r}; expected bytes, "
        "text, integer, array or map"
    )


@functools.lru_cache(maxsize=256)
def _key_hash(key: str) -> bytes:
    # Requests and responses use a dozen field names: hash each once.
    return _sha256(key.encode("utf-8")).digest()


def hash_of_map(mapping: Mapping[str, object]) -> bytes:
    """The 32-byte hash of a map with text keys; fields whose value is None are skipped."""
    pairs = []
    for key, value in mapping.items():
        if value is None:
            continue
        if not isinstance(key, str):
            raise ProtocolError(f"map keys must be text to be hashed, got {key!r}")
        pairs.append(_key_hash(key) + hash_value(value))
    pairs.sort()
    return _sha256(b"".join(pairs)).digest()


def request_id(content: Mapping[str, object]) -> bytes:
    """The 32-byte request id of a request ``content`` map."""
    return hash_of_map(content)
