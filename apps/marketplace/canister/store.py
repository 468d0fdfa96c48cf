"""Durable state besides the models: configuration, the search index, images, activity, favourites.

* ``config``: the `Config` cell (set at install).
* ``words``: the search postings of versions before the catalogue (`catalogue` now
  keeps the indexes); emptied by the upgrade.
* ``images[image_id]`` → `ImageMeta`; the bytes are ``chunks[(image_id, n)]`` (≤ 512
  KiB) of `uploads` (`icframework.sdk.ChunkedUploads`), where an upload is
  ``uploads[upload_id]`` until committed.
* ``activity[(listing_id, n)]``: the listing's history, oldest first.
* ``favourites[(user, listing_id)]`` and its count on the listing.
* ``totals``: market-wide counters for `stats`.
* ``cert_leaves[(bucket, listing_id)]`` → leaf hash; ``cert_bucket_hashes``: the 256
  bucket hashes end to end, 8 KiB (see `certify`).
"""

from __future__ import annotations

from dataclasses import dataclass

from icframework.sdk import (
    ChunkedUploads,
    Principal,
    StableBTreeMap,
    StableCell,
    nat,
    nat8,
    nat32,
    nat64,
)

from . import limits
from .records import Activity, Config


@dataclass
class ImageMeta:
    owner: Principal
    content_type: str
    size: nat32
    chunks: nat32
    sha256: bytes
    listing_id: nat64 | None


@dataclass
class Totals:
    volume: nat = 0
    sales: nat64 = 0
    platform_fees: nat = 0
    escrow_held: nat = 0
    next_image: nat64 = 1
    next_escrow: nat64 = 1


config = StableCell[Config]("config")
totals = StableCell[Totals]("totals", default=Totals())
words = StableBTreeMap[tuple[str, nat64], bool]("words")
images = StableBTreeMap[nat64, ImageMeta]("images")
uploads = ChunkedUploads("", limits.CHUNK_BYTES)
"""Uploads in progress (``uploads``) and the images' bytes (``chunks``)."""
activity = StableBTreeMap[tuple[nat64, nat32], Activity]("activity")
activity_count = StableBTreeMap[nat64, nat32]("activity_count")
favourites = StableBTreeMap[tuple[Principal, nat64], nat64]("favourites")
cert_leaves = StableBTreeMap[tuple[nat8, nat64], bytes]("cert_leaves")
cert_bucket_hashes = StableCell[bytes]("cert_bucket_hashes", default=bytes(32 * 256))


def update_totals(**delta: int) -> None:
    """Add ``delta`` to the named counters of `Totals`."""
    now = totals.get()  # a fresh object (the default too)
    for name, amount in delta.items():
        setattr(now, name, getattr(now, name) + amount)
    totals.set(now)
