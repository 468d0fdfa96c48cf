"""Demo and test clips: real H.264/AAC MP4s of the requested size and length, the same
bytes for the same arguments, different media for different seeds and labels."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from typing import Any

import av
import pytest

from apps.video.clips import AUDIO_RATE, ClipError, make_clip
from apps.video.transcode import mp4_boxes


def streams(data: bytes) -> dict[str, tuple[str, int]]:
    with av.open(io.BytesIO(data), "r") as container:
        return {s.type: (s.codec_context.name, s.frames) for s in container.streams}


def test_a_clip_is_an_h264_aac_mp4_of_the_asked_size_length_and_rate() -> None:
    data = make_clip(2, 640, 360, fps=25, label="hello #demo")
    with av.open(io.BytesIO(data), "r") as container:
        assert "mp4" in container.format.name.split(",")
        assert container.metadata.get("title") == "hello #demo"
        video = container.streams.video[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 640, 360)
        assert video.frames == 50
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert audio.sample_rate == AUDIO_RATE
        assert container.duration is not None
        assert 1.95 <= container.duration / 1e6 <= 2.05
        frames = list(container.decode(video=0))
    assert len(frames) == 50
    # the pattern moves: consecutive pictures differ
    first, later = (bytes(frames[i].planes[0]) for i in (0, 10))
    assert first != later


def test_the_same_arguments_give_the_same_bytes_and_a_seed_or_label_changes_them() -> None:
    one = make_clip(1, 320, 240, seed=7, label="a")
    assert make_clip(1, 320, 240, seed=7, label="a") == one
    others = {make_clip(1, 320, 240, seed=8, label="a"), make_clip(1, 320, 240, seed=7, label="b")}
    assert one not in others and len(others) == 2


def test_without_audio_there_is_only_a_video_stream() -> None:
    assert set(streams(make_clip(1, 160, 90, audio=False))) == {"video"}


def test_faststart_puts_the_index_before_the_media() -> None:
    plain = mp4_boxes(make_clip(1, 160, 90))
    fast = mp4_boxes(make_clip(1, 160, 90, faststart=True))
    assert plain.index("mdat") < plain.index("moov")
    assert fast.index("moov") < fast.index("mdat")


def test_rotation_is_stored_as_a_display_matrix() -> None:
    with av.open(io.BytesIO(make_clip(1, 320, 180, rotation=90)), "r") as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height, frame.rotation) == (320, 180, 90)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"width": 641}, "width 641 must be an even number of pixels from 16 to 4096"),
    ({"height": 8}, "height 8 must be an even number"),
    ({"seconds": 0}, "seconds 0 must be more than 0"),
    ({"fps": 0}, "fps 0 must be from 1 to 120"),
    ({"rotation": 45}, "rotation 45 must be a multiple of 90 degrees"),
])
def test_impossible_clips_are_refused_naming_the_value(kwargs: dict[str, int],
                                                       message: str) -> None:
    arguments: dict[str, Any] = {"seconds": 1, "width": 320, "height": 180, **kwargs}
    with pytest.raises(ClipError, match=message):
        make_clip(**arguments)


def test_generation_speed_is_reported(record_property: Callable[[str, object], None]) -> None:
    started = time.perf_counter()
    data = make_clip(3, 640, 360, label="speed")
    seconds = time.perf_counter() - started
    record_property("clip_3s_640x360_seconds", round(seconds, 3))
    print(f"\n3 s of 640x360 made in {seconds:.3f} s ({len(data)} bytes)")
    assert streams(data)["video"] == ("h264", 90)
    assert hashlib.sha256(data).digest() == hashlib.sha256(make_clip(
        3, 640, 360, label="speed")).digest()
