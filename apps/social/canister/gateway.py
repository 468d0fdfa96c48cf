"""The single ``http_request`` method: profile pictures and post images through the HTTP gateway.

``GET /avatars/<id>`` and ``/banners/<id>`` serve profile pictures (`profiles`);
paths under ``/images/`` are answered by `posts.image_response`. An image's URL
changes whenever the picture does, so every answer is immutable and cached for a
year, with an ETag from its SHA-256 (`icframework.sdk.http.immutable_response`);
``nosniff`` keeps browsers from reading an image as anything else. Other methods get
405, other paths 404, both as plain text.
"""

from __future__ import annotations

import re

from icframework.sdk import query
from icframework.sdk.http import (
    HttpRequest,
    HttpResponse,
    immutable_response,
    text_response,
    url_path,
)

from . import posts, profiles
from .records import ImageKind

_PICTURE = re.compile(r"/(avatars|banners)/(\d{1,19})")
_KINDS = {"avatars": ImageKind.avatar, "banners": ImageKind.banner}


@query
def http_request(request: HttpRequest) -> HttpResponse:
    """``GET``/``HEAD`` of ``/avatars/<id>``, ``/banners/<id>`` and ``/images/...``."""
    path = url_path(request)
    if request.method not in ("GET", "HEAD"):
        return text_response(405, f"{request.method[:10]} is not served; images are read "
                                  "with GET")
    if path.startswith("/images/"):
        answer = posts.image_response(request, path)
        if answer is None:
            return text_response(404, f"no image at {path[:80]!r}")
        return answer
    match = _PICTURE.fullmatch(path)
    if match is None:
        return text_response(404, f"no such path {path[:80]!r}; pictures are at "
                                  "/avatars/<id>, /banners/<id> and /images/<id>")
    found = profiles.image(_KINDS[match[1]], int(match[2]))
    if found is None:
        return text_response(404, f"no picture at {path}")
    meta, body = found
    return immutable_response(request, meta.content_type, body, meta.sha256)
