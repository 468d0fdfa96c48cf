"""The single ``http_request`` method: profile pictures and post images through the HTTP gateway.

``GET /avatars/<id>`` and ``/banners/<id>`` serve profile pictures (`profiles`);
paths under ``/images/`` are answered by `posts.image_response`. An image's URL
changes whenever the picture does, so every answer is immutable and cached for a
year, with an ETag from its SHA-256; ``nosniff`` keeps browsers from reading an
image as anything else. Other methods get 405, other paths 404, both as plain text.
"""

from __future__ import annotations

import re

from icframework.sdk import query

from . import posts, profiles
from .records import HttpRequest, HttpResponse, ImageKind

_PICTURE = re.compile(r"/(avatars|banners)/(\d{1,19})")
_KINDS = {"avatars": ImageKind.avatar, "banners": ImageKind.banner}


def text_response(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, [("content-type", "text/plain; charset=utf-8"),
                                 ("x-content-type-options", "nosniff")],
                        message.encode("utf-8"))


def image_headers(content_type: str, sha256: bytes) -> list[tuple[str, str]]:
    """The headers of an immutable image answer (shared with `posts`)."""
    return [("content-type", content_type),
            ("cache-control", "public, max-age=31536000, immutable"),
            ("etag", '"' + sha256.hex()[:32] + '"'),
            ("x-content-type-options", "nosniff")]


@query
def http_request(request: HttpRequest) -> HttpResponse:
    """``GET``/``HEAD`` of ``/avatars/<id>``, ``/banners/<id>`` and ``/images/...``."""
    path = request.url.split("?", 1)[0]
    if request.method not in ("GET", "HEAD"):
        return text_response(405, f"{request.method[:10]} is not served; images are read "
                                  "with GET")
    head = request.method == "HEAD"
    if path.startswith("/images/"):
        answer = posts.image_response(path)
        if answer is None:
            return text_response(404, f"no image at {path[:80]!r}")
        if head:
            answer.body = b""
        return answer
    match = _PICTURE.fullmatch(path)
    if match is None:
        return text_response(404, f"no such path {path[:80]!r}; pictures are at "
                                  "/avatars/<id>, /banners/<id> and /images/<id>")
    found = profiles.image(_KINDS[match[1]], int(match[2]))
    if found is None:
        return text_response(404, f"no picture at {path}")
    meta, body = found
    if ("if-none-match", '"' + meta.sha256.hex()[:32] + '"') in [
            (k.lower(), v) for k, v in request.headers]:
        return HttpResponse(304, image_headers(meta.content_type, meta.sha256), b"")
    return HttpResponse(200, image_headers(meta.content_type, meta.sha256),
                        b"" if head else body)
