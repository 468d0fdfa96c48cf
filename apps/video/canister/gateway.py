"""The single ``http_request`` method: ready videos' renditions, streamed with Range.

``GET``/``HEAD /v/<id>/720.mp4``, ``/v/<id>/360.mp4`` and ``/v/<id>/poster.jpg`` serve
the renditions of ready video ``<id>`` from their chunks in stable storage with
`icframework.sdk.http.streaming_response`: ``Range`` gets 206 from only the chunks it
covers (at most one chunk's length) or 416, ``If-None-Match`` with the ETag of the
rendition's SHA-256 gets 304, a whole body goes out as its first chunk plus the
`http_request_streaming_callback` strategy. A path's bytes never change (a new
rendition is a new video), so answers are immutable. Unknown, unfinished, deleted
and hidden videos get 404; other methods 405.
"""

from __future__ import annotations

import re

from icframework.sdk import Principal, query
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

from . import media, store
from .limits import CHUNK_BYTES
from .records import Rendition

_PATH = re.compile(r"/v/(\d{1,19})/([a-z0-9]+\.[a-z0-9]+)")
CALLBACK = "http_request_streaming_callback"


def find(path: str) -> tuple[Rendition, ChunkedBody] | None:
    """The rendition served at ``path`` and its body, if anonymous viewers may see it."""
    match = _PATH.fullmatch(path)
    if match is None:
        return None
    kind = media.KIND_OF_FILE.get(match[2])
    video = store.videos.get(int(match[1]))
    if kind is None or video is None or not media.visible(video, Principal.anonymous()):
        return None
    media_id = store.video_media.get(video.id)
    rendition = next((r for r in video.renditions if r.kind == kind), None)
    if media_id is None or rendition is None:
        return None
    key = kind.value

    def read(index: int) -> bytes:
        return store.rendition_chunks[(media_id, key, index)]

    return rendition, ChunkedBody(path, rendition.size, CHUNK_BYTES, read)


@query
def http_request(request: HttpRequest) -> HttpResponse:
    """``GET``/``HEAD`` of a rendition's path (see the module docstring)."""
    if request.method not in ("GET", "HEAD"):
        return text_response(405, f"{request.method[:10]} is not served; videos are read "
                                  "with GET")
    path = url_path(request)
    found = find(path)
    if found is None:
        return text_response(404, f"no video file at {path[:80]!r}; files are at "
                                  "/v/<id>/720.mp4, /v/<id>/360.mp4 and /v/<id>/poster.jpg "
                                  "of ready videos")
    rendition, body = found
    return streaming_response(request, body, CALLBACK, content_type=rendition.content_type,
                              sha256=rendition.sha256)


@query
def http_request_streaming_callback(token: StreamingToken) -> StreamingCallbackHttpResponse:
    """The next chunk of a streamed rendition (the token names its path and chunk)."""
    found = find(token.key)
    if found is None:
        return StreamingCallbackHttpResponse(b"", None)
    return streaming_chunk(token, found[1])
