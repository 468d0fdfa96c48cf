"""The chat canister's ``http_request``: attachment bytes on the canister's own origin.

``GET``/``HEAD /a/<id>/<key>`` serves a sent attachment from its chunks in stable storage
with `icframework.sdk.http.streaming_response`: a ``Range`` gets 206 from only the chunks
it covers (so a ``<video>`` seeks and plays as it loads), ``If-None-Match`` with the ETag
of its SHA-256 gets 304, a whole body goes out as its first chunk plus the
`http_request_streaming_callback` strategy. The random ``key`` makes the URL a
capability: it is only in the message, which only the room's readers see. Images, video
and audio are inline; files are ``application/octet-stream`` with
``Content-Disposition: attachment``; every answer is sandboxed and ``nosniff``, so no
attachment runs as a page of the canister's origin. A sealed attachment (ciphertext the
page decrypts) is an ``application/octet-stream`` download whatever its type, and the
one answer any origin may read (``Access-Control-Allow-Origin: *``): the chat page
fetches it from its own origin to decrypt it, and the bytes are useless without the
room's key. Unknown, unsent, deleted and expired attachments get 404; other methods 405.
"""

from __future__ import annotations

import re

from icframework.sdk import query
from icframework.sdk.http import (
    ChunkedBody,
    HttpRequest,
    HttpResponse,
    StreamingCallbackHttpResponse,
    StreamingToken,
    streaming_chunk,
    streaming_response,
    text_response,
    url_path,
)

from . import attachments
from .limits import ATTACHMENT_CHUNK_BYTES
from .media_records import AttachmentKind

_PATH = re.compile(r"/a/(\d{1,19})/([0-9a-f]{32})")
CALLBACK = "http_request_streaming_callback"
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _percent(text: str) -> str:
    """RFC 8187 ``value-chars`` of ``text`` (UTF-8, percent-encoded)."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in text.encode("utf-8"))


def disposition(kind: AttachmentKind, name: str) -> str:
    """``Content-Disposition`` of an attachment: inline media, downloaded files, with the
    name as ASCII and as UTF-8 (RFC 6266)."""
    plain = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)
    how = "attachment" if kind is AttachmentKind.file else "inline"
    return f"{how}; filename=\"{plain}\"; filename*=UTF-8''{_percent(name)}"


def find(path: str) -> tuple[int, attachments.Attachment, ChunkedBody] | None:
    """The id of the sent attachment served at ``path``, the attachment and its body."""
    match = _PATH.fullmatch(path)
    if match is None:
        return None
    attachment_id = int(match[1])
    found = attachments.meta.get(attachment_id)
    if found is None or found.message_id is None or found.key != match[2]:
        return None

    def read(index: int) -> bytes:
        return attachments.uploads.chunks[(attachment_id, index)]

    return attachment_id, found, ChunkedBody(path, found.size, ATTACHMENT_CHUNK_BYTES, read)


@query
def http_request(request: HttpRequest) -> HttpResponse:
    """``GET``/``HEAD`` of an attachment's path (see the module docstring)."""
    if request.method not in ("GET", "HEAD"):
        return text_response(405, f"{request.method[:10]} is not served; attachments are "
                                  "read with GET")
    path = url_path(request)
    found = find(path)
    if found is None:
        return text_response(404, f"no attachment at {path[:80]!r}: it was never sent, or "
                                  "its message was deleted or has disappeared")
    attachment_id, attachment, body = found
    content_type, kind = attachment.content_type, attachment.kind
    headers = [("content-security-policy", "default-src 'none'; sandbox")]
    if attachment_id in attachments.sealed:
        content_type, kind = attachments.FILE_TYPE, AttachmentKind.file
        headers.append(("access-control-allow-origin", "*"))
    headers.insert(0, ("content-disposition", disposition(kind, attachment.name)))
    return streaming_response(request, body, CALLBACK, content_type=content_type,
                              headers=headers, sha256=attachment.sha256)


@query
def http_request_streaming_callback(token: StreamingToken) -> StreamingCallbackHttpResponse:
    """The next chunk of a streamed attachment (the token names its path and chunk)."""
    found = find(token.key)
    if found is None:
        return StreamingCallbackHttpResponse(b"", None)
    return streaming_chunk(token, found[2])
