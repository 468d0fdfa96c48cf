"""Hash trees: the certified, prunable labeled trees of the IC state.

How it works: a tree is made of `Empty`, `Fork`, `Labeled`, `Leaf` and `Pruned`
nodes; `reconstruct` hashes it with the ``ic-hashtree-*`` domain separators, so a
tree with some subtrees replaced by their hashes (`Pruned`) keeps its root hash.
`build_tree` turns nested mappings into a well-formed tree (labels sorted bytewise,
forks balanced), `prune` cuts a tree down to a witness for a set of paths (including
the neighbour labels that prove a path absent), and `lookup_path` reads a path with the
spec's Found / Absent / Unknown / Error outcomes.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Union

from icframework.core import encode_uleb128
from icframework.protocol._cbor import dumps_tagged, loads_strict
from icframework.protocol.errors import HashTreeError
from icframework.protocol.request_id import domain_separator

HASH_BYTES = 32
_EMPTY_DOMAIN = domain_separator("ic-hashtree-empty")
_FORK_DOMAIN = domain_separator("ic-hashtree-fork")
_LABELED_DOMAIN = domain_separator("ic-hashtree-labeled")
_LEAF_DOMAIN = domain_separator("ic-hashtree-leaf")
_EMPTY_HASH = hashlib.sha256(_EMPTY_DOMAIN).digest()


@dataclass(frozen=True, slots=True)
class Empty:
    """The empty tree (CBOR ``[0]``)."""


@dataclass(frozen=True, slots=True)
class Fork:
    """Two subtrees side by side (CBOR ``[1, left, right]``)."""

    left: HashTree
    right: HashTree


@dataclass(frozen=True, slots=True)
class Labeled:
    """A subtree under a byte label (CBOR ``[2, label, subtree]``)."""

    label: bytes
    subtree: HashTree


@dataclass(frozen=True, slots=True)
class Leaf:
    """A value (CBOR ``[3, value]``)."""

    value: bytes


@dataclass(frozen=True, slots=True)
class Pruned:
    """A subtree replaced by its 32-byte root hash (CBOR ``[4, hash]``)."""

    digest: bytes

    def __post_init__(self) -> None:
        if len(self.digest) != HASH_BYTES:
            raise HashTreeError(
                f"a pruned node holds a {HASH_BYTES}-byte hash, got {len(self.digest)} bytes"
            )


HashTree = Union[Empty, Fork, Labeled, Leaf, Pruned]  # noqa: UP007 (recursive alias at runtime)
Label = bytes | str
Path = Sequence[Label]


def _label_bytes(label: Label) -> bytes:
    return label.encode("utf-8") if isinstance(label, str) else label


# -- hashing ------------------------------------------------------------------------


def reconstruct(tree: HashTree) -> bytes:
    """The 32-byte root hash of ``tree`` (SHA-256 with the ``ic-hashtree-*`` separators)."""
    if isinstance(tree, Fork):
        return hashlib.sha256(
            _FORK_DOMAIN + reconstruct(tree.left) + reconstruct(tree.right)
        ).digest()
    if isinstance(tree, Labeled):
        return hashlib.sha256(_LABELED_DOMAIN + tree.label + reconstruct(tree.subtree)).digest()
    if isinstance(tree, Leaf):
        return hashlib.sha256(_LEAF_DOMAIN + tree.value).digest()
    if isinstance(tree, Pruned):
        return tree.digest
    return _EMPTY_HASH


# -- CBOR -----------------------------------------------------------------------------


def tree_to_cbor_value(tree: HashTree) -> list[object]:
    """The tree as nested lists, ready to embed in a larger CBOR value."""
    if isinstance(tree, Fork):
        return [1, tree_to_cbor_value(tree.left), tree_to_cbor_value(tree.right)]
    if isinstance(tree, Labeled):
        return [2, tree.label, tree_to_cbor_value(tree.subtree)]
    if isinstance(tree, Leaf):
        return [3, tree.value]
    if isinstance(tree, Pruned):
        return [4, tree.digest]
    return [0]


def tree_from_cbor_value(value: object) -> HashTree:
    """Parse a decoded CBOR value (lists or tuples) into a tree; raise `HashTreeError`."""
    return _decode_node(value, "tree")


def _decode_node(value: object, where: str) -> HashTree:
    if not isinstance(value, list | tuple) or not value:
        raise HashTreeError(f"{where}: a hash tree node is a non-empty array, got {value!r:.60}")
    tag = value[0]
    arity = {0: 1, 1: 3, 2: 3, 3: 2, 4: 2}.get(tag) if isinstance(tag, int) else None
    if arity is None or isinstance(tag, bool):
        raise HashTreeError(f"{where}: unknown hash tree node tag {tag!r}; expected 0 to 4")
    if len(value) != arity:
        raise HashTreeError(
            f"{where}: node with tag {tag} has {len(value)} elements; expected {arity}"
        )
    if tag == 0:
        return Empty()
    if tag == 1:
        return Fork(_decode_node(value[1], where + ".0"), _decode_node(value[2], where + ".1"))
    payload = value[1]
    if not isinstance(payload, bytes):
        raise HashTreeError(
            f"{where}: node with tag {tag} needs bytes, got {type(payload).__name__}"
        )
    if tag == 2:
        return Labeled(payload, _decode_node(value[2], f"{where}/{payload!r}"))
    if tag == 3:
        return Leaf(payload)
    if len(payload) != HASH_BYTES:
        raise HashTreeError(f"{where}: pruned hash is {len(payload)} bytes; expected {HASH_BYTES}")
    return Pruned(payload)


def encode_tree(tree: HashTree) -> bytes:
    """Self-describe-tagged CBOR of a tree."""
    return dumps_tagged(tree_to_cbor_value(tree))


def decode_tree(data: bytes) -> HashTree:
    """Parse CBOR bytes (tagged or not) into a tree; raise `HashTreeError`."""
    return tree_from_cbor_value(loads_strict(data, "hash tree", HashTreeError))


# -- structure ----------------------------------------------------------------------


def flatten_forks(tree: HashTree) -> list[HashTree]:
    """The non-fork, non-empty nodes of ``tree``'s top level, left to right."""
    out: list[HashTree] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Fork):
            stack.append(node.right)
            stack.append(node.left)
        elif not isinstance(node, Empty):
            out.append(node)
    return out


def check_well_formed(tree: HashTree) -> None:
    """Raise `HashTreeError` unless every level is a single leaf or strictly sorted labels."""
    _check_level(tree, "/")


def _check_level(tree: HashTree, where: str) -> None:
    if isinstance(tree, Leaf):
        return
    previous: bytes | None = None
    for node in flatten_forks(tree):
        if isinstance(node, Leaf):
            raise HashTreeError(f"hash tree at {where} mixes a leaf with other nodes")
        if isinstance(node, Labeled):
            if previous is not None and node.label <= previous:
                raise HashTreeError(
                    f"hash tree at {where}: label {node.label!r} does not come after "
                    f"{previous!r}; labels must be strictly increasing"
                )
            previous = node.label
            _check_level(node.subtree, f"{where}{node.label!r}/")


def build_tree(entries: Mapping[Label, object]) -> HashTree:
    """A well-formed tree from nested mappings: labels sorted, forks balanced.

    Keys are labels (bytes, or str as UTF-8). Values are a nested mapping, bytes (a
    leaf), str (a UTF-8 leaf), a non-negative int (a LEB128 leaf, the IC's nat
    encoding) or a ready-made `HashTree`. Raises `HashTreeError` on duplicate labels or
    unsupported values.
    """
    nodes: dict[bytes, HashTree] = {}
    for key, value in entries.items():
        label = _label_bytes(key)
        if label in nodes:
            raise HashTreeError(f"label {label!r} appears twice (as str and as bytes?)")
        nodes[label] = _build_value(value, label)
    ordered: list[HashTree] = [Labeled(label, nodes[label]) for label in sorted(nodes)]
    return _balanced(ordered)


def _build_value(value: object, label: bytes) -> HashTree:
    if isinstance(value, Empty | Fork | Labeled | Leaf | Pruned):
        return value
    if isinstance(value, Mapping):
        return build_tree(value)
    if isinstance(value, bytes):
        return Leaf(value)
    if isinstance(value, str):
        return Leaf(value.encode("utf-8"))
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Leaf(encode_uleb128(value))
    raise HashTreeError(
        f"value under label {label!r} has type {type(value).__name__}; expected a mapping, "
        "bytes, str, a nat or a HashTree"
    )


def _balanced(nodes: Sequence[HashTree]) -> HashTree:
    if not nodes:
        return Empty()
    if len(nodes) == 1:
        return nodes[0]
    middle = (len(nodes) + 1) // 2
    return Fork(_balanced(nodes[:middle]), _balanced(nodes[middle:]))


# -- lookup --------------------------------------------------------------------------


class LookupStatus(Enum):
    """The four outcomes of looking up a path in a (possibly pruned) tree."""

    FOUND = "found"
    ABSENT = "absent"
    UNKNOWN = "unknown"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class LookupResult:
    """``status``, and the leaf ``value`` when the status is `LookupStatus.FOUND`."""

    status: LookupStatus
    value: bytes | None = None


_ABSENT = LookupResult(LookupStatus.ABSENT)
_UNKNOWN = LookupResult(LookupStatus.UNKNOWN)
_ERROR = LookupResult(LookupStatus.ERROR)


def lookup_path(path: Path, tree: HashTree) -> LookupResult:
    """Look ``path`` up as the interface spec's ``lookup_path`` does.

    FOUND with the value at a leaf; ABSENT when the tree proves there is no such path;
    UNKNOWN when pruning hides the answer; ERROR when the path ends at an inner node.
    """
    node = tree
    for label in path:
        found = find_label(_label_bytes(label), flatten_forks(node))
        if isinstance(found, LookupResult):
            return found
        node = found
    if isinstance(node, Leaf):
        return LookupResult(LookupStatus.FOUND, node.value)
    if isinstance(node, Empty):
        return _ABSENT
    if isinstance(node, Pruned):
        return _UNKNOWN
    return _ERROR


def lookup_value(path: Path, tree: HashTree) -> bytes | None:
    """The leaf value at ``path``, or None for any outcome but FOUND."""
    return lookup_path(path, tree).value


def lookup_subtree(path: Path, tree: HashTree) -> HashTree | None:
    """The subtree at ``path`` (any node kind), or None if it is absent or unknown."""
    node = tree
    for label in path:
        found = find_label(_label_bytes(label), flatten_forks(node))
        if isinstance(found, LookupResult):
            return None
        node = found
    return node


def find_label(label: bytes, forest: Sequence[HashTree]) -> HashTree | LookupResult:
    """The subtree under ``label`` in a flattened level, or an ABSENT/UNKNOWN result."""
    if not forest or (len(forest) == 1 and isinstance(forest[0], Leaf)):
        return _ABSENT
    for index, node in enumerate(forest):
        if not isinstance(node, Labeled) or node.label < label:
            continue
        if node.label == label:
            return node.subtree
        if index == 0:
            return _ABSENT
        before = forest[index - 1]
        return _ABSENT if isinstance(before, Labeled) and before.label < label else _UNKNOWN
    last = forest[-1]
    return _ABSENT if isinstance(last, Labeled) and last.label < label else _UNKNOWN


# -- pruning -------------------------------------------------------------------------

_Trie = dict[bytes, "_Trie | None"]
_LABEL_ONLY = "label-only"


@dataclass(frozen=True)
class TreeIndex:
    """The hash of every node of one tree, and the label span of every fork.

    Built once for a tree that many witnesses are cut from (`index_tree`), it lets
    `prune` replace a hidden subtree by its hash without hashing it again, and skip a
    fork whose labels the requested paths cannot touch, so a witness costs about
    O(depth × log n) instead of a walk over every sibling. Keyed by node identity:
    valid while the tree it was built from is alive and unchanged.
    """

    digests: Mapping[int, bytes]
    spans: Mapping[int, tuple[bytes, bytes]]


def index_tree(tree: HashTree) -> TreeIndex:
    """Hash every node of ``tree`` once; record each fork's first and last label."""
    digests: dict[int, bytes] = {}
    spans: dict[int, tuple[bytes, bytes]] = {}

    def visit(node: HashTree) -> bytes:
        if isinstance(node, Fork):
            digest = hashlib.sha256(_FORK_DOMAIN + visit(node.left) + visit(node.right)).digest()
            ends = [spans.get(id(child)) or _own_span(child) for child in (node.left, node.right)]
            present = [end for end in ends if end is not None]
            if present:
                spans[id(node)] = (present[0][0], present[-1][1])
        elif isinstance(node, Labeled):
            digest = hashlib.sha256(_LABELED_DOMAIN + node.label + visit(node.subtree)).digest()
        else:
            digest = reconstruct(node)
        digests[id(node)] = digest
        return digest

    visit(tree)
    return TreeIndex(digests, spans)


def _own_span(node: HashTree) -> tuple[bytes, bytes] | None:
    return (node.label, node.label) if isinstance(node, Labeled) else None


def prune(tree: HashTree, paths: Iterable[Path], index: TreeIndex | None = None) -> HashTree:
    """A witness for ``paths``: the same root hash, revealing exactly what they need.

    For each path, everything at and below it is kept. A path that does not exist keeps
    the neighbouring labels (with pruned subtrees) that prove its absence. Everything
    else is replaced by `Pruned` hashes, merging sibling prunes into one. Pass the
    tree's `TreeIndex` when cutting many witnesses from one tree.
    """
    trie = _path_trie(paths)
    if trie is None:
        return tree
    return _Pruner(index).level(tree, trie)


class _Pruner:
    """One `prune` call: hashes come from the index when there is one."""

    def __init__(self, index: TreeIndex | None) -> None:
        self.digests: Mapping[int, bytes] = index.digests if index else {}
        self.spans: Mapping[int, tuple[bytes, bytes]] = index.spans if index else {}

    def digest(self, tree: HashTree) -> bytes:
        known = self.digests.get(id(tree))
        return known if known is not None else reconstruct(tree)

    def level(self, tree: HashTree, trie: _Trie) -> HashTree:
        """The witness of one tree level for the paths in ``trie``."""
        forest = flatten_forks(tree)
        if len(forest) == 1 and isinstance(forest[0], Leaf):
            return tree
        labels = [node.label for node in forest if isinstance(node, Labeled)]
        present = set(labels)
        reveal: dict[bytes, _Trie | str | None] = {}
        for label, sub in trie.items():
            if label in present:
                reveal[label] = sub
                continue
            position = bisect.bisect_left(labels, label)
            for neighbour in labels[max(position - 1, 0) : position + 1]:
                reveal.setdefault(neighbour, _LABEL_ONLY)
        return self.rebuild(tree, reveal, sorted(reveal))

    def rebuild(
        self, tree: HashTree, reveal: Mapping[bytes, _Trie | str | None], wanted: list[bytes]
    ) -> HashTree:
        if isinstance(tree, Fork):
            span = self.spans.get(id(tree))
            if span is not None and not _any_between(wanted, span):
                return Pruned(self.digest(tree))
            left = self.rebuild(tree.left, reveal, wanted)
            right = self.rebuild(tree.right, reveal, wanted)
            if _hidden(left) and _hidden(right):
                return Pruned(
                    hashlib.sha256(_FORK_DOMAIN + self.digest(left) + self.digest(right)).digest()
                )
            return Fork(left, right)
        if isinstance(tree, Labeled):
            if tree.label not in reveal:
                return Pruned(self.digest(tree))
            action = reveal[tree.label]
            if action is None:
                return tree
            if isinstance(action, str):
                subtree = tree.subtree
                return (
                    tree
                    if isinstance(subtree, Pruned)
                    else Labeled(tree.label, Pruned(self.digest(subtree)))
                )
            return Labeled(tree.label, self.level(tree.subtree, action))
        if isinstance(tree, Leaf):
            return Pruned(self.digest(tree))
        return tree


def _any_between(sorted_labels: list[bytes], span: tuple[bytes, bytes]) -> bool:
    """Whether some label in ``sorted_labels`` lies within ``span`` (inclusive)."""
    position = bisect.bisect_left(sorted_labels, span[0])
    return position < len(sorted_labels) and sorted_labels[position] <= span[1]


def _hidden(tree: HashTree) -> bool:
    return isinstance(tree, Pruned | Empty)


# -- persistent labeled maps ---------------------------------------------------------------

MapValue = Union[HashTree, "LabeledMap", Mapping[Label, object]]


class _MapNode:
    """One entry of a `LabeledMap` treap, with the hashes of its fork shape cached.

    The node stands for ``Fork(Fork(left, Labeled(label, value)), right)``, a missing
    child leaving its fork out, so an in-order walk meets the labels sorted. ``low`` and
    ``high`` are the subtree's first and last labels.
    """

    __slots__ = ("digest", "high", "label", "labeled_digest", "left", "low", "priority",
                 "right", "size", "value")

    digest: bytes
    high: bytes
    low: bytes
    size: int

    def __init__(self, label: bytes, value: MapValue, labeled_digest: bytes, priority: bytes,
                 left: _MapNode | None, right: _MapNode | None) -> None:
        self.label = label
        self.value = value
        self.labeled_digest = labeled_digest
        self.priority = priority
        self.left = left
        self.right = right
        inner = labeled_digest
        size = 1
        if left is not None:
            inner = hashlib.sha256(_FORK_DOMAIN + left.digest + labeled_digest).digest()
            size += left.size
        self.low = left.low if left is not None else label
        if right is not None:
            self.digest = hashlib.sha256(_FORK_DOMAIN + inner + right.digest).digest()
            size += right.size
            self.high = right.high
        else:
            self.digest = inner
            self.high = label
        self.size = size

    def with_children(self, left: _MapNode | None, right: _MapNode | None) -> _MapNode:
        return _MapNode(self.label, self.value, self.labeled_digest, self.priority, left, right)


def _priority(label: bytes) -> bytes:
    """A treap priority drawn from the label, so a set of labels has exactly one shape."""
    return hashlib.blake2b(label, digest_size=8).digest()


def _value_digest(value: MapValue) -> bytes:
    if isinstance(value, LabeledMap):
        return value.digest
    if isinstance(value, Mapping):
        return _mapping_digest(value)
    return reconstruct(value)


def _value_tree(value: MapValue, label: bytes) -> HashTree:
    """A map value as a hash tree (nested mappings are built only when revealed)."""
    if isinstance(value, LabeledMap):
        return value.to_tree()
    if isinstance(value, Mapping):
        return build_tree(value)
    return value


def _mapping_digest(entries: Mapping[Label, object]) -> bytes:
    """The root hash `build_tree` would give ``entries``, without building the tree."""
    digests: dict[bytes, bytes] = {}
    for key, value in entries.items():
        label = _label_bytes(key)
        if label in digests:
            raise HashTreeError(f"label {label!r} appears twice (as str and as bytes?)")
        if isinstance(value, Mapping):
            inner = _mapping_digest(value)
        elif isinstance(value, bytes):
            inner = hashlib.sha256(_LEAF_DOMAIN + value).digest()
        else:
            inner = reconstruct(_build_value(value, label))
        digests[label] = hashlib.sha256(_LABELED_DOMAIN + label + inner).digest()
    return _balanced_digest([digests[label] for label in sorted(digests)])


def _balanced_digest(digests: Sequence[bytes]) -> bytes:
    """The hash of `_balanced` over nodes with these hashes."""
    if not digests:
        return _EMPTY_HASH
    if len(digests) == 1:
        return digests[0]
    middle = (len(digests) + 1) // 2
    return hashlib.sha256(
        _FORK_DOMAIN + _balanced_digest(digests[:middle]) + _balanced_digest(digests[middle:])
    ).digest()


def _new_node(label: bytes, value: MapValue, left: _MapNode | None = None,
              right: _MapNode | None = None) -> _MapNode:
    labeled = hashlib.sha256(_LABELED_DOMAIN + label + _value_digest(value)).digest()
    return _MapNode(label, value, labeled, _priority(label), left, right)


def _split(node: _MapNode | None, label: bytes) -> tuple[_MapNode | None, _MapNode | None]:
    """The labels below ``label`` and those above it (``label`` itself is dropped)."""
    if node is None:
        return None, None
    if node.label < label:
        below, above = _split(node.right, label)
        return node.with_children(node.left, below), above
    if node.label > label:
        below, above = _split(node.left, label)
        return below, node.with_children(above, node.right)
    return node.left, node.right


def _merge(left: _MapNode | None, right: _MapNode | None) -> _MapNode | None:
    """Join two treaps whose labels do not interleave (every left label first)."""
    if left is None:
        return right
    if right is None:
        return left
    if left.priority > right.priority:
        return left.with_children(left.left, _merge(left.right, right))
    return right.with_children(_merge(left, right.left), right.right)


def _insert(node: _MapNode | None, fresh: _MapNode) -> _MapNode:
    if node is None or fresh.priority > node.priority:
        below, above = _split(node, fresh.label)
        return fresh.with_children(below, above)
    if fresh.label < node.label:
        return node.with_children(_insert(node.left, fresh), node.right)
    if fresh.label > node.label:
        return node.with_children(node.left, _insert(node.right, fresh))
    return fresh.with_children(node.left, node.right)


def _remove(node: _MapNode | None, label: bytes) -> _MapNode | None:
    if node is None:
        return None
    if label < node.label:
        left = _remove(node.left, label)
        return node if left is node.left else node.with_children(left, node.right)
    if label > node.label:
        right = _remove(node.right, label)
        return node if right is node.right else node.with_children(node.left, right)
    return _merge(node.left, node.right)


def _join(left: HashTree | None, right: HashTree | None) -> HashTree | None:
    """``Fork(left, right)``, leaving out a missing side and merging two pruned sides."""
    if left is None:
        return right
    if right is None:
        return left
    if isinstance(left, Pruned) and isinstance(right, Pruned):
        return Pruned(hashlib.sha256(_FORK_DOMAIN + left.digest + right.digest).digest())
    return Fork(left, right)


class LabeledMap:
    """A persistent tree level of labeled subtrees, with every node's hash cached.

    How it works: the labels are kept in a treap (a search tree by label, a heap by a
    priority hashed from the label, so its shape depends only on the set of labels and
    its depth is O(log n) expected). Each treap node is the fork shape
    ``Fork(Fork(left, Labeled(label, value)), right)``, so the labels appear sorted
    left to right, as agents' lookups require, and each node caches its hash. `set`
    and `remove` return a new map sharing all but the O(log n) nodes on the changed
    path, which are the only ones rehashed; older maps stay valid. `witness` cuts
    the proof of a few paths in O(paths × log n) without materialising the level.
    Values are hash trees, nested `LabeledMap` levels, or mappings as `build_tree`
    takes them, kept unbuilt: only their hash is computed until a witness reveals them.
    """

    __slots__ = ("_root",)

    def __init__(self, root: _MapNode | None = None) -> None:
        self._root = root

    @classmethod
    def from_items(cls, entries: Mapping[Label, object]) -> LabeledMap:
        """A map of ``entries`` (values as `build_tree` takes them, or `LabeledMap`), in O(n)."""
        parts: dict[bytes, tuple[MapValue, bytes, bytes]] = {}
        for key, value in entries.items():
            label = _label_bytes(key)
            if label in parts:
                raise HashTreeError(f"label {label!r} appears twice (as str and as bytes?)")
            kept = _map_value(value, label)
            labeled = hashlib.sha256(_LABELED_DOMAIN + label + _value_digest(kept)).digest()
            parts[label] = (kept, labeled, _priority(label))
        labels = sorted(parts)
        priorities = [parts[label][2] for label in labels]
        # The Cartesian tree of the sorted labels by priority, built with a stack.
        count = len(labels)
        lefts = [-1] * count
        rights = [-1] * count
        stack: list[int] = []
        for position, priority in enumerate(priorities):
            last = -1
            while stack and priorities[stack[-1]] < priority:
                last = stack.pop()
            lefts[position] = last
            if stack:
                rights[stack[-1]] = position
            stack.append(position)
        if not stack:
            return cls()
        preorder: list[int] = []
        todo = [stack[0]]
        while todo:
            position = todo.pop()
            if position >= 0:
                preorder.append(position)
                todo.append(lefts[position])
                todo.append(rights[position])
        built: list[_MapNode | None] = [None] * count
        for position in reversed(preorder):
            left, right = lefts[position], rights[position]
            label = labels[position]
            value, labeled, priority = parts[label]
            built[position] = _MapNode(
                label, value, labeled, priority,
                built[left] if left >= 0 else None, built[right] if right >= 0 else None,
            )
        return cls(built[stack[0]])

    @property
    def digest(self) -> bytes:
        """The root hash of the level as a hash tree (the empty tree's hash when empty)."""
        return self._root.digest if self._root is not None else _EMPTY_HASH

    def __len__(self) -> int:
        return self._root.size if self._root is not None else 0

    def __contains__(self, label: object) -> bool:
        return isinstance(label, bytes | str) and self._node(_label_bytes(label)) is not None

    def get(self, label: Label) -> MapValue | None:
        node = self._node(_label_bytes(label))
        return node.value if node is not None else None

    def labels(self) -> list[bytes]:
        """Every label, sorted (O(n))."""
        out: list[bytes] = []
        stack: list[_MapNode] = []
        node = self._root
        while stack or node is not None:
            while node is not None:
                stack.append(node)
                node = node.left
            node = stack.pop()
            out.append(node.label)
            node = node.right
        return out

    def set(self, label: Label, value: object) -> LabeledMap:
        """A map with ``label`` bound to ``value`` (as `from_items` takes values)."""
        raw = _label_bytes(label)
        return LabeledMap(_insert(self._root, _new_node(raw, _map_value(value, raw))))

    def remove(self, label: Label) -> LabeledMap:
        """A map without ``label`` (the same map if it has none)."""
        root = _remove(self._root, _label_bytes(label))
        return self if root is self._root else LabeledMap(root)

    def to_tree(self) -> HashTree:
        """The whole level as a plain hash tree (O(n); for tests and full reveals)."""
        return _full(self._root) or Empty()

    def witness(self, paths: Iterable[Path]) -> HashTree:
        """A witness for ``paths`` with this level as the root; see `prune`."""
        trie = _path_trie(paths)
        if trie is None:
            return self.to_tree()
        return self._witness(trie)

    def _node(self, label: bytes) -> _MapNode | None:
        node = self._root
        while node is not None:
            if label < node.label:
                node = node.left
            elif label > node.label:
                node = node.right
            else:
                return node
        return None

    def _neighbours(self, label: bytes) -> tuple[bytes | None, bytes | None]:
        """The labels just below and just above an absent ``label``."""
        below: bytes | None = None
        above: bytes | None = None
        node = self._root
        while node is not None:
            if node.label < label:
                below = node.label
                node = node.right
            else:
                above = node.label
                node = node.left
        return below, above

    def _witness(self, trie: _Trie) -> HashTree:
        reveal: dict[bytes, _Trie | str | None] = {}
        for label, sub in trie.items():
            if self._node(label) is not None:
                reveal[label] = sub
                continue
            for neighbour in self._neighbours(label):
                if neighbour is not None:
                    reveal.setdefault(neighbour, _LABEL_ONLY)
        return _witness_node(self._root, reveal, sorted(reveal)) or Empty()


def _map_value(value: object, label: bytes) -> MapValue:
    if isinstance(value, LabeledMap | Mapping):
        return value
    return _build_value(value, label)


def _path_trie(paths: Iterable[Path]) -> _Trie | None:
    """The requested paths as a trie of labels (None: a path asks for everything)."""
    trie: _Trie = {}
    for path in paths:
        labels = [_label_bytes(label) for label in path]
        if not labels:
            return None
        node = trie
        for depth, label in enumerate(labels):
            if label in node and node[label] is None:
                break
            if depth == len(labels) - 1:
                node[label] = None
                break
            child = node.setdefault(label, {})
            assert child is not None
            node = child
    return trie


def _full(node: _MapNode | None) -> HashTree | None:
    if node is None:
        return None
    value = node.value
    labeled = Labeled(node.label, _value_tree(value, node.label))
    return _join(_join(_full(node.left), labeled), _full(node.right))


def _witness_node(node: _MapNode | None, reveal: Mapping[bytes, _Trie | str | None],
                  wanted: list[bytes]) -> HashTree | None:
    if node is None:
        return None
    if not _any_between(wanted, (node.low, node.high)):
        return Pruned(node.digest)
    labeled: HashTree
    if node.label not in reveal:
        labeled = Pruned(node.labeled_digest)
    else:
        action = reveal[node.label]
        value = node.value
        if action is None:
            labeled = Labeled(node.label, _value_tree(value, node.label))
        elif isinstance(action, str):
            labeled = Labeled(node.label, Pruned(_value_digest(value)))
        elif isinstance(value, LabeledMap):
            labeled = Labeled(node.label, value._witness(action))
        else:
            labeled = Labeled(node.label,
                              _Pruner(None).level(_value_tree(value, node.label), action))
    left = _witness_node(node.left, reveal, wanted)
    return _join(_join(left, labeled), _witness_node(node.right, reveal, wanted))
