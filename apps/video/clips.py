"""Short real video clips made with PyAV, for tests, the demo seeder and the benchmark.

`make_clip` encodes an MP4 (H.264 video, AAC audio) of a test pattern that moves: a
diagonal colour ramp scrolling sideways, a bright square bouncing across it and, when
``label`` is given, the label drawn in a band at the bottom (Pillow's default font). The
audio track is a sine tone. Everything the picture and the tone depend on comes from
``seed`` and ``label``, and the encoder runs with fixed settings, so the same arguments
give the same bytes (a clip's SHA-256 is a stable dedup key in tests); different seeds
or labels give different media.

Frames are built from plain bytes (no numpy): each row of the luma plane is a slice of
one precomputed ramp, so a frame costs a few slice copies, and libx264's ``superfast``
preset does the rest on one thread: about 0.25 s for three seconds of 640x360 (240 KB).
"""

from __future__ import annotations

import array
import hashlib
import io
import math
import tempfile
from fractions import Fraction
from pathlib import Path

import av

__all__ = ["AUDIO_RATE", "ClipError", "make_clip"]

AUDIO_RATE = 48_000
"""Sample rate of the sine track (Hz)."""
_AUDIO_FRAME = 1024  # AAC's frame size in samples
_MAX_SIDE = 4096
_MAX_SECONDS = 600.0


class ClipError(ValueError):
    """Arguments `make_clip` cannot make a clip of; the message names the value."""


def make_clip(seconds: float, width: int, height: int, fps: int = 30, audio: bool = True,
              seed: int = 0, label: str = "", *, faststart: bool = False,
              rotation: int = 0) -> bytes:
    """An MP4 of ``seconds`` of ``width`` x ``height`` moving test pattern at ``fps``,
    with a sine AAC track unless ``audio`` is false (see the module docstring).

    ``faststart`` moves the index (``moov``) before the media (``mdat``), as a
    transcoded rendition has it; by default it comes last, as cameras write it.
    ``rotation`` (degrees counterclockwise: 90, 180, 270) is stored as a display matrix,
    as a phone stores a video it filmed held upright: a player shows it turned.
    Raises `ClipError` for sizes that are not even numbers of pixels in 16..4096, a
    non-positive length or frame rate, or more than 10 minutes.
    """
    for name, side in (("width", width), ("height", height)):
        if not 16 <= side <= _MAX_SIDE or side % 2:
            raise ClipError(f"{name} {side} must be an even number of pixels from 16 to "
                            f"{_MAX_SIDE} (H.264 with 4:2:0 chroma needs even sizes)")
    if not 0 < seconds <= _MAX_SECONDS:
        raise ClipError(f"seconds {seconds} must be more than 0 and at most {_MAX_SECONDS:.0f}")
    if not 1 <= fps <= 120:
        raise ClipError(f"fps {fps} must be from 1 to 120")
    if rotation % 90:
        raise ClipError(f"rotation {rotation} must be a multiple of 90 degrees")
    digest = hashlib.sha256(f"{seed}\x00{label}".encode()).digest()
    if faststart:  # the muxer reads the file back to move the index: a real file
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "clip.mp4"
            _encode(str(path), seconds, width, height, fps, audio, label, digest,
                    rotation, {"movflags": "+faststart"})
            return path.read_bytes()
    out = io.BytesIO()
    _encode(out, seconds, width, height, fps, audio, label, digest, rotation, {})
    return out.getvalue()


def _encode(out: str | io.BytesIO, seconds: float, width: int, height: int, fps: int,
            audio: bool, label: str, digest: bytes, rotation: int,
            options: dict[str, str]) -> None:
    with av.open(out, "w", format="mp4", options=options) as container:
        if label:
            container.metadata["title"] = label
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotation % 360:
            video.set_display_rotation(rotation % 360)
        # One thread and fixed options: the same bytes on every run (x264's threads
        # make its output depend on timing).
        video.options = {"preset": "superfast", "crf": "26", "g": str(2 * fps),
                         "threads": "1"}
        sound = None
        if audio:
            sound = container.add_stream("aac", rate=AUDIO_RATE)
            sound.layout = "mono"
        frames = max(1, round(seconds * fps))
        samples = round(seconds * AUDIO_RATE)
        painter = _Painter(width, height, digest, label)
        tone = 220.0 + digest[7] * 2.0  # 220..730 Hz
        sent_samples = 0
        for index in range(frames):
            for packet in video.encode(painter.frame(index, fps)):
                container.mux(packet)
            if sound is None:
                continue
            # Keep the audio level with the video so the file interleaves the two.
            due = min(samples, round((index + 1) * AUDIO_RATE / fps))
            while sent_samples + _AUDIO_FRAME <= due or (
                    index == frames - 1 and sent_samples < samples):
                count = min(_AUDIO_FRAME, samples - sent_samples)
                for packet in sound.encode(_sine(sent_samples, count, tone)):
                    container.mux(packet)
                sent_samples += count
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            for packet in sound.encode():
                container.mux(packet)


def _sine(start: int, count: int, frequency: float) -> av.AudioFrame:
    step = 2 * math.pi * frequency / AUDIO_RATE
    values = array.array("f", (0.25 * math.sin(step * (start + k)) for k in range(count)))
    frame = av.AudioFrame(format="flt", layout="mono", samples=count)
    frame.sample_rate = AUDIO_RATE
    frame.time_base = Fraction(1, AUDIO_RATE)
    frame.pts = start
    frame.planes[0].update(values.tobytes())
    return frame


class _Painter:
    """Draws frame ``index`` of the pattern into a yuv420p `av.VideoFrame`."""

    def __init__(self, width: int, height: int, digest: bytes, label: str) -> None:
        self.width, self.height = width, height
        probe = av.VideoFrame(width, height, "yuv420p")
        self.strides = [plane.line_size for plane in probe.planes]
        # A luma ramp twice the width, so any window of `width` is a shifted ramp.
        phase = digest[0]
        self.ramp = bytes(16 + _triangle(phase + x * 2, 220) for x in range(2 * width))
        self.speed = 2 + digest[1] % 7  # pixels per frame
        self.box = max(8, min(width, height) // 6)
        self.box_step = (3 + digest[2] % 5, 2 + digest[3] % 5)
        chroma_w, chroma_h = width // 2, height // 2
        u_row = bytes(64 + (digest[4] + x) % 128 for x in range(chroma_w))
        v_row = bytes(64 + (digest[5] + 2 * x) % 128 for x in range(chroma_w))
        self.u = _planar(u_row, chroma_h, self.strides[1])
        self.v = _planar(v_row, chroma_h, self.strides[2])
        self.label_rows = _label_rows(label, width, height) if label else []

    def frame(self, index: int, fps: int) -> av.VideoFrame:
        width, height, stride = self.width, self.height, self.strides[0]
        pad = bytes(stride - width)
        # Rows scroll sideways; every other band of rows the other way, so motion
        # estimation has real work in both directions.
        offset = (index * self.speed) % width
        row_a = self.ramp[offset:offset + width] + pad
        back = (width - offset) % width
        row_b = self.ramp[back:back + width] + pad
        rows = max(1, height // 8)
        band = row_a * rows + row_b * rows
        luma = bytearray(band * (height // (2 * rows)) + row_a * (height % (2 * rows)))
        # The bouncing square.
        size = self.box
        x = _bounce(index * self.box_step[0], width - size)
        y = _bounce(index * self.box_step[1], height - size)
        white = b"\xeb" * size
        for row in range(y, y + size):
            start = row * stride + x
            luma[start:start + size] = white
        for row, pixels in self.label_rows:
            start = row * stride
            luma[start:start + width] = pixels
        frame = av.VideoFrame(width, height, "yuv420p")
        frame.planes[0].update(bytes(luma))
        frame.planes[1].update(self.u)
        frame.planes[2].update(self.v)
        frame.pts = index
        frame.time_base = Fraction(1, fps)
        return frame


def _planar(row: bytes, rows: int, stride: int) -> bytes:
    return (row + bytes(stride - len(row))) * rows


def _triangle(position: int, span: int) -> int:
    return _bounce(position, span)


def _bounce(position: int, span: int) -> int:
    if span <= 0:
        return 0
    position %= 2 * span
    return position if position <= span else 2 * span - position


def _label_rows(label: str, width: int, height: int) -> list[tuple[int, bytes]]:
    """The luma rows of a dark band at the bottom with ``label`` written in it."""
    from PIL import Image, ImageDraw, ImageFont

    band = max(12, height // 8)
    image = Image.new("L", (width, band), 24)
    size = max(8, band * 2 // 3)
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size)
    except TypeError:  # a Pillow without FreeType: the fixed bitmap font
        font = ImageFont.load_default()
    ImageDraw.Draw(image).text((band // 4, (band - size) // 2), label, fill=235, font=font)
    pixels = image.tobytes()
    top = height - band
    return [(top + r, pixels[r * width:(r + 1) * width]) for r in range(band)]
