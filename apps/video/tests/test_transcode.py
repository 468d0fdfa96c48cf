"""Transcoding real clips made in the test: two H.264/AAC renditions sized on their short
side with the index first, a JPEG poster, the original's upright size and length; and
every kind of bad original refused with its reason."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import time
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from apps.video.clips import make_clip
from apps.video.transcode import (
    DEFAULT_LIMITS,
    BadDimensions,
    CorruptMedia,
    NotAVideo,
    NoVideoStream,
    RenditionFile,
    TooLong,
    Transcoded,
    TranscodeError,
    TranscodeLimits,
    mp4_boxes,
    transcode,
)


def original(tmp_path: Path, data: bytes, name: str = "original.mp4") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_bytes(data)
    return path


def run(tmp_path: Path, data: bytes, limits: TranscodeLimits = DEFAULT_LIMITS) -> Transcoded:
    return transcode(original(tmp_path, data), tmp_path / "out", limits)


def by_kind(result: Transcoded) -> dict[str, RenditionFile]:
    return {file.kind: file for file in result.renditions}


def probe(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        info: dict[str, object] = {s.type: s.codec_context.name for s in container.streams}
        video = container.streams.video[0]
        info["size"] = (video.width, video.height)
        info["duration_ms"] = (container.duration or 0) // 1000
        info["frames"] = sum(1 for _ in container.decode(video=0))
    return info


def check_files(result: Transcoded) -> None:
    """Each file is where it says, with the size and SHA-256 it says; MP4s have their
    index first, the poster is a JPEG of the r720 size."""
    files = by_kind(result)
    assert list(files) == ["r720", "r360", "poster"]
    for file in result.renditions:
        data = file.path.read_bytes()
        assert file.size == len(data)
        assert file.sha256 == hashlib.sha256(data).digest()
    for kind in ("r720", "r360"):
        boxes = mp4_boxes(files[kind].path.read_bytes())
        assert boxes[0] == "ftyp"
        assert boxes.index("moov") < boxes.index("mdat"), boxes
        assert files[kind].content_type == "video/mp4"
        assert files[kind].width % 2 == 0 and files[kind].height % 2 == 0
    poster = files["poster"]
    assert poster.content_type == "image/jpeg"
    with Image.open(poster.path) as image:
        assert image.format == "JPEG"
        assert image.size == (poster.width, poster.height)
    assert (poster.width, poster.height) == (files["r720"].width, files["r720"].height)


def test_a_horizontal_video_becomes_720p_and_360p_with_sound(tmp_path: Path) -> None:
    result = run(tmp_path, make_clip(3, 1280, 720, label="horizontal"))
    check_files(result)
    assert (result.width, result.height) == (1280, 720)
    assert 2950 <= result.duration_ms <= 3050
    files = by_kind(result)
    for kind, size in (("r720", (1280, 720)), ("r360", (640, 360))):
        assert (files[kind].width, files[kind].height) == size
        info = probe(files[kind].path)
        assert info["video"] == "h264" and info["audio"] == "aac"
        assert info["size"] == size
        assert info["frames"] == 90
        assert 2950 <= int(str(info["duration_ms"])) <= 3100


def test_a_vertical_video_keeps_its_shape_sized_on_its_short_side(tmp_path: Path) -> None:
    result = run(tmp_path, make_clip(2, 1080, 1920, label="vertical"))
    check_files(result)
    files = by_kind(result)
    assert (result.width, result.height) == (1080, 1920)
    assert (files["r720"].width, files["r720"].height) == (720, 1280)
    assert (files["r360"].width, files["r360"].height) == (360, 640)


def test_a_video_without_sound_gives_renditions_without_sound(tmp_path: Path) -> None:
    result = run(tmp_path, make_clip(2, 640, 360, audio=False))
    check_files(result)
    for kind in ("r720", "r360"):
        info = probe(by_kind(result)[kind].path)
        assert "audio" not in info and info["video"] == "h264"


def test_a_small_video_is_never_scaled_up(tmp_path: Path) -> None:
    files = by_kind(run(tmp_path, make_clip(1, 480, 270)))
    assert (files["r720"].width, files["r720"].height) == (480, 270)
    assert (files["r360"].width, files["r360"].height) == (480, 270)


def test_an_odd_aspect_ratio_gives_even_sides(tmp_path: Path) -> None:
    files = by_kind(run(tmp_path, make_clip(1, 1000, 562)))
    # short side 562 -> 360: 1000 * 360 / 562 = 640.6 -> 640
    assert (files["r360"].width, files["r360"].height) == (640, 360)
    assert (files["r720"].width, files["r720"].height) == (1000, 562)


@pytest.mark.parametrize(("rotation", "upright"), [(90, (360, 640)), (270, (360, 640)),
                                                   (180, (640, 360))])
def test_a_phone_rotation_is_applied_to_the_pixels(tmp_path: Path, rotation: int,
                                                   upright: tuple[int, int]) -> None:
    result = run(tmp_path, make_clip(1, 640, 360, rotation=rotation))
    assert (result.width, result.height) == upright
    r720 = by_kind(result)["r720"]
    with av.open(str(r720.path)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == upright
    assert not frame.rotation  # upright pixels: players need no display matrix


def test_the_poster_is_the_frame_at_one_second_or_the_first(tmp_path: Path) -> None:
    long_enough = run(tmp_path / "a", make_clip(2, 320, 180, fps=10))
    short = run(tmp_path / "b", make_clip(0.5, 320, 180, fps=10))
    for result, index in ((long_enough, 10), (short, 0)):
        poster = by_kind(result)["poster"]
        r720 = by_kind(result)["r720"]
        with av.open(str(r720.path)) as container:
            frame = list(container.decode(video=0))[index]
        expected = frame.to_image().convert("L")
        with Image.open(poster.path) as image:
            got = image.convert("L")
        # JPEG is lossy: compare mean absolute difference with another frame's
        with av.open(str(r720.path)) as container:
            other = list(container.decode(video=0))[index - 3 if index else 3]
        assert difference(got, expected) < difference(got, other.to_image().convert("L"))


def difference(a: Image.Image, b: Image.Image) -> float:
    pixels_a, pixels_b = a.tobytes(), b.tobytes()
    return sum(abs(x - y) for x, y in zip(pixels_a, pixels_b, strict=True)) / len(pixels_a)


def test_a_frame_rate_above_30_is_capped(tmp_path: Path) -> None:
    files = by_kind(run(tmp_path, make_clip(1, 320, 180, fps=60)))
    info = probe(files["r360"].path)
    assert info["frames"] == 30


def test_an_original_cut_at_half_is_refused_as_truncated(tmp_path: Path) -> None:
    data = make_clip(3, 640, 360)  # index at the end, as cameras write it: lost
    with pytest.raises(CorruptMedia, match=r"starts like a video but cannot be read .* "
                                           r"truncated or damaged"):
        run(tmp_path / "a", data[:len(data) // 2])
    fast = make_clip(3, 640, 360, faststart=True)  # index first: the media breaks off
    with pytest.raises(CorruptMedia, match=r"breaks off after \d|stops at .* truncated"):
        run(tmp_path / "b", fast[:len(fast) // 2])


@pytest.mark.parametrize(("name", "make", "error", "message"), [
    # Seeded: some random byte strings happen to probe as a text format (FFmpeg once read
    # os.urandom's as "LRC lyrics"), which is refused with another reason.
    ("random bytes", lambda: random.Random(0).randbytes(300_000), NotAVideo,
     "not a video FFmpeg recognises .* upload an MP4, MOV, WebM or MKV video"),
    ("a JPEG", lambda: jpeg(), NotAVideo, r"still picture .*mjpeg"),
    ("text", lambda: b"just some words\n" * 500, NotAVideo, "not a video"),
    ("nothing", lambda: b"", NotAVideo, "the file is empty"),
    ("an audio file", lambda: audio_only(), NoVideoStream, "sound but no picture"),
])
def test_what_is_not_a_video_is_refused_with_its_reason(
    tmp_path: Path, name: str, make: object, error: type[TranscodeError], message: str
) -> None:
    assert callable(make)
    with pytest.raises(error, match=message) as caught:
        run(tmp_path, make())
    assert caught.value.reason == str(caught.value)
    assert not list((tmp_path / "out").glob("*.jpg"))


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 360), "orange").save(out, "JPEG")
    return out.getvalue()


def audio_only() -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=48_000)
        stream.layout = "mono"
        for index in range(40):
            frame = av.AudioFrame(format="flt", layout="mono", samples=1024)
            frame.sample_rate = 48_000
            frame.planes[0].update(bytes(4096))
            frame.pts = index * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def test_a_video_longer_than_three_minutes_is_refused_before_decoding(tmp_path: Path) -> None:
    assert DEFAULT_LIMITS.max_duration_ms == 180_000
    data = make_clip(181, 32, 32, fps=1, audio=False)
    with pytest.raises(TooLong, match=r"the video is 181\.0 s long; the limit is 180\.0 s"):
        run(tmp_path, data)
    with pytest.raises(TooLong, match=r"the limit is 2\.0 s"):
        run(tmp_path / "short", make_clip(3, 64, 64), TranscodeLimits(max_duration_ms=2000))


def test_pictures_too_large_or_too_small_are_refused(tmp_path: Path) -> None:
    data = make_clip(1, 640, 360)
    with pytest.raises(BadDimensions, match="the picture is 640x360; the limit is 600 pixels"):
        run(tmp_path / "a", data, TranscodeLimits(max_side=600))
    with pytest.raises(BadDimensions, match="megapixels"):
        run(tmp_path / "b", data, TranscodeLimits(max_pixels=640 * 359))
    with pytest.raises(BadDimensions, match="at least 400 pixels a side"):
        run(tmp_path / "c", data, TranscodeLimits(min_side=400))


def test_transcoding_speed_is_reported(tmp_path: Path,
                                       record_property: Callable[[str, object], None]) -> None:
    """Seconds of transcoding per second of video (reported, not asserted: machines differ),
    on 2 s clips; `bench/bench_video.py`'s transcode table measures longer ones."""
    for width, height in ((1280, 720), (1080, 1920)):
        data = make_clip(2, width, height)
        started = time.perf_counter()
        result = run(tmp_path / f"{width}x{height}", data)
        seconds = time.perf_counter() - started
        ratio = seconds / (result.duration_ms / 1000)
        record_property(f"transcode_{width}x{height}_seconds_per_video_second", round(ratio, 3))
        print(f"\n{width}x{height}: {ratio:.2f} s of transcoding per video second "
              f"({DEFAULT_LIMITS.threads} thread, preset {DEFAULT_LIMITS.preset})")
        check_files(result)


@given(st.lists(st.tuples(st.sampled_from(["ftyp", "moov", "mdat", "free", "uuid"]),
                          st.binary(max_size=40), st.booleans()), max_size=6))
def test_mp4_boxes_lists_top_level_box_types_in_order(
    boxes: list[tuple[str, bytes, bool]],
) -> None:
    data = b"".join(
        struct.pack(">I4sQ", 16 + len(body), kind.encode(), 16 + len(body)) + body
        if large else struct.pack(">I4s", 8 + len(body), kind.encode()) + body
        for kind, body, large in boxes)
    assert mp4_boxes(data) == [kind for kind, _, _ in boxes]


def remuxed(data: bytes, container_format: str) -> bytes:
    """``data``'s streams, unchanged, in another container (e.g. Matroska)."""
    out = io.BytesIO()
    with av.open(io.BytesIO(data), "r") as source, \
            av.open(out, "w", format=container_format) as target:
        streams = {s.index: target.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            target.mux(packet)
    return out.getvalue()


def test_a_matroska_original_is_taken_and_its_mono_sound_stays_mono(tmp_path: Path) -> None:
    mkv = remuxed(make_clip(2, 640, 360, seed=5), "matroska")
    assert mkv[:4] == b"\x1aE\xdf\xa3"
    result = run(tmp_path, mkv)
    check_files(result)
    with av.open(str(by_kind(result)["r360"].path)) as container:
        audio = container.streams.audio[0]
        assert (audio.codec_context.name, audio.sample_rate) == ("aac", 48_000)
        assert audio.codec_context.layout.nb_channels == 1


def test_a_container_this_service_does_not_take_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotAVideo, match="format this service does not take"):
        run(tmp_path, remuxed(make_clip(1, 320, 180), "mpegts"))
