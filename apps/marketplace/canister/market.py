"""Shops, listings, images and search: what sellers put up and buyers browse.

* A user opens one shop (`open_shop`), then lists items (`create_listing`); a listing
  has a price in ledger units, a quantity and up to 8 images. `update_listing` edits
  it (not while units are locked by a checkout), `delist` takes it down.
* Images are uploaded in chunks of at most 512 KiB (`begin_image_upload`,
  `upload_image_chunk`, `commit_image`; PNG, JPEG, GIF or WebP, at most 2 MiB) and
  served by `http_request` at ``/images/<id>`` through the replica's HTTP gateway,
  certified (`certified_http`): the gateway checks each answer against the certified
  SHA-256 of the uploaded bytes.
* `search` answers words (every word must match the title, description or category),
  filters (category, shop, price range, status: for_sale, active, auction, sold_out or
  any) and a sort, with cursor paging.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from icframework.sdk import Principal, Reject, ic, nat16, nat32, nat64, query, update
from icframework.sdk.http import (
    HttpRequest,
    HttpResponse,
    immutable_response,
    text_response,
    url_path,
)

from . import access, catalogue, certified_http, certify, collection, limits
from .records import (
    Activity,
    Listing,
    ListingInput,
    ListingPage,
    ListingStatus,
    ListingView,
    SearchQuery,
    Shop,
)
from .store import (
    ImageMeta,
    activity,
    activity_count,
    images,
    totals,
    update_totals,
    uploads,
)


def record_activity(listing_id: int, kind: str, who: Principal, amount: int | None = None,
                    order_id: int | None = None) -> None:
    n = activity_count.get(listing_id, 0)
    activity[(listing_id, n)] = Activity(ic.time(), kind, who, amount, order_id)
    activity_count[listing_id] = n + 1


def listing_changed(listing: Listing) -> None:
    """After any change to a saved listing: its certified entry and its catalogue entry."""
    certify.refresh(listing.id, listing.seller, listing.price, listing.quantity,
                    listing.status.value)
    catalogue.refresh(listing)
    collection.reconcile(listing)  # a unique item nothing holds in escrow goes back


def view(listing: Listing, shop: Shop | None = None) -> ListingView:
    shop = shop or Shop.objects.filter(id=listing.shop_id).first()
    rating = listing.rating_sum / listing.rating_count if listing.rating_count else 0.0
    return ListingView(
        listing.id, listing.shop_id, shop.name if shop else "", listing.seller, listing.title,
        listing.description, listing.price, listing.quantity, listing.sold, listing.category,
        [f"/images/{image}" for image in listing.images], listing.status, listing.created_at,
        listing.favourites, rating, listing.rating_count,
    )


# -- shops ------------------------------------------------------------------------------------

@dataclass
class ShopView:
    id: nat64
    owner: Principal
    name: str
    description: str
    royalty_to: Principal | None
    royalty_bps: nat16
    created_at: nat64
    sales: nat64
    rating: float
    rating_count: nat64


def shop_view(shop: Shop) -> ShopView:
    rating = shop.rating_sum / shop.rating_count if shop.rating_count else 0.0
    return ShopView(shop.id, shop.owner, shop.name, shop.description, shop.royalty_to,
                    shop.royalty_bps, shop.created_at, shop.sales, rating, shop.rating_count)


@update
def open_shop(name: str, description: str, royalty_to: Principal | None,
              royalty_bps: nat16) -> ShopView:
    """Open the caller's shop. ``royalty_bps`` (at most 2000) of every sale goes to
    ``royalty_to`` (e.g. the maker of the goods); 0 for none."""
    who = access.me()
    access.settings()
    if access.shop_of(who) is not None:
        raise Reject(f"{who} already has a shop; use update_shop")
    name = access.text(name, "a shop name", limits.MAX_SHOP_NAME_CHARS)
    description = access.text(description, "a shop description", limits.MAX_DESCRIPTION_CHARS,
                              required=False)
    _check_royalty(royalty_to, royalty_bps)
    shop = Shop.objects.create(owner=who, name=name, description=description,
                               royalty_to=royalty_to, royalty_bps=royalty_bps,
                               created_at=ic.time())
    return shop_view(shop)


def _check_royalty(royalty_to: Principal | None, royalty_bps: int) -> None:
    if royalty_bps > limits.MAX_ROYALTY_BPS:
        raise Reject(f"a royalty is at most {limits.MAX_ROYALTY_BPS} bps, got {royalty_bps}")
    if royalty_bps and royalty_to is None:
        raise Reject("a royalty needs royalty_to, the principal that receives it")


@update
def update_shop(name: str, description: str, royalty_to: Principal | None,
                royalty_bps: nat16) -> ShopView:
    """Change the caller's shop (new royalty terms apply to later sales)."""
    shop = access.shop_of(access.me())
    if shop is None:
        raise Reject("open a shop first")
    shop.name = access.text(name, "a shop name", limits.MAX_SHOP_NAME_CHARS)
    shop.description = access.text(description, "a shop description",
                                   limits.MAX_DESCRIPTION_CHARS, required=False)
    _check_royalty(royalty_to, royalty_bps)
    shop.royalty_to, shop.royalty_bps = royalty_to, royalty_bps
    shop.save()
    return shop_view(shop)


@query
def shop(shop_id: nat64) -> ShopView | None:
    found = Shop.objects.filter(id=shop_id).first()
    return shop_view(found) if found else None


@query
def my_shop() -> ShopView | None:
    found = access.shop_of(ic.caller())
    return shop_view(found) if found else None


@query
def shops(cursor: str | None, limit: nat16) -> list[ShopView]:
    page = Shop.objects.all().paginate(cursor, min(limit or 20, limits.MAX_PAGE))
    return [shop_view(s) for s in page.items]


# -- listings ---------------------------------------------------------------------------------

def _check_input(data: ListingInput) -> ListingInput:
    if data.quantity < 1 or data.quantity > limits.MAX_QUANTITY:
        raise Reject(f"a quantity is 1 to {limits.MAX_QUANTITY}, got {data.quantity}")
    return ListingInput(
        access.text(data.title, "a title", limits.MAX_TITLE_CHARS),
        access.text(data.description, "a description", limits.MAX_DESCRIPTION_CHARS,
                    required=False),
        access.price(data.price),
        data.quantity,
        access.text(data.category, "a category", limits.MAX_CATEGORY_CHARS).casefold(),
    )


def _attach_images(who: Principal, image_ids: list[int], listing_id: int,
                   previous: list[int]) -> list[int]:
    if len(image_ids) > limits.MAX_IMAGES_PER_LISTING:
        raise Reject(f"a listing has at most {limits.MAX_IMAGES_PER_LISTING} images, "
                     f"got {len(image_ids)}")
    for image_id in image_ids:
        meta = images.get(image_id)
        if meta is None or meta.owner != who:
            raise Reject(f"image {image_id} is not one of {who}'s uploaded images")
        if meta.listing_id not in (None, listing_id):
            raise Reject(f"image {image_id} belongs to listing {meta.listing_id}")
        meta.listing_id = listing_id
        images[image_id] = meta
    for image_id in previous:
        if image_id not in image_ids:
            _drop_image(image_id)
    return list(dict.fromkeys(image_ids))


@update
def create_listing(data: ListingInput, image_ids: list[nat64]) -> ListingView:
    """List an item in the caller's shop, with images uploaded before."""
    who = access.me()
    shop = access.shop_of(who)
    if shop is None:
        raise Reject("open a shop first (open_shop)")
    data = _check_input(data)
    now = ic.time()
    listing = Listing.objects.create(
        shop_id=shop.id, seller=who, title=data.title, description=data.description,
        price=data.price, quantity=data.quantity, locked=0, sold=0, category=data.category,
        images=[], status=ListingStatus.active, created_at=now, updated_at=now,
    )
    listing.images = _attach_images(who, list(image_ids), listing.id, [])
    listing.save()
    record_activity(listing.id, "listed", who, listing.price)
    listing_changed(listing)
    return view(listing, shop)


@update
def update_listing(listing_id: nat64, data: ListingInput, image_ids: list[nat64]) -> ListingView:
    """Edit the caller's listing: ``quantity`` is the number still for sale."""
    listing = access.own_listing(listing_id)
    if listing.status is ListingStatus.delisted:
        raise Reject(f"listing {listing_id} is delisted")
    if listing.status is ListingStatus.auction:
        raise Reject(f"listing {listing_id} is being auctioned; edit it after the auction")
    data = _check_input(data)
    if (unique := collection.check_edit(listing, data.quantity)) is not None:
        raise Reject(unique)
    old_price = listing.price
    listing.title, listing.description, listing.category = (data.title, data.description,
                                                           data.category)
    listing.price, listing.quantity = data.price, data.quantity
    listing.status = ListingStatus.active
    listing.images = _attach_images(listing.seller, list(image_ids), listing.id, listing.images)
    listing.updated_at = ic.time()
    listing.save()
    record_activity(listing.id, "price" if old_price != data.price else "updated",
                    listing.seller, listing.price)
    listing_changed(listing)
    return view(listing)


@update
def delist(listing_id: nat64) -> ListingView:
    """Take the caller's listing down; checkouts already paid go on."""
    listing = access.own_listing(listing_id)
    if listing.status is ListingStatus.auction:
        raise Reject(f"listing {listing_id} is being auctioned; cancel_auction first "
                     "(possible while nobody has bid)")
    listing.status = ListingStatus.delisted
    listing.updated_at = ic.time()
    listing.save()
    record_activity(listing.id, "delisted", listing.seller)
    listing_changed(listing)
    return view(listing)


@query
def listing(listing_id: nat64) -> ListingView | None:
    found = Listing.objects.filter(id=listing_id).first()
    return view(found) if found else None


@query
def listing_activity(listing_id: nat64, start: nat32, limit: nat16) -> list[Activity]:
    """The listing's history from entry ``start``, oldest first."""
    end = start + min(limit or 50, limits.MAX_PAGE)
    return [a for _k, a in activity.range((listing_id, start), (listing_id, end))]


# -- search -----------------------------------------------------------------------------------

@query
def search(q: SearchQuery) -> ListingPage:
    """Listings matching ``q`` (see `SearchQuery`); ``next_cursor`` continues the page.
    Answered from the catalogue's indexes (`catalogue`): a page costs about its size
    plus, with words, the postings of those words."""
    if q.sort not in catalogue.ORDERS:
        raise Reject(f"unknown sort {q.sort!r}; use one of {', '.join(catalogue.ORDERS)}")
    if q.status is not None and q.status not in catalogue.STATUSES:
        raise Reject(f"unknown status {q.status!r}; use one of "
                     f"{', '.join(catalogue.STATUSES)} (or null)")
    limit = min(max(q.limit, 1), limits.MAX_PAGE)
    try:
        offset = int(q.cursor) if q.cursor else 0
    except ValueError:
        raise Reject(f"bad cursor {q.cursor!r}: pass back a next_cursor") from None
    if offset < 0:
        raise Reject(f"bad cursor {q.cursor!r}: pass back a next_cursor")
    found = catalogue.search(q, offset, limit)
    shops_seen: dict[int, Shop | None] = {}
    views = []
    for lid in found.ids:
        row = Listing.objects.filter(id=lid).first()
        if row is None:
            continue
        if row.shop_id not in shops_seen:
            shops_seen[row.shop_id] = Shop.objects.filter(id=row.shop_id).first()
        views.append(view(row, shops_seen[row.shop_id]))
    return ListingPage(views, str(offset + limit) if found.more else None, found.total)


@query
def categories() -> list[tuple[str, nat32]]:
    """Each category with its number of listings for sale (active or in an auction)."""
    return catalogue.for_sale_by_category()


# -- images -----------------------------------------------------------------------------------

@update
def begin_image_upload(content_type: str, size: nat32) -> nat64:
    """Start uploading an image of ``size`` bytes; returns the upload (and image) id."""
    who = access.me()
    access.settings()
    if content_type not in limits.IMAGE_TYPES:
        raise Reject(f"images are {', '.join(limits.IMAGE_TYPES)}, not {content_type!r}")
    if not 0 < size <= limits.MAX_IMAGE_BYTES:
        raise Reject(f"an image is 1 to {limits.MAX_IMAGE_BYTES} bytes, got {size}")
    image_id = totals.get().next_image
    update_totals(next_image=1)
    uploads.begin(image_id, who, content_type, size)
    return image_id


@update
def upload_image_chunk(image_id: nat64, index: nat32, data: bytes) -> nat32:
    """Store chunk ``index`` (every chunk but the last is exactly 512 KiB); returns
    the bytes received so far."""
    return uploads.receive(image_id, access.me(), index, data)


@update
def commit_image(image_id: nat64) -> str:
    """Finish an upload once every chunk is in; returns the image's URL path."""
    who = access.me()
    upload, sha256 = uploads.commit(image_id, who)
    images[image_id] = ImageMeta(who, upload.content_type, upload.size, upload.chunks,
                                 sha256, None)
    certified_http.set_image(image_id, sha256)
    return f"/images/{image_id}"


def _drop_image(image_id: int) -> None:
    meta = images.remove(image_id)
    if meta is not None:
        uploads.delete(image_id, meta.chunks)
        certified_http.set_image(image_id, None)


# -- the HTTP gateway -------------------------------------------------------------------------

@query
def http_request(request: HttpRequest) -> HttpResponse:
    """``GET /images/<id>``: an uploaded image (immutable: cached for a year), with an
    ``IC-Certificate`` header proving its bytes (`certified_http`) when the replica
    gives the query a data certificate; a 304 or a ``HEAD`` answer has no body to prove
    and goes without."""
    path = url_path(request)
    if request.method not in ("GET", "HEAD"):
        return text_response(405, f"{request.method} is not served; images are read with GET")
    match = re.fullmatch(r"/images/(\d{1,19})", path)
    if match is None:
        return text_response(404, f"no such path {path!r}; images are at /images/<id>")
    meta = images.get(int(match[1]))
    if meta is None:
        return text_response(404, f"no image {match[1]}")
    response = immutable_response(request, meta.content_type,
                                  uploads.content(int(match[1]), meta.chunks), meta.sha256)
    certificate = ic.data_certificate()
    witness = certified_http.image_witness(int(match[1]), certify.listings_root())
    if response.status_code == 200 and request.method == "GET" and certificate and witness:
        response.headers.append(("ic-certificate", certified_http.header_value(certificate,
                                                                               witness)))
    return response
