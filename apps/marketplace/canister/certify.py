"""Certified prices and ownership: a two-level hash of every listing as certified data.

A listing's *leaf* is the SHA-256 of its id, seller, price, available units and
status (`leaf_hash`). Listings fall into 256 buckets by ``id % 256``; a bucket's hash
is the SHA-256 of its leaves in id order (32 zero bytes when empty), and the listings'
root is the SHA-256 of the 256 bucket hashes; it is the ``listings`` leaf of the hash
tree whose root is the canister's certified data (`certified_http`, which also
certifies the images). A buyer gets a `CertifiedListing` from the ``certified_listing``
query — the leaf, its bucket, the bucket hashes, the tree's witness of the
``listings`` leaf and the replica's data certificate — and checks it with `verify`
before paying: the certificate's signature and its ``certified_data`` path (the
agent's job), then that this chain of hashes ends there. Every update that changes a
listing's certified fields calls `refresh`; a change costs one bucket (about n/256
leaves) and the root.

`verify` is plain Python: clients import it as ``apps.marketplace.canister.certify``.
"""

from __future__ import annotations

import hashlib

from icframework.sdk import Principal, ic

from . import certified_http

EMPTY = bytes(32)
BUCKETS = 256


def leaf_hash(listing_id: int, seller: Principal, price: int, available: int,
              status: str) -> bytes:
    h = hashlib.sha256(b"icframework-market-listing")
    h.update(listing_id.to_bytes(8, "big"))
    raw = seller.raw
    h.update(len(raw).to_bytes(1, "big") + raw)
    h.update(price.to_bytes(16, "big"))
    h.update(available.to_bytes(4, "big"))
    h.update(status.encode("utf-8"))
    return h.digest()


def bucket_of(listing_id: int) -> int:
    return listing_id % BUCKETS


def bucket_hash(leaves: list[bytes]) -> bytes:
    return hashlib.sha256(b"".join(leaves)).digest() if leaves else EMPTY


def root_hash(buckets: list[bytes]) -> bytes:
    return hashlib.sha256(b"".join(buckets)).digest()


def verify(listing_id: int, seller: Principal, price: int, available: int, status: str,
           bucket: list[bytes], buckets: list[bytes], certified_data: bytes,
           witness: bytes) -> bool:
    """Whether these listing fields are certified by ``certified_data`` through
    ``bucket`` (its bucket's leaves), ``buckets`` (all bucket hashes) and ``witness``
    (the hash tree revealing the ``listings`` leaf; a malformed one is not)."""
    leaf = leaf_hash(listing_id, seller, price, available, status)
    if len(buckets) != BUCKETS or leaf not in bucket:
        return False
    if buckets[bucket_of(listing_id)] != bucket_hash(bucket):
        return False
    try:
        tree = certified_http.decode(witness)
    except ValueError:
        return False
    found = certified_http.lookup(tree, certified_http.LISTINGS)
    if found is None or found[0] != "leaf" or found[1] != root_hash(buckets):
        return False
    return certified_http.reconstruct(tree) == certified_data


# -- inside the canister ---------------------------------------------------------------------

def _bucket_leaves(bucket: int) -> list[bytes]:
    from .store import cert_leaves

    end = (bucket + 1, 0) if bucket + 1 < BUCKETS else None
    return [leaf for _key, leaf in cert_leaves.range((bucket, 0), end)]


def all_buckets() -> list[bytes]:
    from .store import cert_bucket_hashes

    joined = cert_bucket_hashes.get()
    return [joined[32 * b: 32 * b + 32] for b in range(BUCKETS)]


def bucket_leaves(listing_id: int) -> list[bytes]:
    return _bucket_leaves(bucket_of(listing_id))


def refresh(listing_id: int, seller: Principal, price: int, available: int, status: str) -> None:
    """Record the listing's current certified fields and certify the new root (one
    bucket's leaves are read; the 256 bucket hashes are one stored value)."""
    from .store import cert_bucket_hashes, cert_leaves

    b = bucket_of(listing_id)
    leaf = leaf_hash(listing_id, seller, price, available, status)
    if cert_leaves.get((b, listing_id)) == leaf:
        return
    cert_leaves[(b, listing_id)] = leaf
    joined = cert_bucket_hashes.get()
    joined = joined[: 32 * b] + bucket_hash(_bucket_leaves(b)) + joined[32 * b + 32:]
    cert_bucket_hashes.set(joined)
    ic.set_certified_data(certified_http.root(root_hash_of(joined)))


def listings_root() -> bytes:
    """The listings' root hash (the ``listings`` leaf of the certified tree)."""
    from .store import cert_bucket_hashes

    return root_hash_of(cert_bucket_hashes.get())


def root_hash_of(joined: bytes) -> bytes:
    """`root_hash` of the 256 bucket hashes stored end to end."""
    return hashlib.sha256(joined).digest()
