"""The demo people's drawn portraits and banners: real JPEGs, illustrated faces on a backdrop
(not test patterns), the same for a name every time and different between people."""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image, ImageStat

from apps.social.portraits import (
    BANNER_SIZE,
    HAIR_STYLES,
    SIZE,
    PortraitError,
    banner,
    look_of,
    portrait,
)

NAMES = ("alice", "bob", "carol", "dan", "erin", "farid", "grace")


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image.convert("RGB")


@pytest.mark.parametrize("style", HAIR_STYLES)
def test_each_hair_style_is_a_square_jpeg_small_enough_for_one_upload(style: str) -> None:
    data = portrait("alice", look_of("alice", hair_style=style))
    assert data.startswith(b"\xff\xd8\xff") and len(data) < 64 * 1024
    assert _image(data).size == (SIZE, SIZE)


@pytest.mark.parametrize("style", HAIR_STYLES)
def test_a_portrait_is_an_illustrated_face_not_a_test_pattern(style: str) -> None:
    """Many colours (shading, not flat fills); a busy middle (eyes, mouth, hair) against a
    calm backdrop at the corners; the face's colour is the look's skin tone; the shoulders
    at the bottom are the clothes' colour."""
    look = look_of("carol", hair_style=style, beard=False, glasses=False)
    image = _image(portrait("carol", look))
    assert len(image.getcolors(SIZE * SIZE) or []) > 2_000
    corner = ImageStat.Stat(image.crop((0, 0, 40, 40)))
    middle = ImageStat.Stat(image.crop((SIZE // 4, SIZE // 4, 3 * SIZE // 4, 3 * SIZE // 4)))
    assert sum(middle.stddev) > 3 * sum(corner.stddev)
    assert max(abs(a - b) for a, b in zip(middle.mean, corner.mean, strict=True)) > 8

    def near(box: tuple[int, int, int, int], colour: tuple[int, int, int], within: int) -> None:
        mean = ImageStat.Stat(image.crop(box)).mean
        assert max(abs(a - b) for a, b in zip(mean, colour, strict=True)) < within, (box, mean)

    near((236, 222, 244, 230), look.skin, 40)  # between the eyes, above the nose
    near((120, 440, 160, 470), look.clothes, 60)  # the left shoulder


def test_a_name_is_drawn_the_same_every_time_and_people_differ() -> None:
    assert portrait("alice") == portrait("alice")
    assert banner("alice") == banner("alice")
    drawn = {portrait(name) for name in NAMES}
    assert len(drawn) == len(NAMES)
    looks = {dataclasses.astuple(look_of(name)) for name in NAMES}
    assert len(looks) == len(NAMES)


def test_choices_override_what_the_name_picked() -> None:
    look = look_of("bob", hair_style="bun", glasses=True, beard=False)
    assert (look.hair_style, look.glasses, look.beard) == ("bun", True, False)
    assert look.skin == look_of("bob").skin


def test_a_banner_is_a_wide_landscape_jpeg() -> None:
    image = _image(banner("dan"))
    assert image.size == BANNER_SIZE
    assert len(image.getcolors(BANNER_SIZE[0] * BANNER_SIZE[1]) or []) > 1_000
    sky = ImageStat.Stat(image.crop((0, 0, BANNER_SIZE[0], 40))).mean
    ground = ImageStat.Stat(image.crop((0, BANNER_SIZE[1] - 40, *BANNER_SIZE))).mean
    assert sum(sky) > sum(ground) + 60  # a light sky over darker hills


def test_an_unknown_hair_style_names_the_ones_there_are() -> None:
    with pytest.raises(PortraitError) as error:
        portrait("erin", look_of("erin", hair_style="mohawk"))
    assert str(error.value) == ("no hair style 'mohawk'; pick one of short, side, long, bob, "
                                "bun, curly, buzz")
