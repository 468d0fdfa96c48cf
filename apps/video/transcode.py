"""Transcoding an uploaded video into what the canister serves (pure: files in, files out).

`transcode` reads the original with PyAV (FFmpeg) and writes, in one decoding pass:

* two H.264/AAC MP4 renditions, ``r720`` and ``r360``: the picture scaled so its
  *short* side is 720 or 360 pixels (a vertical 1080x1920 phone video becomes 720x1280
  and 360x640, a horizontal one 1280x720 and 640x360), aspect ratio kept, both sides
  even, never scaled up (a 480x270 original gives 480x270 twice); at most 30 frames
  a second; a keyframe every 2 s so players seek quickly; ``movflags=+faststart``, so
  the index (``moov``) comes before the media (``mdat``) and a browser starts playing
  from the first bytes of a ranged download;
* a ``poster`` JPEG at the r720 size: the frame at 1 s (the first, if shorter).

The original's rotation (a phone's display matrix) is applied to the pixels, so the
renditions play upright without one. The audio, if any, becomes AAC at 48 kHz (stereo
or mono, as the original). Sizes, duration and encoder settings are `TranscodeLimits`.

Hostile or broken input ends in a `TranscodeError` whose message is the reason the
canister records (``worker_reject``) and the uploader reads:

* `NotAVideo`: no container FFmpeg recognises as a video file (random bytes, a
  document), a still picture (a JPEG, a PNG), or a container this service does not
  take (only MP4/QuickTime, Matroska/WebM and AVI);
* `NoVideoStream`: a recognised container with no picture (an audio file);
* `CorruptMedia`: a truncated or damaged file: it cannot be opened although it starts
  like a video, its packets do not decode, or it ends well before the length it declares;
* `TooLong`: longer than ``max_duration_ms`` (3 minutes), by its declared length or by
  what decodes (a file cannot hide its length);
* `BadDimensions`: a picture larger than ``max_side`` or ``max_pixels``, or smaller
  than ``min_side``.

Checks that need no decoding (container, streams, declared length, size) come first,
so a hostile file is refused before its frames are decoded.
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

__all__ = [
    "ACCEPTED_CONTAINERS",
    "DEFAULT_LIMITS",
    "BadDimensions",
    "CorruptMedia",
    "NoVideoStream",
    "NotAVideo",
    "RenditionFile",
    "TooLong",
    "TranscodeError",
    "TranscodeLimits",
    "Transcoded",
    "mp4_boxes",
    "transcode",
]

ACCEPTED_CONTAINERS = frozenset({"mov", "mp4", "matroska", "webm", "avi"})
"""FFmpeg demuxer names an original may have (MP4/QuickTime, Matroska/WebM, AVI)."""

_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"free"), (4, b"wide"),  # ISO BMFF/QT
    (0, b"\x1aE\xdf\xa3"),  # Matroska/WebM (EBML)
    (0, b"RIFF"),  # AVI
)


@dataclass(frozen=True)
class TranscodeLimits:
    """What `transcode` accepts and how it encodes (see the module docstring)."""

    max_duration_ms: int = 180_000
    max_side: int = 4096
    max_pixels: int = 4096 * 2304
    min_side: int = 16
    short_sides: tuple[tuple[str, int], ...] = (("r720", 720), ("r360", 360))
    """(rendition kind, short side in pixels), largest first; the poster takes the first."""
    max_fps: int = 30
    keyframe_seconds: int = 2
    preset: str = "veryfast"
    crf: tuple[int, ...] = (23, 26)
    """libx264's constant rate factor per rendition (lower is better and larger)."""
    audio_bitrates: tuple[int, ...] = (128_000, 64_000)
    poster_at_ms: int = 1_000
    poster_quality: int = 85
    threads: int = 1
    """Encoder and decoder threads: one, so a transcode takes one core of the machine
    the worker shares with the server (`icframework.workers.WORKER_CONCURRENCY`)."""


DEFAULT_LIMITS = TranscodeLimits()


class TranscodeError(Exception):
    """The original cannot be transcoded; ``str(error)`` is the reason for the uploader."""

    @property
    def reason(self) -> str:
        return str(self)


class NotAVideo(TranscodeError):
    """Not a video file this service takes."""


class NoVideoStream(TranscodeError):
    """A container with no video stream."""


class CorruptMedia(TranscodeError):
    """A truncated or damaged file."""


class TooLong(TranscodeError):
    """Longer than the limit."""


class BadDimensions(TranscodeError):
    """A picture too large or too small."""


@dataclass(frozen=True)
class RenditionFile:
    """One file `transcode` wrote: ``kind`` is a ``RenditionKind`` name of the canister."""

    kind: str
    path: Path
    content_type: str
    size: int
    width: int
    height: int
    sha256: bytes


@dataclass(frozen=True)
class Transcoded:
    """What `transcode` made: the renditions, and the original's upright size and length."""

    renditions: list[RenditionFile]
    duration_ms: int
    width: int
    height: int


def transcode(source: Path, workdir: Path,
              limits: TranscodeLimits = DEFAULT_LIMITS) -> Transcoded:
    """Transcode the video file ``source`` into ``workdir`` (see the module docstring);
    raises a `TranscodeError` subclass with the reason when the file is refused."""
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        container = av.open(str(source), "r")
    except av.error.FFmpegError as exc:
        raise _unopenable(source, exc) from None
    with container:
        try:
            return _transcode(container, workdir, limits)
        except av.error.FFmpegError as exc:
            if isinstance(exc, OSError):
                raise  # our side's input/output (a full disk): not the file's fault
            # FFmpeg gave up on this file mid-way (a stream that changes its shape, a
            # codec parameter it cannot encode): the file's, reported as its reason
            raise CorruptMedia(f"the video could not be processed ({_ffmpeg_reason(exc)}); "
                               "export it again as an H.264 MP4 and upload that") from None


def _unopenable(source: Path, exc: Exception) -> TranscodeError:
    with source.open("rb") as file:
        head = file.read(16)
    if not head:
        return NotAVideo("the file is empty: upload the video file again")
    if any(head[at:at + len(magic)] == magic for at, magic in _SIGNATURES):
        return CorruptMedia(
            "the file starts like a video but cannot be read (it is truncated or damaged: "
            f"{_ffmpeg_reason(exc)}); upload the complete file again")
    return NotAVideo("the file is not a video FFmpeg recognises "
                     f"({_ffmpeg_reason(exc)}); upload an MP4, MOV, WebM or MKV video")


def _ffmpeg_reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".")


def _transcode(container: Any, workdir: Path, limits: TranscodeLimits) -> Transcoded:
    formats = set(container.format.name.split(","))
    if not container.streams.video:
        if formats & ACCEPTED_CONTAINERS and container.streams.audio:
            raise NoVideoStream("the file has sound but no picture (an audio file); "
                                "upload a video")
        raise NotAVideo(f"the file is not a video ({container.format.long_name}); "
                        "upload an MP4, MOV, WebM or MKV video")
    stream = container.streams.video[0]
    if not formats & ACCEPTED_CONTAINERS or stream.codec_context.name in _STILL_CODECS:
        raise NotAVideo(
            f"the file is a still picture or a format this service does not take "
            f"({container.format.long_name}, {stream.codec_context.name}); upload an MP4, "
            "MOV, WebM or MKV video")
    declared_ms = _declared_ms(container, stream)
    if declared_ms is not None and declared_ms > limits.max_duration_ms:
        raise TooLong(f"the video is {_seconds(declared_ms)} long; the limit is "
                      f"{_seconds(limits.max_duration_ms)}: trim it and upload it again")
    coded_w, coded_h = stream.codec_context.width, stream.codec_context.height
    _check_size(coded_w, coded_h, limits)

    audio = container.streams.audio[0] if container.streams.audio else None
    stream.codec_context.thread_count = limits.threads
    fps = _output_fps(stream, limits)
    plan = _Plan(workdir, limits, fps, audio)
    decoded_ms = 0
    try:
        for frame_time, frame in _frames(container, stream, audio, plan):
            decoded_ms = max(decoded_ms, frame_time)
            if decoded_ms > limits.max_duration_ms + 1000:
                raise TooLong(f"the video decodes to more than "
                              f"{_seconds(limits.max_duration_ms)} (its header says "
                              f"{_seconds(declared_ms or 0)}); trim it and upload it again")
            if frame is not None:
                plan.add_video(frame, frame_time)
        if plan.frames == 0:
            raise CorruptMedia("no frame of the video could be decoded (the file is "
                               "truncated or damaged); upload the complete file again")
        duration_ms = plan.duration_ms()
        if declared_ms and duration_ms < declared_ms * 0.9 - 500:
            raise CorruptMedia(
                f"the video stops at {_seconds(duration_ms)} of the {_seconds(declared_ms)} "
                "it declares (the file is truncated); upload the complete file again")
        return plan.finish(duration_ms)
    finally:
        plan.close()


_STILL_CODECS = frozenset({"mjpeg", "png", "bmp", "gif", "webp", "tiff", "jpeg2000",
                           "jpegls", "ljpeg"})


def _declared_ms(container: Any, stream: Any) -> int | None:
    if stream.duration is not None and stream.time_base is not None:
        return int(stream.duration * stream.time_base * 1000)
    if container.duration is not None:
        return int(container.duration // 1000)  # microseconds
    return None


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.1f} s"


def _check_size(width: int, height: int, limits: TranscodeLimits) -> None:
    if width > limits.max_side or height > limits.max_side \
            or width * height > limits.max_pixels:
        raise BadDimensions(
            f"the picture is {width}x{height}; the limit is {limits.max_side} pixels a side "
            f"and {limits.max_pixels / 1e6:.1f} megapixels: export it smaller (4K at most)")
    if width < limits.min_side or height < limits.min_side:
        raise BadDimensions(f"the picture is {width}x{height}; it must be at least "
                            f"{limits.min_side} pixels a side")


def _output_fps(stream: Any, limits: TranscodeLimits) -> int:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = round(float(rate)) if rate else limits.max_fps
    return max(1, min(limits.max_fps, fps))


def _frames(container: Any, stream: Any, audio: Any,
            plan: _Plan) -> Iterator[tuple[int, av.VideoFrame | None]]:
    """(time in ms from the start, video frame or None for an audio packet) in file order;
    audio frames go to ``plan`` on the way."""
    streams = [stream] + ([audio] if audio is not None else [])
    try:
        for packet in container.demux(*streams):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    yield plan.video_time(frame), frame
                else:
                    plan.add_audio(frame)
                    yield 0, None
    except av.error.FFmpegError as exc:
        if plan.frames == 0:
            raise CorruptMedia(
                f"the video cannot be decoded ({_ffmpeg_reason(exc)}): the file is damaged; "
                "upload it again") from None
        raise CorruptMedia(
            f"the video breaks off after {_seconds(plan.duration_ms())} "
            f"({_ffmpeg_reason(exc)}): the file is truncated or damaged; upload it again"
        ) from None


class _Output:
    """One MP4 rendition being written."""

    def __init__(self, path: Path, kind: str, width: int, height: int, fps: int, crf: int,
                 audio_rate: int | None, audio_layout: str, audio_bitrate: int,
                 limits: TranscodeLimits) -> None:
        self.path, self.kind, self.width, self.height = path, kind, width, height
        self.container = av.open(str(path), "w", format="mp4",
                                 options={"movflags": "+faststart"})
        video = self.container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": limits.preset, "crf": str(crf),
                         "g": str(fps * limits.keyframe_seconds),
                         "threads": str(limits.threads)}
        self.video = video
        self.audio = None
        if audio_rate is not None:
            self.audio = self.container.add_stream("aac", rate=audio_rate)
            self.audio.layout = audio_layout
            self.audio.bit_rate = audio_bitrate

    def add_video(self, frame: av.VideoFrame, pts: int) -> av.VideoFrame:
        scaled = frame.reformat(self.width, self.height, format="yuv420p",
                                interpolation="BICUBIC")
        scaled.pts = pts
        scaled.time_base = Fraction(1, self.video.codec_context.rate or 1)
        for packet in self.video.encode(scaled):
            self.container.mux(packet)
        return scaled

    def add_audio(self, frame: av.AudioFrame) -> None:
        assert self.audio is not None
        for packet in self.audio.encode(frame):
            self.container.mux(packet)

    def finish(self) -> None:
        for packet in self.video.encode():
            self.container.mux(packet)
        if self.audio is not None:
            for packet in self.audio.encode():
                self.container.mux(packet)
        self.container.close()


class _Plan:
    """The renditions of one transcode, made lazily from the first frame (whose rotation
    and size decide their sizes)."""

    def __init__(self, workdir: Path, limits: TranscodeLimits, fps: int, audio: Any) -> None:
        self.workdir, self.limits, self.fps = workdir, limits, fps
        self.audio_stream = audio
        self.outputs: list[_Output] = []
        self.frames = 0
        self.first_ms: int | None = None
        self.last_ms = 0
        self.last_pts = -1
        self.width = self.height = 0
        self.rotation = 0
        self.rotator: Any = None
        self.poster_path: Path | None = None
        self.poster_size = (0, 0)
        self.first_frame: av.VideoFrame | None = None
        self.resampler: av.AudioResampler | None = None
        self.pending_audio: list[av.AudioFrame] = []
        if audio is not None:
            channels = audio.codec_context.layout.nb_channels
            self.audio_layout = "mono" if channels == 1 else "stereo"
            self.resampler = av.AudioResampler(format="fltp", layout=self.audio_layout,
                                               rate=48_000, frame_size=1024)
        else:
            self.audio_layout = "stereo"

    def video_time(self, frame: av.VideoFrame) -> int:
        seconds = frame.time if frame.time is not None else self.frames / self.fps
        ms = round(seconds * 1000)
        if self.first_ms is None:
            self.first_ms = ms
        return ms - self.first_ms

    def _open(self, frame: av.VideoFrame) -> None:
        self.rotation = (-round(frame.rotation or 0)) % 360
        width, height = frame.width, frame.height
        sar = frame.sample_aspect_ratio if hasattr(frame, "sample_aspect_ratio") else None
        if sar and sar > 0 and sar != 1:
            width = max(2, round(width * sar))
        if self.rotation in (90, 270):
            width, height = height, width
        _check_size(width, height, self.limits)
        self.width, self.height = width, height
        short = min(width, height)
        for index, (kind, side) in enumerate(self.limits.short_sides):
            scale = min(1.0, side / short)
            out_w, out_h = _even(width * scale), _even(height * scale)
            self.outputs.append(_Output(
                self.workdir / f"{kind}.mp4", kind, out_w, out_h, self.fps,
                self.limits.crf[min(index, len(self.limits.crf) - 1)],
                48_000 if self.audio_stream is not None else None, self.audio_layout,
                self.limits.audio_bitrates[min(index, len(self.limits.audio_bitrates) - 1)],
                self.limits))
        if self.rotation:
            self.rotator = _Rotator(frame, self.rotation)

    def add_video(self, frame: av.VideoFrame, ms: int) -> None:
        if not self.outputs:
            self._open(frame)
            for waiting in self.pending_audio:
                self._audio_out(waiting)
            self.pending_audio.clear()
        pts = round(ms * self.fps / 1000)
        if pts <= self.last_pts:
            return  # above the frame rate cap (or a repeated timestamp): dropped
        self.last_pts = pts
        self.last_ms = max(self.last_ms, ms)
        upright = self.rotator.apply(frame) if self.rotator is not None else frame
        self.frames += 1
        for index, output in enumerate(self.outputs):
            scaled = output.add_video(upright, pts)
            if index == 0 and self.poster_path is None:
                if ms >= self.limits.poster_at_ms:
                    self._poster(scaled)
                elif self.first_frame is None:
                    self.first_frame = scaled  # the poster if the video is shorter

    def _poster(self, frame: av.VideoFrame) -> None:
        path = self.workdir / "poster.jpg"
        frame.to_image().save(path, "JPEG", quality=self.limits.poster_quality)
        self.poster_path, self.poster_size = path, (frame.width, frame.height)
        self.first_frame = None

    def add_audio(self, frame: av.AudioFrame) -> None:
        if self.resampler is None:
            return
        if not self.outputs:
            self.pending_audio.append(frame)
            return
        self._audio_out(frame)

    def _audio_out(self, frame: av.AudioFrame | None) -> None:
        assert self.resampler is not None
        for out in self.resampler.resample(frame):
            for output in self.outputs:
                if output.audio is not None:
                    output.add_audio(out)

    def duration_ms(self) -> int:
        return self.last_ms + round(1000 / self.fps) if self.frames else 0

    def finish(self, duration_ms: int) -> Transcoded:
        if self.resampler is not None and self.outputs:
            self._audio_out(None)
        files: list[RenditionFile] = []
        for output in self.outputs:
            output.finish()
            files.append(_described(output.path, output.kind, "video/mp4",
                                    output.width, output.height))
        self.outputs_closed = True
        if self.poster_path is None:
            assert self.first_frame is not None
            self._poster(self.first_frame)
        assert self.poster_path is not None
        files.append(_described(self.poster_path, "poster", "image/jpeg", *self.poster_size))
        return Transcoded(files, duration_ms, self.width, self.height)

    def close(self) -> None:
        if getattr(self, "outputs_closed", False):
            return
        for output in self.outputs:
            with contextlib.suppress(av.error.FFmpegError):
                output.container.close()


class _Rotator:
    """Turns frames upright with FFmpeg's ``transpose``/``hflip,vflip`` filters."""

    def __init__(self, frame: av.VideoFrame, rotation: int) -> None:
        self.graph = av.filter.Graph()
        source = self.graph.add_buffer(width=frame.width, height=frame.height,
                                       format=frame.format,
                                       time_base=frame.time_base or Fraction(1, 1000))
        if rotation == 90:
            chain = [self.graph.add("transpose", "clock")]
        elif rotation == 270:
            chain = [self.graph.add("transpose", "cclock")]
        else:
            chain = [self.graph.add("hflip"), self.graph.add("vflip")]
        sink = self.graph.add("buffersink")
        previous = source
        for node in [*chain, sink]:
            previous.link_to(node)
            previous = node
        self.graph.configure()

    def apply(self, frame: av.VideoFrame) -> av.VideoFrame:
        self.graph.vpush(frame)
        upright = self.graph.vpull()
        assert isinstance(upright, av.VideoFrame)
        return upright


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def _described(path: Path, kind: str, content_type: str, width: int,
               height: int) -> RenditionFile:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return RenditionFile(kind, path, content_type, size, width, height, digest.digest())


def mp4_boxes(data: bytes) -> list[str]:
    """The types of an MP4's top-level boxes in file order (``ftyp``, ``moov``, ``mdat``...);
    stops at a box that runs past the end."""
    boxes: list[str] = []
    at = 0
    while at + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1 and at + 16 <= len(data):
            size = struct.unpack_from(">Q", data, at + 8)[0]
            header = 16
        elif size == 0:
            size = len(data) - at
        boxes.append(kind.decode("latin-1"))
        if size < header:
            break
        at += size
    return boxes
