"""The demo shops' product pictures, drawn with Pillow: bicycles, lights, a teapot and spoons.

Each picture is a small illustration (flat shapes with gradients, highlights and a soft
shadow) drawn at twice its size and scaled down for smooth edges, then saved as JPEG so
it fits one upload chunk. `picture` draws one by name; `PICTURES` lists the names.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

from PIL import Image, ImageChops, ImageDraw, ImageFilter

__all__ = ["PICTURES", "SIZE", "DemoImageError", "picture"]

SIZE = 480  # pixels of a side of the saved picture
_SCALE = 2
_W = SIZE * _SCALE

Color = tuple[int, int, int]
Point = tuple[float, float]


class DemoImageError(ValueError):
    """A picture was asked for by a name this module does not draw."""


def _gradient(top: Color, bottom: Color) -> Image.Image:
    """A square canvas shading from ``top`` to ``bottom``."""
    ramp = Image.linear_gradient("L").resize((_W, _W))
    return Image.composite(Image.new("RGB", (_W, _W), bottom), Image.new("RGB", (_W, _W), top),
                           ramp)


def _shadow(canvas: Image.Image, box: tuple[float, float, float, float],
            opacity: int = 110, blur: int = 28) -> None:
    """A soft elliptical shadow on the ground under an object."""
    mask = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(mask).ellipse(box, fill=opacity)
    canvas.paste((20, 22, 30), mask=mask.filter(ImageFilter.GaussianBlur(blur)))


def _glow(size: tuple[int, int], center: Point, radius: float, strength: float) -> Image.Image:
    """An L mask that is ``strength`` (0..1) at ``center`` and fades out at ``radius``."""
    spot = Image.radial_gradient("L").point(lambda v: int(max(0, 255 - v * 2) * strength))
    spot = spot.resize((int(radius * 2), int(radius * 2)))
    mask = Image.new("L", size, 0)
    mask.paste(spot, (int(center[0] - radius), int(center[1] - radius)))
    return mask


def _light(canvas: Image.Image, shape: Image.Image, center: Point, radius: float,
           color: Color = (255, 255, 255), strength: float = .45) -> None:
    """A highlight of ``color`` around ``center``, only where ``shape`` (an L mask) is."""
    canvas.paste(color, mask=ImageChops.multiply(_glow(canvas.size, center, radius, strength),
                                                 shape))


def _finish(canvas: Image.Image) -> bytes:
    out = io.BytesIO()
    canvas.resize((SIZE, SIZE), Image.Resampling.LANCZOS).save(out, "JPEG", quality=88,
                                                                optimize=True)
    return out.getvalue()


def _mix(a: Color, b: Color, t: float) -> Color:
    return (int(a[0] + (b[0] - a[0]) * t), int(a[1] + (b[1] - a[1]) * t),
            int(a[2] + (b[2] - a[2]) * t))


# -- bicycles ------------------------------------------------------------------------------

def _wheel(draw: ImageDraw.ImageDraw, cx: float, cy: float) -> None:
    tyre, rim = 165, 138
    draw.ellipse((cx - tyre, cy - tyre, cx + tyre, cy + tyre), outline=(38, 38, 44), width=28)
    draw.ellipse((cx - rim, cy - rim, cx + rim, cy + rim), outline=(196, 201, 210), width=9)
    for n in range(18):
        angle = n * math.pi / 9
        draw.line((cx + 16 * math.cos(angle), cy + 16 * math.sin(angle),
                   cx + rim * math.cos(angle + .25), cy + rim * math.sin(angle + .25)),
                  fill=(170, 175, 186), width=3)
    draw.ellipse((cx - 22, cy - 22, cx + 22, cy + 22), fill=(120, 125, 135))
    draw.ellipse((cx - 9, cy - 9, cx + 9, cy + 9), fill=(210, 214, 222))


def _bicycle(frame: Color, *, city: bool) -> bytes:
    light = _mix(frame, (255, 255, 255), .45)
    canvas = _gradient(_mix(frame, (255, 255, 255), .88), _mix(frame, (255, 255, 255), .7))
    _shadow(canvas, (90, 740, 870, 820))
    draw = ImageDraw.Draw(canvas)
    rear, front = (265.0, 600.0), (695.0, 600.0)
    bracket, seat, head, head_low = (455.0, 612.0), (395.0, 372.0), (640.0, 378.0), (655.0, 446.0)
    if city:  # mudguards
        for cx, cy in (rear, front):
            draw.arc((cx - 185, cy - 185, cx + 185, cy + 185), 195, 345, fill=frame, width=12)
    _wheel(draw, *rear)
    _wheel(draw, *front)
    tubes = [(seat, rear), (bracket, rear), (bracket, seat), (bracket, head_low), (seat, head)]
    if city:  # a step-through frame: the top tube dips low
        tubes[-1] = ((420.0, 470.0), head_low)
    for a, b in tubes:
        draw.line((a, b), fill=frame, width=24, joint="curve")
    for a, b in tubes[2:]:
        draw.line(((a[0] - 4, a[1] - 6), (b[0] - 4, b[1] - 6)), fill=light, width=5)
    draw.line((head, head_low), fill=frame, width=32)
    draw.line((head_low, front), fill=_mix(frame, (0, 0, 0), .25), width=16)
    for a in (rear, front, bracket, seat, head):
        draw.ellipse((a[0] - 13, a[1] - 13, a[0] + 13, a[1] + 13), fill=frame)
    # chainring, chain and crank
    draw.ellipse((bracket[0] - 48, bracket[1] - 48, bracket[0] + 48, bracket[1] + 48),
                 outline=(150, 155, 165), width=10)
    draw.line(((bracket[0], bracket[1] - 46), (rear[0], rear[1] - 20)), fill=(90, 92, 100), width=5)
    draw.line(((bracket[0], bracket[1] + 46), (rear[0], rear[1] + 20)), fill=(90, 92, 100), width=5)
    draw.line((bracket, (bracket[0] + 40, bracket[1] + 72)), fill=(60, 62, 70), width=14)
    draw.rounded_rectangle((bracket[0] + 15, bracket[1] + 68, bracket[0] + 75, bracket[1] + 84),
                           radius=6, fill=(40, 40, 46))
    # seat post and saddle
    draw.line((seat, (383, 320)), fill=(170, 175, 186), width=12)
    draw.polygon([(325, 300), (440, 308), (452, 322), (400, 338), (332, 326)], fill=(44, 36, 32))
    draw.line(((338, 306), (430, 312)), fill=(98, 84, 74), width=4)
    # stem and handlebar
    draw.line((head, (628, 318)), fill=(170, 175, 186), width=12)
    if city:
        draw.line(((628, 318), (570, 296)), fill=(170, 175, 186), width=12, joint="curve")
        draw.line(((570, 296), (540, 300)), fill=(60, 46, 38), width=20)
        basket = [(662, 318), (812, 318), (792, 446), (684, 446)]
        draw.polygon(basket, fill=(200, 150, 88))
        for n in range(1, 5):
            y = 318 + n * 25.6
            draw.line(((662 + n * 4.4, y), (812 - n * 4, y)), fill=(160, 112, 60), width=4)
        for n in range(1, 7):
            x = 662 + n * 21.4
            draw.line(((x, 318), (684 + n * 15.4, 446)), fill=(170, 122, 68), width=3)
        draw.line(((656, 318), (818, 318)), fill=(150, 104, 56), width=10)
        for (x, y, color) in ((700, 290, (240, 98, 146)), (742, 276, (255, 196, 61)),
                              (782, 294, (240, 98, 146))):
            draw.line(((x, y + 10), (x + 6, 322)), fill=(64, 140, 70), width=6)
            draw.ellipse((x - 22, y - 22, x + 22, y + 22), fill=color)
            draw.ellipse((x - 8, y - 8, x + 8, y + 8), fill=(255, 236, 160))
    else:
        draw.line(((628, 318), (686, 314)), fill=(170, 175, 186), width=12)
        draw.arc((650, 314, 730, 410), 270, 110, fill=(40, 40, 46), width=16)
        draw.line(((700, 404), (676, 408)), fill=(40, 40, 46), width=16)
    return _finish(canvas)


# -- lights --------------------------------------------------------------------------------

def _bicycle_lights() -> bytes:
    canvas = _gradient((24, 30, 58), (58, 70, 112))
    for center, color, radius in (((505, 470), (255, 238, 170), 330),
                                  ((700, 470), (255, 70, 80), 250)):
        canvas.paste(color, mask=_glow(canvas.size, center, radius, .55))
    _shadow(canvas, (170, 650, 820, 720), opacity=140)
    draw = ImageDraw.Draw(canvas)
    # the front light: a grey body with a round white lens
    body = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(body).rounded_rectangle((200, 380, 520, 560), radius=70, fill=255)
    canvas.paste((48, 52, 60), mask=body)
    _light(canvas, body, (300, 400), 220, strength=.35)
    draw.rounded_rectangle((250, 548, 330, 600), radius=10, fill=(30, 32, 38))
    draw.ellipse((400, 350, 620, 570), fill=(70, 74, 84))
    draw.ellipse((420, 370, 600, 550), fill=(255, 252, 235))
    lens = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(lens).ellipse((420, 370, 600, 550), fill=255)
    _light(canvas, lens, (510, 460), 90, (255, 220, 120), .55)
    draw.ellipse((452, 396, 500, 430), fill=(255, 255, 255))
    draw.rounded_rectangle((235, 455, 290, 485), radius=12, fill=(90, 200, 120))
    # the rear light: a red body with ribbed lens
    rear = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(rear).rounded_rectangle((645, 320, 765, 620), radius=50, fill=255)
    canvas.paste((40, 40, 46), mask=rear)
    draw.rounded_rectangle((660, 338, 750, 602), radius=40, fill=(214, 36, 52))
    for y in range(368, 590, 26):
        draw.line(((672, y), (738, y)), fill=(160, 20, 34), width=6)
    _light(canvas, rear, (690, 390), 130, (255, 190, 190), .6)
    draw.rounded_rectangle((680, 290, 730, 330), radius=10, fill=(30, 32, 38))
    return _finish(canvas)


# -- teapot --------------------------------------------------------------------------------

def _teapot() -> bytes:
    canvas = _gradient((246, 238, 226), (226, 210, 188))
    _shadow(canvas, (210, 720, 790, 800), opacity=130)
    draw = ImageDraw.Draw(canvas)
    iron, dark = (58, 61, 68), (34, 36, 41)
    # handle arching over the lid
    draw.arc((340, 230, 620, 630), 180, 360, fill=dark, width=28)
    for x in (354, 606):
        draw.ellipse((x - 22, 430 - 22, x + 22, 430 + 22), fill=dark)
    # spout
    draw.polygon([(640, 600), (690, 520), (800, 430), (848, 420), (842, 446), (760, 520),
                  (722, 640)], fill=iron)
    draw.line(((800, 430), (846, 424)), fill=(100, 104, 112), width=6)
    # body, with a highlight and hobnails
    body = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(body).ellipse((230, 390, 730, 770), fill=255)
    canvas.paste(iron, mask=body)
    _light(canvas, body, (380, 480), 300, strength=.32)
    shade = ImageChops.multiply(_glow(canvas.size, (560, 760), 280, .5), body)
    canvas.paste((12, 12, 16), mask=shade)
    for row in range(5):
        y = 440 + row * 44
        half = math.sqrt(max(0.0, 1 - ((y - 580) / 190) ** 2)) * 230
        for n in range(-8, 9):
            x = 480 + n * 40 + (20 if row % 2 else 0)
            if abs(x - 480) < half - 20:
                draw.ellipse((x - 11, y - 11, x + 11, y + 11), fill=(76, 80, 89))
                draw.ellipse((x - 7, y - 8, x + 1, y - 1), fill=(120, 124, 133))
    # lid and knob
    draw.ellipse((360, 360, 600, 430), fill=dark)
    draw.ellipse((372, 364, 588, 414), fill=(66, 70, 78))
    draw.ellipse((448, 318, 512, 378), fill=dark)
    draw.ellipse((460, 326, 486, 346), fill=(110, 114, 122))
    # steam from the spout
    steam = Image.new("L", canvas.size, 0)
    puff = ImageDraw.Draw(steam)
    for k, x0 in enumerate((830, 860, 890)):
        points = [(x0 + 18 * math.sin(t / 9 + k), 400 - t * 2.4) for t in range(0, 70)]
        puff.line(points, fill=150, width=10, joint="curve")
    canvas.paste((255, 255, 255), mask=steam.filter(ImageFilter.GaussianBlur(3)))
    return _finish(canvas)


# -- spoons --------------------------------------------------------------------------------

def _spoon(wood: Color) -> Image.Image:
    """One wooden spoon lying along the x axis, on a transparent layer."""
    shape = Image.new("L", (_W, _W), 0)
    outline = ImageDraw.Draw(shape)
    outline.ellipse((170, 400, 420, 560), fill=255)
    outline.polygon([(400, 458), (860, 466), (860, 494), (400, 502)], fill=255)
    outline.ellipse((836, 460, 880, 500), fill=255)
    layer = Image.new("RGBA", (_W, _W), (*wood, 0))
    grain = Image.new("RGB", (_W, _W), wood)
    lines = ImageDraw.Draw(grain)
    darker = _mix(wood, (0, 0, 0), .22)
    for n in range(-6, 7):
        points = [(x, 480 + n * 13 + 6 * math.sin(x / 60 + n)) for x in range(160, 890, 10)]
        lines.line(points, fill=darker, width=3)
    layer.paste(grain, mask=shape)
    layer.putalpha(shape)
    bowl = Image.new("L", (_W, _W), 0)
    ImageDraw.Draw(bowl).ellipse((195, 420, 395, 540), fill=255)
    layer.paste(_mix(wood, (0, 0, 0), .3), mask=ImageChops.multiply(
        _glow((_W, _W), (320, 500), 150, .7), bowl))
    layer.paste((255, 240, 220), mask=ImageChops.multiply(_glow((_W, _W), (260, 450), 90, .45),
                                                          bowl))
    return layer


def _olive_wood_spoons() -> bytes:
    canvas = _gradient((232, 238, 222), (188, 204, 176))
    for angle, wood in ((-20, (176, 124, 74)), (0, (196, 146, 92)), (20, (160, 108, 62))):
        spoon = _spoon(wood).rotate(angle, resample=Image.Resampling.BICUBIC,
                                    center=(840, 480), translate=(-120, 0))
        shadow = spoon.getchannel("A").point(lambda v: v * .45).filter(
            ImageFilter.GaussianBlur(18))
        canvas.paste((40, 50, 36), (14, 22), mask=shadow)
        canvas.paste(spoon, (0, 0), mask=spoon)
    return _finish(canvas)


PICTURES: dict[str, Callable[[], bytes]] = {
    "blue city bicycle": lambda: _bicycle((38, 104, 214), city=True),
    "red road bicycle": lambda: _bicycle((206, 38, 48), city=False),
    "bicycle lights": _bicycle_lights,
    "cast iron teapot": _teapot,
    "olive wood spoons": _olive_wood_spoons,
}


def picture(name: str) -> bytes:
    """The JPEG of the demo picture ``name`` (one of `PICTURES`)."""
    try:
        draw = PICTURES[name]
    except KeyError:
        raise DemoImageError(
            f"no demo picture named {name!r}; pick one of {', '.join(sorted(PICTURES))}"
        ) from None
    return draw()
