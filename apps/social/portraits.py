"""The demo people's portraits and profile banners, drawn with Pillow: illustrated faces.

A portrait is a flat illustration in the style of `apps.marketplace.images`: a pastel
backdrop with a soft halo, shoulders in a shirt or jumper, a neck, ears and a shaded face
with eyes, brows, nose, a smile and cheeks, and one of several hair styles (some with
glasses, a beard or earrings). Everything about it follows from a `Look`, and `look_of`
derives one from a name by hashing it, so each person is drawn the same every time.
It is drawn at twice its size and scaled down for smooth edges, then saved as JPEG.
A banner (`banner`) is a wide landscape of layered hills in the person's colours.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFilter

__all__ = ["BACKDROPS", "BANNER_SIZE", "CLOTHES", "HAIR_COLOURS", "HAIR_STYLES", "SIZE",
           "SKIN_TONES", "Look", "PortraitError", "banner", "look_of", "portrait"]

SIZE = 480  # pixels of a side of a saved portrait
BANNER_SIZE = (1200, 300)  # width and height of a saved banner
_SCALE = 2
_W = SIZE * _SCALE

Color = tuple[int, int, int]
Point = tuple[float, float]

SKIN_TONES: tuple[Color, ...] = (
    (255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 140, 96),
    (168, 112, 74), (141, 90, 58), (112, 70, 44), (246, 206, 176),
)
HAIR_COLOURS: tuple[Color, ...] = (
    (28, 24, 22), (58, 40, 30), (96, 62, 38), (150, 84, 42),
    (214, 172, 96), (176, 176, 180), (120, 44, 34),
)
HAIR_STYLES: tuple[str, ...] = ("short", "side", "long", "bob", "bun", "curly", "buzz")
CLOTHES: tuple[Color, ...] = (
    (36, 62, 120), (22, 120, 118), (128, 34, 58), (206, 152, 40), (46, 104, 64),
    (62, 66, 78), (222, 102, 82), (126, 104, 178), (40, 132, 196),
)
BACKDROPS: tuple[tuple[Color, Color], ...] = (
    ((214, 232, 250), (170, 200, 236)), ((250, 228, 214), (238, 190, 168)),
    ((224, 244, 226), (176, 218, 186)), ((244, 232, 250), (210, 190, 232)),
    ((252, 242, 204), (240, 214, 150)), ((222, 240, 244), (168, 212, 220)),
)


class PortraitError(ValueError):
    """A `Look` names a hair style this module does not draw."""


@dataclass(frozen=True)
class Look:
    """How one person is drawn: colours, hair style and the optional extras."""

    skin: Color
    hair: Color
    hair_style: str
    clothes: Color
    backdrop: tuple[Color, Color]
    glasses: bool = False
    beard: bool = False
    earrings: bool = False
    collar: bool = True  # a shirt collar; otherwise a round-necked jumper


def look_of(name: str, **choices: object) -> Look:
    """The look of ``name``, derived from a hash of it; keyword ``choices`` (any `Look`
    field, e.g. ``hair_style="bun"``) override what the hash picked."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    look = Look(
        skin=SKIN_TONES[digest[0] % len(SKIN_TONES)],
        hair=HAIR_COLOURS[digest[1] % len(HAIR_COLOURS)],
        hair_style=HAIR_STYLES[digest[2] % len(HAIR_STYLES)],
        clothes=CLOTHES[digest[3] % len(CLOTHES)],
        backdrop=BACKDROPS[digest[4] % len(BACKDROPS)],
        glasses=digest[5] % 4 == 0,
        beard=digest[6] % 5 == 0,
        earrings=digest[7] % 4 == 0,
        collar=digest[8] % 2 == 0,
    )
    return dataclasses.replace(look, **choices)  # type: ignore[arg-type]


def _mix(a: Color, b: Color, t: float) -> Color:
    return (int(a[0] + (b[0] - a[0]) * t), int(a[1] + (b[1] - a[1]) * t),
            int(a[2] + (b[2] - a[2]) * t))


def _gradient(size: tuple[int, int], top: Color, bottom: Color) -> Image.Image:
    ramp = Image.linear_gradient("L").resize(size)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), ramp)


def _glow(size: tuple[int, int], center: Point, radius: float, strength: float) -> Image.Image:
    """An L mask that is ``strength`` (0..1) at ``center`` and fades out at ``radius``."""
    spot = Image.radial_gradient("L").point(lambda v: int(max(0, 255 - v * 2) * strength))
    spot = spot.resize((int(radius * 2), int(radius * 2)))
    mask = Image.new("L", size, 0)
    mask.paste(spot, (int(center[0] - radius), int(center[1] - radius)))
    return mask


def _shade(canvas: Image.Image, shape: Image.Image, center: Point, radius: float,
           color: Color, strength: float) -> None:
    """Paint ``color`` around ``center``, fading out, only where ``shape`` (an L mask) is."""
    canvas.paste(color, mask=ImageChops.multiply(_glow(canvas.size, center, radius, strength),
                                                 shape))


def _mask(draw: str, *args: object, **kwargs: object) -> Image.Image:
    """A full-size L mask with one shape drawn by ``ImageDraw.<draw>(*args, **kwargs)``."""
    mask = Image.new("L", (_W, _W), 0)
    getattr(ImageDraw.Draw(mask), draw)(*args, fill=255, **kwargs)
    return mask


# -- the portrait, back to front ------------------------------------------------------------

_HEAD = (322.0, 236.0, 638.0, 612.0)  # the face's ellipse
_CX = 480.0


def _hair_back(canvas: Image.Image, look: Look) -> None:
    """Hair that falls behind the head and shoulders (long hair and bobs)."""
    if look.hair_style == "long":
        shape = _mask("rounded_rectangle", (262, 200, 698, 800), radius=190)
    elif look.hair_style == "bob":
        shape = _mask("rounded_rectangle", (282, 196, 678, 650), radius=170)
    elif look.hair_style == "curly":
        shape = Image.new("L", (_W, _W), 0)
        draw = ImageDraw.Draw(shape)
        for n in range(22):
            angle = math.pi * (0.95 + 1.1 * n / 21)
            x, y = _CX + 210 * math.cos(angle), 420 + 230 * math.sin(angle)
            draw.ellipse((x - 78, y - 78, x + 78, y + 78), fill=255)
    else:
        return
    canvas.paste(_mix(look.hair, (0, 0, 0), .18), mask=shape)
    _shade(canvas, shape, (400, 260), 260, _mix(look.hair, (255, 255, 255), .35), .35)


def _body(canvas: Image.Image, look: Look) -> None:
    draw = ImageDraw.Draw(canvas)
    skin_dark = _mix(look.skin, (60, 30, 20), .22)
    # neck, with the chin's shadow at its top
    draw.rounded_rectangle((414, 520, 546, 760), radius=40, fill=skin_dark)
    # shoulders and torso
    torso = _mask("rounded_rectangle", (120, 700, 840, 1200), radius=230)
    canvas.paste(look.clothes, mask=torso)
    _shade(canvas, torso, (330, 760), 320, _mix(look.clothes, (255, 255, 255), .5), .35)
    _shade(canvas, torso, (800, 1000), 360, _mix(look.clothes, (0, 0, 0), .6), .45)
    if look.collar:
        # an open shirt collar: a triangle of skin and two white collar flaps
        draw.polygon([(420, 700), (540, 700), (480, 800)], fill=skin_dark)
        draw.polygon([(400, 690), (480, 800), (430, 840), (372, 730)], fill=(246, 246, 250))
        draw.polygon([(560, 690), (480, 800), (530, 840), (588, 730)], fill=(236, 236, 242))
        draw.line(((480, 800), (480, 960)), fill=_mix(look.clothes, (0, 0, 0), .35), width=6)
    else:
        # a round-necked jumper with a ribbed neckline
        rib = _mix(look.clothes, (0, 0, 0), .25)
        draw.chord((396, 650, 564, 790), 0, 180, fill=skin_dark)
        draw.arc((386, 640, 574, 800), 0, 180, fill=rib, width=18)


def _ears(canvas: Image.Image, look: Look) -> None:
    draw = ImageDraw.Draw(canvas)
    inner = _mix(look.skin, (150, 70, 60), .25)
    for x in (_HEAD[0] + 8, _HEAD[2] - 8):
        draw.ellipse((x - 36, 396, x + 36, 486), fill=look.skin)
        draw.ellipse((x - 18, 414, x + 18, 468), fill=inner)
        if look.earrings:
            draw.ellipse((x - 12, 484, x + 12, 508), fill=(236, 196, 72))
            draw.ellipse((x - 5, 488, x + 3, 496), fill=(255, 240, 180))


def _face(canvas: Image.Image, look: Look) -> None:
    head = _mask("ellipse", _HEAD)
    canvas.paste(look.skin, mask=head)
    _shade(canvas, head, (420, 360), 260, _mix(look.skin, (255, 255, 255), .6), .35)
    _shade(canvas, head, (600, 560), 260, _mix(look.skin, (60, 30, 20), .5), .35)
    for cheek in (392.0, 568.0):  # cheeks
        _shade(canvas, head, (cheek, 486), 58, (236, 120, 110), .55)
    draw = ImageDraw.Draw(canvas)
    brow = _mix(look.hair, (0, 0, 0), .2) if look.hair != HAIR_COLOURS[5] else (120, 120, 124)
    for side in (-1, 1):
        x = _CX + side * 74
        draw.ellipse((x - 26, 398, x + 26, 440), fill=(252, 252, 252))
        draw.ellipse((x - 16, 402, x + 16, 436), fill=(70, 52, 40))
        draw.ellipse((x - 8, 410, x + 8, 428), fill=(18, 16, 18))
        draw.ellipse((x - 10 + side * 2, 406, x - 2 + side * 2, 414), fill=(255, 255, 255))
        draw.arc((x - 34, 364, x + 34, 412), 200 if side < 0 else 230,
                 310 if side < 0 else 340, fill=brow, width=12)
    nose = _mix(look.skin, (80, 40, 30), .35)
    draw.arc((454, 440, 506, 498), 20, 160, fill=nose, width=8)
    lips = _mix((196, 84, 84), look.skin, .25)
    draw.chord((420, 500, 540, 570), 10, 170, fill=(120, 40, 44))
    draw.chord((434, 520, 526, 568), 20, 160, fill=lips)
    draw.arc((420, 500, 540, 570), 10, 170, fill=_mix(lips, (60, 20, 20), .4), width=6)


def _beard(canvas: Image.Image, look: Look) -> None:
    if not look.beard:
        return
    head = _mask("ellipse", _HEAD)
    jaw = _mask("rectangle", (300, 470, 660, 640))
    shape = ImageChops.multiply(head, jaw)
    mouth = _mask("ellipse", (424, 498, 536, 572))
    shape = ImageChops.subtract(shape, mouth)
    beard = _mix(look.hair, look.skin, .15)
    canvas.paste(beard, mask=shape.filter(ImageFilter.GaussianBlur(3)))
    ImageDraw.Draw(canvas).arc((410, 486, 550, 540), 200, 340, fill=beard, width=18)


def _hair_front(canvas: Image.Image, look: Look) -> None:
    """The hair on top of the head, by style."""
    style = look.hair_style
    draw = ImageDraw.Draw(canvas)
    hair, light = look.hair, _mix(look.hair, (255, 255, 255), .3)
    if style == "buzz":
        cap = ImageChops.multiply(_mask("ellipse", (316, 222, 644, 560)),
                                  _mask("rectangle", (0, 0, _W, 330)))
        canvas.paste(_mix(hair, look.skin, .35), mask=cap)
        return
    if style == "curly":
        for n in range(15):
            angle = math.pi * (1.05 + .9 * n / 14)
            x, y = _CX + 150 * math.cos(angle), 330 + 120 * math.sin(angle)
            draw.ellipse((x - 64, y - 64, x + 64, y + 64), fill=hair)
            draw.ellipse((x - 34, y - 40, x - 6, y - 14), fill=light)
        return
    cap = _mask("chord", (306, 200, 654, 520), 180, 360)
    if style == "side":
        part = _mask("polygon", [(300, 330), (420, 230), (660, 250), (660, 380), (560, 320),
                                 (420, 330)])
        cap = ImageChops.lighter(ImageChops.multiply(cap, _mask("rectangle", (0, 0, _W, 300))),
                                 part)
    elif style in ("short", "bun"):
        swoop = _mask("polygon", [(312, 360), (360, 270), (470, 236), (600, 250), (648, 330),
                                  (600, 300), (500, 318), (400, 300)])
        cap = ImageChops.lighter(ImageChops.multiply(cap, _mask("rectangle", (0, 0, _W, 300))),
                                 swoop)
    else:  # long and bob: a centre parting with hair down the sides of the face
        sides = _mask("rounded_rectangle", (300, 290, 356, 600), radius=26)
        sides = ImageChops.lighter(sides, _mask("rounded_rectangle", (604, 290, 660, 600),
                                                radius=26))
        parting = ImageChops.subtract(cap, _mask("polygon", [(480, 236), (470, 330),
                                                              (490, 330)]))
        cap = ImageChops.lighter(parting, sides)
    if style == "bun":
        draw.ellipse((400, 120, 560, 260), fill=hair)
        draw.ellipse((436, 140, 486, 180), fill=light)
    canvas.paste(hair, mask=cap)
    _shade(canvas, cap, (420, 250), 180, light, .55)


def _glasses(canvas: Image.Image, look: Look) -> None:
    if not look.glasses:
        return
    draw = ImageDraw.Draw(canvas)
    frame = (44, 40, 48)
    for side in (-1, 1):
        x = _CX + side * 74
        draw.rounded_rectangle((x - 52, 382, x + 52, 458), radius=24, outline=frame, width=9)
    draw.arc((458, 398, 502, 430), 200, 340, fill=frame, width=8)
    draw.line(((_HEAD[0] + 4, 410), (_CX - 126, 414)), fill=frame, width=8)
    draw.line(((_HEAD[2] - 4, 410), (_CX + 126, 414)), fill=frame, width=8)


def portrait(name: str, look: Look | None = None) -> bytes:
    """The JPEG portrait (`SIZE` square) of ``name``, drawn as ``look`` (default:
    `look_of` ``name``). Raises `PortraitError` for a hair style not in `HAIR_STYLES`."""
    look = look or look_of(name)
    if look.hair_style not in HAIR_STYLES:
        raise PortraitError(f"no hair style {look.hair_style!r}; pick one of "
                            f"{', '.join(HAIR_STYLES)}")
    top, bottom = look.backdrop
    canvas = _gradient((_W, _W), top, bottom)
    canvas.paste(_mix(top, (255, 255, 255), .55), mask=_glow(canvas.size, (_CX, 420), 420, .7))
    _hair_back(canvas, look)
    _body(canvas, look)
    _ears(canvas, look)
    _face(canvas, look)
    _beard(canvas, look)
    _hair_front(canvas, look)
    _glasses(canvas, look)
    out = io.BytesIO()
    canvas.resize((SIZE, SIZE), Image.Resampling.LANCZOS).save(out, "JPEG", quality=86,
                                                                optimize=True)
    return out.getvalue()


def banner(name: str, look: Look | None = None) -> bytes:
    """The JPEG profile banner (`BANNER_SIZE`) of ``name``: layered hills under a sky in
    the colours of ``look`` (default: `look_of` ``name``), a sun placed by the name."""
    look = look or look_of(name)
    width, height = BANNER_SIZE[0] * _SCALE, BANNER_SIZE[1] * _SCALE
    top, bottom = look.backdrop
    canvas = _gradient((width, height), _mix(bottom, (40, 60, 120), .25),
                       _mix(top, (255, 255, 255), .4))
    digest = hashlib.sha256(b"banner " + name.encode("utf-8")).digest()
    sun = (width * (.15 + .7 * digest[0] / 255), height * .38)
    canvas.paste((255, 244, 214), mask=_glow(canvas.size, sun, 260, .8))
    ImageDraw.Draw(canvas).ellipse((sun[0] - 70, sun[1] - 70, sun[0] + 70, sun[1] + 70),
                                   fill=(255, 250, 232))
    for layer in range(4):
        base = height * (.55 + .13 * layer)
        amplitude = height * (.09 - .015 * layer)
        phase = digest[1 + layer] / 40
        points = [(x, base - amplitude * math.sin(x / (260 + 90 * layer) + phase))
                  for x in range(0, width + 40, 40)]
        colour = _mix(_mix(look.clothes, bottom, .55 - .12 * layer), (20, 30, 40), .12 * layer)
        ImageDraw.Draw(canvas).polygon([*points, (width, height), (0, height)], fill=colour)
    out = io.BytesIO()
    canvas.resize(BANNER_SIZE, Image.Resampling.LANCZOS).save(out, "JPEG", quality=86,
                                                              optimize=True)
    return out.getvalue()
