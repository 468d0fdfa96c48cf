"""CBOR with the IC's conventions: self-describe tag 55799, no trailing bytes."""

from __future__ import annotations

import io

import cbor2

SELF_DESCRIBE_TAG = 55799


def dumps_tagged(value: object) -> bytes:
    """Encode ``value`` prefixed with the self-describe tag (bytes ``d9 d9 f7``)."""
    return cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBE_TAG, value))


def loads_strict(data: bytes, what: str, error: type[Exception]) -> object:
    """Decode one CBOR item that must span all of ``data``.

    cbor2 strips a leading self-describe tag itself; tagged input decodes to immutable
    ``frozendict``/tuple containers, untagged input to ``dict``/list, so callers accept
    any `Mapping` and any list or tuple. Raises ``error`` naming ``what`` on failure.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise error(f"{what} must be bytes, got {type(data).__name__}")
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, EOFError) as exc:
        raise error(f"{what} is not valid CBOR: {exc}") from exc
    if stream.tell() != len(data):
        raise error(f"{what} has {len(data) - stream.tell()} trailing bytes after the CBOR value")
    return value
