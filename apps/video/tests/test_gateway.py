"""``http_request``: renditions streamed whole through the callback, Range (206/416) checked
against Python slicing for every header shape, ETag/304, and 404 for what may not be seen."""

from __future__ import annotations

import hashlib
import importlib
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.sdk import LocalCanister
from icframework.sdk.http import etag_of

from .world import (
    ANON,
    APP,
    CHUNK,
    MOD,
    As,
    fresh,
    mp4,
    process,
    ready_video,
    records,
    upload,
    user,
)

ALICE = user("alice")
SIZE = 2 * CHUNK + 12_345
R720 = bytes((n * 7 + n // 1000) % 251 for n in range(SIZE))
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def served() -> tuple[LocalCanister, Any]:
    """A canister with one ready video whose 720p rendition is `R720` (3 chunks)."""
    c = fresh()
    video = upload(c, ALICE, mp4(5000), "served")
    video = process(c, video.id, files={records.RenditionKind.r720: R720,
                                        records.RenditionKind.poster: b"\xff\xd8\xffjpeg"})
    return c, video


def get(c: LocalCanister, path: str, *headers: tuple[str, str], method: str = "GET") -> Any:
    return c.query("http_request", records.HttpRequest(method, path, list(headers), b""))


def headers_of(response: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers}


def whole_body(c: LocalCanister, response: Any) -> bytes:
    """The body the gateway assembles: the first chunk, then each callback's chunk."""
    body = response.body
    strategy = response.streaming_strategy
    token = None if strategy is None else strategy.value.token
    if strategy is not None:
        assert strategy.value.callback.method == "http_request_streaming_callback"
    while token is not None:
        part = c.query("http_request_streaming_callback", token)
        body += part.body
        token = part.token
    return bytes(body)


# -- the reference: RFC 9110 byte ranges, read plainly ------------------------------------


def expected(value: str, size: int) -> tuple[int, int] | str | None:
    """``(first, last)`` served for ``Range: value`` (at most one chunk), "416", or None
    when the header is ignored (200 with the whole body)."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value, re.IGNORECASE | re.ASCII)
    if match is None or match[1] == match[2] == "":
        return None
    if match[1] == "":
        suffix = int(match[2])
        if suffix == 0:
            return "416"
        first, last = max(size - suffix, 0), size - 1
    else:
        first = int(match[1])
        if match[2] and int(match[2]) < first:
            return None
        if first >= size:
            return "416"
        last = min(int(match[2]), size - 1) if match[2] else size - 1
    return first, min(last, first + CHUNK - 1)


positions = st.one_of(st.integers(0, SIZE + 10), st.integers(0, 10**25),
                      st.sampled_from([CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, SIZE - 1, SIZE]))
range_values = st.one_of(
    st.builds(lambda a, b: f"bytes={a}-{b}", positions, positions),
    st.builds(lambda a: f"bytes={a}-", positions),
    st.builds(lambda n: f"bytes=-{n}", positions),
    st.builds(lambda a, b, c, d: f"bytes={a}-{b}, {c}-{d}", positions, positions, positions,
              positions),
    st.builds(lambda a, b: f" BYTES = {a:05d} - {b} ", positions, positions),
    st.sampled_from(["bytes=-", "bytes=", "items=0-1", "bytes=a-b", "bytes 0-1", "", "0-5",
                     "bytes=--1", "bytes=1-2-3"]),
    st.text(max_size=20),
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(range_values)
def test_every_range_header_gets_the_bytes_python_slicing_gives(
        served: tuple[LocalCanister, Any], value: str) -> None:
    c, video = served
    path = video.renditions[0].path
    response = get(c, path, ("Range", value))
    want = expected(value, SIZE)
    head = headers_of(response)
    if want is None:
        assert response.status_code == 200
        assert whole_body(c, response) == R720
    elif want == "416":
        assert response.status_code == 416
        assert head["content-range"] == f"bytes */{SIZE}"
    else:
        assert not isinstance(want, str)
        first, last = want
        assert response.status_code == 206
        assert head["content-range"] == f"bytes {first}-{last}/{SIZE}"
        assert response.body == R720[first:last + 1]
        assert response.streaming_strategy is None


def test_a_client_reading_range_after_range_gets_the_whole_file(
        served: tuple[LocalCanister, Any]) -> None:
    c, video = served
    got, offset = b"", 0
    while offset < SIZE:
        response = get(c, video.renditions[0].path, ("range", f"bytes={offset}-"))
        assert response.status_code == 206
        got += response.body
        offset += len(response.body)
    assert got == R720


def test_a_whole_rendition_streams_through_the_callback_with_immutable_headers(
        served: tuple[LocalCanister, Any]) -> None:
    c, video = served
    response = get(c, f"{video.renditions[0].path}?t=3")
    head = headers_of(response)
    assert response.status_code == 200 and len(response.body) == CHUNK
    assert head["content-type"] == "video/mp4" and head["accept-ranges"] == "bytes"
    assert head["cache-control"] == IMMUTABLE
    assert head["etag"] == etag_of(hashlib.sha256(R720).digest())
    assert head["x-content-type-options"] == "nosniff"
    assert whole_body(c, response) == R720
    poster = get(c, f"/v/{video.id}/poster.jpg")
    assert headers_of(poster)["content-type"] == "image/jpeg"
    assert poster.body == b"\xff\xd8\xffjpeg" and poster.streaming_strategy is None


def test_etag_304_head_and_other_methods(served: tuple[LocalCanister, Any]) -> None:
    c, video = served
    path = video.renditions[0].path
    etag = etag_of(hashlib.sha256(R720).digest())
    cached = get(c, path, ("If-None-Match", f'"other", {etag}'))
    assert cached.status_code == 304 and cached.body == b""
    assert get(c, path, ("If-None-Match", '"other"')).status_code == 200
    head = get(c, path, method="HEAD")
    assert head.status_code == 200 and head.body == b"" and head.streaming_strategy is None
    assert get(c, path, method="POST").status_code == 405


def test_a_streaming_token_for_another_body_or_past_the_end_is_refused(
        served: tuple[LocalCanister, Any]) -> None:
    c, video = served
    from icframework.sdk import CanisterError
    from icframework.sdk.http import StreamingToken

    with pytest.raises(CanisterError, match="names no chunk"):
        c.query("http_request_streaming_callback",
                StreamingToken(video.renditions[0].path, 3))
    gone = c.query("http_request_streaming_callback", StreamingToken("/v/999/720.mp4", 1))
    assert (gone.body, gone.token) == (b"", None)


@pytest.mark.parametrize("path", [
    "/", "/v/1", "/v/1/720.mp4/x", "/v/1/1080.mp4", "/v/999/720.mp4", "/v/1/360.mp4",
    "/v/99999999999999999999/720.mp4", "/V/1/720.mp4", "/v/-1/720.mp4"])
def test_unknown_paths_get_404(served: tuple[LocalCanister, Any], path: str) -> None:
    c, _ = served
    response = get(c, path)
    assert response.status_code == 404 and b"no video file at" in response.body


def test_unfinished_deleted_and_hidden_videos_get_404() -> None:
    c = fresh()
    alice = As(c, ALICE)
    waiting = upload(c, alice, mp4(100))
    assert get(c, f"/v/{waiting.id}/720.mp4").status_code == 404
    ready = ready_video(c, alice)
    path = ready.renditions[0].path
    assert get(c, path).status_code == 200
    if "moderate" in c.canister.methods:
        social = importlib.import_module(APP.__name__ + ".social_records")
        target, decision = social.ReportTarget(video=ready.id), social.Decision.remove
        As(c, MOD).moderate(target, decision)
        assert get(c, path).status_code == 404
        assert As(c, ANON).video(ready.id) is None
        assert alice.video(ready.id) is not None  # the creator still sees it
    other = ready_video(c, alice)
    alice.delete_video(other.id)
    assert get(c, other.renditions[0].path).status_code == 404
    assert get(c, f"/v/{other.id}/poster.jpg").status_code == 404
