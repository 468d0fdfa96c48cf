"""Hash trees: the spec's example, lookup, build, prune, well-formedness, CBOR round trip."""

from __future__ import annotations

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.protocol import (
    Empty,
    Fork,
    HashTree,
    HashTreeError,
    Labeled,
    Leaf,
    LookupStatus,
    Pruned,
    build_tree,
    check_well_formed,
    decode_tree,
    encode_tree,
    lookup_path,
    lookup_value,
    prune,
    reconstruct,
)
from icframework.protocol.hashtree import LabeledMap, index_tree, tree_to_cbor_value

# Interface spec, "Certification" > "Example".
SPEC_TREE_CBOR = bytes.fromhex(
    "8301830183024161830183018302417882034568656c6c6f810083024179820345776f726c6483024162"
    "820344676f6f648301830241638100830241648203476d6f726e696e67"
)
SPEC_PRUNED_CBOR = bytes.fromhex(
    "83018301830241618301820458201b4feff9bef8131788b0c9dc6dbad6e81e524249c879e9f10f71ce3749"
    "f5a63883024179820345776f726c6483024162820458207b32ac0c6ba8ce35ac82c255fc7906f7fc130dab"
    "2a090f80fe12f9c2cae83ba6830182045820ec8324b8a1f1ac16bd2e806edba78006479c9877fed4eb464a"
    "25485465af601d830241648203476d6f726e696e67"
)
SPEC_ROOT = "eb5c5b2195e62d996b84c9bcc8259d19a83786a2f59e0878cec84c811f669aa0"
SPEC_TREE = Fork(
    Fork(
        Labeled(
            b"a", Fork(Fork(Labeled(b"x", Leaf(b"hello")), Empty()), Labeled(b"y", Leaf(b"world")))
        ),
        Labeled(b"b", Leaf(b"good")),
    ),
    Fork(Labeled(b"c", Empty()), Labeled(b"d", Leaf(b"morning"))),
)


def test_spec_example_tree() -> None:
    assert decode_tree(SPEC_TREE_CBOR) == SPEC_TREE
    assert cbor2.dumps(tree_to_cbor_value(SPEC_TREE)) == SPEC_TREE_CBOR
    assert encode_tree(SPEC_TREE) == b"\xd9\xd9\xf7" + SPEC_TREE_CBOR
    assert reconstruct(SPEC_TREE).hex() == SPEC_ROOT
    check_well_formed(SPEC_TREE)


def test_spec_example_pruning_and_lookups() -> None:
    pruned = prune(SPEC_TREE, [["a", "y"], ["ax"], ["d"]])
    assert cbor2.dumps(tree_to_cbor_value(pruned)) == SPEC_PRUNED_CBOR
    assert prune(SPEC_TREE, [["a", "y"], ["ax"], ["d"]], index_tree(SPEC_TREE)) == pruned
    assert decode_tree(SPEC_PRUNED_CBOR) == pruned
    assert reconstruct(pruned).hex() == SPEC_ROOT
    expected = {
        ("a", "a"): LookupStatus.UNKNOWN,
        ("a", "y"): LookupStatus.FOUND,
        ("aa",): LookupStatus.ABSENT,
        ("ax",): LookupStatus.ABSENT,
        ("b",): LookupStatus.UNKNOWN,
        ("bb",): LookupStatus.UNKNOWN,
        ("d",): LookupStatus.FOUND,
        ("e",): LookupStatus.ABSENT,
    }
    for path, status in expected.items():
        assert lookup_path(path, pruned).status is status, path
    assert lookup_value(["a", "y"], pruned) == b"world"
    assert lookup_value(["d"], pruned) == b"morning"


def test_lookup_outcomes_on_full_tree() -> None:
    assert lookup_value(["a", "x"], SPEC_TREE) == b"hello"
    assert lookup_path(["a"], SPEC_TREE).status is LookupStatus.ERROR
    assert lookup_path(["c"], SPEC_TREE).status is LookupStatus.ABSENT
    assert lookup_path(["a", "x", "z"], SPEC_TREE).status is LookupStatus.ABSENT
    assert lookup_path([], Pruned(b"\x00" * 32)).status is LookupStatus.UNKNOWN


def test_build_tree_sorts_balances_and_encodes_values() -> None:
    tree = build_tree({"d": b"morning", "b": "good", "a": {"y": b"world", "x": b"hello"}, "c": {}})
    check_well_formed(tree)
    assert lookup_value(["a", "x"], tree) == b"hello"
    assert lookup_value(["b"], tree) == b"good"
    assert lookup_path(["c"], tree).status is LookupStatus.ABSENT
    assert build_tree({"n": 624485}) == Labeled(b"n", Leaf(bytes.fromhex("e58e26")))
    assert build_tree({}) == Empty()
    assert build_tree({"t": SPEC_TREE}) == Labeled(b"t", SPEC_TREE)
    wide = build_tree({bytes([i]): b"" for i in range(7)})
    assert isinstance(wide, Fork)
    with pytest.raises(HashTreeError, match="appears twice"):
        build_tree({"a": b"", b"a": b""})
    with pytest.raises(HashTreeError, match="value under label b'f' has type float"):
        build_tree({"f": 1.5})


def test_prune_reveals_whole_subtrees_and_absence() -> None:
    tree = build_tree(
        {"request_status": {b"\x01" * 32: {"status": "replied", "reply": b"R"}}, "time": 5}
    )
    witness = prune(tree, [["request_status", b"\x01" * 32], ["time"]])
    assert witness == tree
    witness = prune(tree, [["time"]])
    assert reconstruct(witness) == reconstruct(tree)
    assert (
        lookup_path(["request_status", b"\x01" * 32, "status"], witness).status
        is LookupStatus.UNKNOWN
    )
    absent = prune(tree, [["request_status", b"\x02" * 32]])
    assert lookup_path(["request_status", b"\x02" * 32], absent).status is LookupStatus.ABSENT
    assert lookup_path(["time"], absent).status is LookupStatus.UNKNOWN


def test_ill_formed_trees() -> None:
    with pytest.raises(HashTreeError, match=r"label b'a' does not come after b'b'"):
        check_well_formed(Fork(Labeled(b"b", Empty()), Labeled(b"a", Empty())))
    with pytest.raises(HashTreeError, match="mixes a leaf with other nodes"):
        check_well_formed(Fork(Leaf(b"v"), Labeled(b"a", Empty())))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "a hash tree node is a non-empty array"),
        ([9], "unknown hash tree node tag 9"),
        ([1, [0]], "node with tag 1 has 2 elements; expected 3"),
        ([3, "text"], "node with tag 3 needs bytes, got str"),
        ([4, b"short"], "pruned hash is 5 bytes; expected 32"),
        ([True], "unknown hash tree node tag True"),
    ],
)
def test_decode_errors(value: object, message: str) -> None:
    with pytest.raises(HashTreeError, match=message):
        decode_tree(cbor2.dumps(value))


def test_decode_rejects_bad_cbor() -> None:
    with pytest.raises(HashTreeError, match="hash tree is not valid CBOR"):
        decode_tree(b"\x83\x01")


labels = st.binary(max_size=6)
trees: st.SearchStrategy[HashTree] = st.recursive(
    st.just(Empty())
    | st.builds(Leaf, st.binary(max_size=16))
    | st.builds(Pruned, st.binary(min_size=32, max_size=32)),
    lambda children: st.builds(Fork, children, children) | st.builds(Labeled, labels, children),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(trees)
def test_cbor_round_trip(tree: HashTree) -> None:
    assert decode_tree(encode_tree(tree)) == tree
    assert reconstruct(decode_tree(encode_tree(tree))) == reconstruct(tree)


nested = st.recursive(
    st.binary(max_size=8),
    lambda children: st.dictionaries(st.binary(min_size=1, max_size=4), children, max_size=5),
    max_leaves=25,
).filter(lambda v: isinstance(v, dict))


@settings(max_examples=100, deadline=None)
@given(
    nested,
    st.lists(st.lists(st.binary(min_size=1, max_size=4), min_size=1, max_size=3), max_size=4),
)
def test_prune_keeps_root_and_answers(data: dict[bytes, object], paths: list[list[bytes]]) -> None:
    tree = build_tree(data)
    check_well_formed(tree)
    # A map keeps nested mappings unbuilt until revealed; its hashes are build_tree's.
    kept = LabeledMap.from_items({b"x": data})
    assert kept.digest == reconstruct(kept.to_tree())
    assert kept.to_tree() == build_tree({b"x": data})
    witness = prune(tree, paths)
    assert reconstruct(witness) == reconstruct(tree)
    # Pruning with the tree's index (cached hashes, skipped forks) gives the same witness.
    assert prune(tree, paths, index_tree(tree)) == witness
    for path in paths:
        full = lookup_path(path, tree)
        if full.status is not LookupStatus.ERROR:
            # A witness proves every requested path exactly as the full tree does.
            assert lookup_path(path, witness) == full, path


labels = st.binary(min_size=1, max_size=3)
edits = st.lists(st.tuples(labels, st.none() | st.binary(max_size=4)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(labels, st.binary(max_size=4), max_size=30), edits,
       st.lists(st.lists(labels, min_size=1, max_size=2), max_size=4))
def test_labeled_map_matches_a_fresh_build(
    start: dict[bytes, bytes], changes: list[tuple[bytes, bytes | None]],
    paths: list[list[bytes]],
) -> None:
    kept = LabeledMap.from_items({key: {b"v": value} for key, value in start.items()})
    expected = dict(start)
    for key, value in changes:
        if value is None:
            kept = kept.remove(key)
            expected.pop(key, None)
        else:
            kept = kept.set(key, {b"v": value})
            expected[key] = value
    fresh = LabeledMap.from_items({key: {b"v": value} for key, value in expected.items()})
    # The shape depends only on the labels: edits and a fresh build agree on the hash.
    assert kept.digest == fresh.digest == reconstruct(kept.to_tree())
    assert len(kept) == len(expected) and kept.labels() == sorted(expected)
    tree = kept.to_tree()
    check_well_formed(tree)
    witness = kept.witness(paths)
    assert reconstruct(witness) == kept.digest
    for path in paths:
        for probe in (path, [*path, b"v"]):
            full = lookup_path(probe, tree)
            if full.status is not LookupStatus.ERROR:
                assert lookup_path(probe, witness) == full, probe


def test_labeled_map_witness_hides_other_entries() -> None:
    entries = {bytes([n]) * 4: {"status": "replied", "reply": bytes([n])} for n in range(200)}
    kept = LabeledMap.from_items(entries)
    witness = kept.witness([[b"\x07" * 4]])
    assert lookup_value([b"\x07" * 4, "reply"], witness) == b"\x07"
    assert lookup_path([b"\x08" * 4, "reply"], witness).status is LookupStatus.UNKNOWN
    # Near log2(200) nodes, not 200 entries.
    assert len(encode_tree(witness)) < 2_000
    nested = LabeledMap.from_items({"request_status": kept, "time": 5})
    assert lookup_value(["request_status", b"\x07" * 4, "status"],
                        nested.witness([["request_status", b"\x07" * 4]])) == b"replied"
    assert lookup_value(["time"], nested.witness([["time"]])) == b"\x05"
