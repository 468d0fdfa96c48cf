"""The demo shops' drawn pictures: real JPEGs that fit an upload, with a subject on a backdrop."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from apps.marketplace.canister.limits import CHUNK_BYTES
from apps.marketplace.images import PICTURES, SIZE, DemoImageError, picture
from apps.marketplace.seed import DEMO_ITEMS


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_each_picture_is_a_square_jpeg_in_one_upload_chunk(name: str) -> None:
    data = picture(name)
    assert data.startswith(b"\xff\xd8\xff") and len(data) <= CHUNK_BYTES
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (SIZE, SIZE)


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_each_picture_is_an_illustration_not_a_test_pattern(name: str) -> None:
    """Many colours (shading, not flat fills), and a subject in the middle that stands out
    from the backdrop at the corners."""
    image = Image.open(io.BytesIO(picture(name))).convert("RGB")
    assert len(image.getcolors(SIZE * SIZE) or []) > 2_000
    corner = ImageStat.Stat(image.crop((0, 0, 40, 40))).mean
    middle = ImageStat.Stat(image.crop((SIZE // 4, SIZE // 4, 3 * SIZE // 4, 3 * SIZE // 4)))
    assert sum(middle.stddev) > 3 * sum(ImageStat.Stat(image.crop((0, 0, 40, 40))).stddev)
    assert max(abs(a - b) for a, b in zip(middle.mean, corner, strict=True)) > 8


def test_every_demo_item_has_a_picture() -> None:
    titles = {title.lower() for _shop, items in DEMO_ITEMS.values() for title, *_ in items}
    assert titles == set(PICTURES)


def test_an_unknown_picture_names_the_ones_there_are() -> None:
    with pytest.raises(DemoImageError) as error:
        picture("unicycle")
    assert str(error.value) == ("no demo picture named 'unicycle'; pick one of bicycle lights, "
                                "blue city bicycle, cast iron teapot, olive wood spoons, "
                                "red road bicycle")
