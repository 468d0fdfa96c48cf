"""The certified data as an IC hash tree: certified image responses and the listings' root.

How it works: the certified data is the root hash of the tree (IC interface spec,
"Certification", hash trees)::

    fork( labeled("http_assets", <images>),
          labeled("listings", leaf(<the listings' root hash, `certify`>)) )

``<images>`` holds ``labeled("/images/<id>", leaf(sha256(body)))`` for every image,
the shape the HTTP gateway's response verification (version 1) looks up: ``GET
/images/<id>`` answers with an ``IC-Certificate`` header carrying the replica's data
certificate and a witness of that one path (everything else pruned), so a gateway
refuses a body that is not the uploaded one. Labels must be in order across the
tree, so images are grouped in *buckets* by the first two characters of their id in
decimal — a bucket is a contiguous run of labels — and the subtree is a balanced fork
over the buckets in order, each bucket a balanced fork over its labels. A new or
deleted image costs one bucket (about n/90 hashes) and the top (at most 99), and a
witness the same; the listings' certified data (`certify`) costs one hash more.

Everything here is plain Python (hashlib): the tree is CBOR-encoded by hand (arrays,
unsigned integers, byte strings, the self-describe tag), as the gateway and agents
decode it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from icframework.sdk import StableBTreeMap, StableCell, ic

LISTINGS = b"listings"
HTTP_ASSETS = b"http_assets"

images = StableBTreeMap[tuple[str, str], bytes]("cert_http.images")
"""``images[(bucket, "/images/<id>")]`` → the SHA-256 of the image's bytes."""
bucket_hashes = StableBTreeMap[str, bytes]("cert_http.buckets")
"""``bucket_hashes[bucket]`` → the hash of the bucket's subtree."""
images_root = StableCell[bytes]("cert_http.images_root", default=b"")
"""The hash of the ``<images>`` subtree (empty: no image yet)."""


# -- hash trees --------------------------------------------------------------------------------

Node = tuple[Any, ...]
"""A tree node: ``("empty",)``, ``("fork", l, r)``, ``("labeled", label, t)``,
``("leaf", value)`` or ``("pruned", hash)``."""


def _sep(name: str) -> bytes:
    return bytes([len(name)]) + name.encode()


def _h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


EMPTY_HASH = _h(_sep("ic-hashtree-empty"))


def fork_hash(left: bytes, right: bytes) -> bytes:
    return _h(_sep("ic-hashtree-fork"), left, right)


def labeled_hash(label: bytes, sub: bytes) -> bytes:
    return _h(_sep("ic-hashtree-labeled"), label, sub)


def leaf_hash(value: bytes) -> bytes:
    return _h(_sep("ic-hashtree-leaf"), value)


def reconstruct(node: Node) -> bytes:
    """The root hash of a tree (pruned nodes stand for their hash)."""
    kind = node[0]
    if kind == "empty":
        return EMPTY_HASH
    if kind == "fork":
        return fork_hash(reconstruct(node[1]), reconstruct(node[2]))
    if kind == "labeled":
        return labeled_hash(node[1], reconstruct(node[2]))
    if kind == "leaf":
        return leaf_hash(node[1])
    pruned: bytes = node[1]
    return pruned


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for width, code in ((1, 24), (2, 25), (4, 26), (8, 27)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | code]) + n.to_bytes(width, "big")
    raise ValueError(f"{n} does not fit a CBOR head")


def encode(node: Node) -> bytes:
    """The tree as the IC's CBOR (``d9d9f7`` self-describe tag in front)."""
    return b"\xd9\xd9\xf7" + _encode(node)


def _encode(node: Node) -> bytes:
    kind = node[0]
    if kind == "empty":
        return _head(4, 1) + _head(0, 0)
    if kind == "fork":
        return _head(4, 3) + _head(0, 1) + _encode(node[1]) + _encode(node[2])
    if kind == "labeled":
        label: bytes = node[1]
        return _head(4, 3) + _head(0, 2) + _head(2, len(label)) + label + _encode(node[2])
    value: bytes = node[1]
    code = 3 if kind == "leaf" else 4
    return _head(4, 2) + _head(0, code) + _head(2, len(value)) + value


def _balanced(items: list[tuple[bytes, Node]]) -> tuple[bytes, Node]:
    """A balanced fork over ``items`` (each its hash and node), in order."""
    if not items:
        return EMPTY_HASH, ("empty",)
    if len(items) == 1:
        return items[0]
    middle = len(items) // 2
    left_hash, left = _balanced(items[:middle])
    right_hash, right = _balanced(items[middle:])
    return fork_hash(left_hash, right_hash), ("fork", left, right)


def _pruned_or(items: list[tuple[str, bytes]], keep: str,
               build: Callable[[], Node]) -> list[tuple[bytes, Node]]:
    """``items`` (key, hash) as pruned nodes, except ``keep``'s, which ``build`` makes."""
    return [(digest, build() if key == keep else ("pruned", digest)) for key, digest in items]


# -- the images ----------------------------------------------------------------------------

def image_path(image_id: int) -> str:
    return f"/images/{image_id}"


def bucket_of(path: str) -> str:
    """Images whose decimal ids share their first two characters share a bucket; a
    bucket is a contiguous run of labels in byte order."""
    return path[len("/images/"):][:2]


def _bucket_items(bucket: str) -> list[tuple[str, bytes]]:
    """``(path, labeled hash)`` of a bucket's images in label order."""
    rows = [(path, labeled_hash(path.encode(), leaf_hash(digest)))
            for (_b, path), digest in images.range((bucket, ""), (bucket + "\x00", ""))]
    return sorted(rows)


def _bucket_node(bucket: str, keep: str) -> tuple[bytes, Node]:
    items = _bucket_items(bucket)
    digest = images[(bucket, keep)]
    return _balanced(_pruned_or(items, keep, lambda: ("labeled", keep.encode(),
                                                      ("leaf", digest))))


def _top_items() -> list[tuple[str, bytes]]:
    return sorted(bucket_hashes.range())


def decode(data: bytes) -> Node:
    """A tree from the CBOR `encode` writes (the self-describe tag optional); raises
    `ValueError` for anything else."""
    body = data[3:] if data[:3] == b"\xd9\xd9\xf7" else data
    node, end = _decode(body, 0, 0)
    if end != len(body):
        raise ValueError(f"{len(body) - end} byte(s) after the hash tree")
    return node


def _read_head(data: bytes, at: int) -> tuple[int, int, int]:
    if at >= len(data):
        raise ValueError("the hash tree ends early")
    major, info = data[at] >> 5, data[at] & 31
    if info < 24:
        return major, info, at + 1
    width = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if width is None or at + 1 + width > len(data):
        raise ValueError(f"bad CBOR head at byte {at}")
    return major, int.from_bytes(data[at + 1: at + 1 + width], "big"), at + 1 + width


def _read_bytes(data: bytes, at: int) -> tuple[bytes, int]:
    major, n, at = _read_head(data, at)
    if major != 2 or at + n > len(data):
        raise ValueError(f"expected a byte string at byte {at}")
    return data[at: at + n], at + n


def _decode(data: bytes, at: int, depth: int) -> tuple[Node, int]:
    if depth > 128:
        raise ValueError("the hash tree is nested too deeply")
    major, count, at = _read_head(data, at)
    if major != 4 or not 1 <= count <= 3:
        raise ValueError(f"expected a hash tree node (an array) at byte {at}")
    major, tag, at = _read_head(data, at)
    if major != 0:
        raise ValueError(f"expected a node tag at byte {at}")
    if (tag, count) == (0, 1):
        return ("empty",), at
    if (tag, count) == (1, 3):
        left, at = _decode(data, at, depth + 1)
        right, at = _decode(data, at, depth + 1)
        return ("fork", left, right), at
    if (tag, count) == (2, 3):
        label, at = _read_bytes(data, at)
        sub, at = _decode(data, at, depth + 1)
        return ("labeled", label, sub), at
    if (tag, count) in ((3, 2), (4, 2)):
        value, at = _read_bytes(data, at)
        return ("leaf" if tag == 3 else "pruned", value), at
    raise ValueError(f"unknown hash tree node {tag} with {count} item(s)")


def lookup(node: Node, label: bytes) -> Node | None:
    """The subtree under ``label`` at this level (through forks), or None."""
    kind = node[0]
    if kind == "fork":
        return lookup(node[1], label) or lookup(node[2], label)
    if kind == "labeled" and node[1] == label:
        sub: Node = node[2]
        return sub
    return None


def _certify() -> None:
    from . import certify

    ic.set_certified_data(root(certify.listings_root()))


def set_image(image_id: int, sha256: bytes | None) -> None:
    """Certify image ``image_id``'s bytes (its SHA-256), or stop certifying it (None)."""
    path = image_path(image_id)
    bucket = bucket_of(path)
    if sha256 is None:
        images.remove((bucket, path))
    else:
        images[(bucket, path)] = sha256
    _rehash([bucket])


def _rehash(buckets: list[str]) -> None:
    """Recompute these buckets' hashes, the images' root and the certified data."""
    for bucket in buckets:
        items = _bucket_items(bucket)
        if items:
            bucket_hashes[bucket] = _balanced([(h, ("pruned", h)) for _p, h in items])[0]
        else:
            bucket_hashes.remove(bucket)
    top = _top_items()
    images_root.set(_balanced([(h, ("pruned", h)) for _b, h in top])[0] if top else b"")
    _certify()


def certify_all(stored: list[tuple[int, bytes]]) -> None:
    """Certify every stored image ``(id, sha256)`` that is not yet (an upgrade from a
    version without certified images), then the data as a whole."""
    touched: set[str] = set()
    for image_id, sha256 in stored:
        path = image_path(image_id)
        if (bucket_of(path), path) not in images:
            images[(bucket_of(path), path)] = sha256
            touched.add(bucket_of(path))
    _rehash(sorted(touched))


def _images_hash() -> bytes:
    stored = images_root.get()
    return stored if stored else EMPTY_HASH


def root(listings_root: bytes) -> bytes:
    """The certified data: the tree's root hash for the listings' root hash."""
    return fork_hash(labeled_hash(HTTP_ASSETS, _images_hash()),
                     labeled_hash(LISTINGS, leaf_hash(listings_root)))


def image_witness(image_id: int, listings_root: bytes) -> bytes | None:
    """The CBOR witness of ``/images/<id>`` (None if it is not certified)."""
    path = image_path(image_id)
    bucket = bucket_of(path)
    if (bucket, path) not in images:
        return None
    nodes = _pruned_or(_top_items(), bucket, lambda: _bucket_node(bucket, path)[1])
    _hash, images_node = _balanced(nodes)
    tree: Node = ("fork", ("labeled", HTTP_ASSETS, images_node),
                  ("pruned", labeled_hash(LISTINGS, leaf_hash(listings_root))))
    return encode(tree)


def header_value(certificate: bytes, witness: bytes) -> str:
    """The ``IC-Certificate`` header: the certificate and the tree, base64 in colons."""
    return (f"certificate=:{base64.b64encode(certificate).decode()}:, "
            f"tree=:{base64.b64encode(witness).decode()}:")


def listings_witness(listings_root: bytes) -> bytes:
    """The CBOR witness of the ``listings`` leaf (the images pruned)."""
    tree: Node = ("fork", ("pruned", labeled_hash(HTTP_ASSETS, _images_hash())),
                  ("labeled", LISTINGS, ("leaf", listings_root)))
    return encode(tree)
