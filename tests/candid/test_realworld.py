"""Real-world .did files nobody here wrote: every one parses (or is refused where the
reference parser refuses it), prints in both styles, re-parses to the same interface,
and prints, in the reference style, exactly the reference printer's golden output.

DFINITY's files (Apache-2.0) are kept in ``tests/candid/realworld/`` (see its
SOURCES.md); OpenChat's and two third-party copies of Internet Identity's are read from
``shared/conformance/candid-realworld/`` next to the repository when it is there (133
files in all then). ``candid-assets/ok/*.did`` is what the reference parser prints for
``candid-assets/*.did`` and ``candid-assets/ok/*.fail`` its error for a file it rejects.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from icframework.candid.did import load_did, parse_did, same_did, same_type
from icframework.candid.errors import CandidParseError
from icframework.candid.printer import format_did
from icframework.candid.types import DidFile

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "realworld"
SHARED = REPO.parent / "shared" / "conformance" / "candid-realworld"
ASSETS = CORPUS / "candid-assets"
GOLDEN = ASSETS / "ok"
#: How many files the kept corpus holds, and the whole one with the shared folder.
KEPT_FILES, ALL_FILES = 84, 133

#: Files the reference parser refuses (each has a ``ok/<name>.fail``): the words of its
#: message that say why, then the words of ours.
REFUSED_BY_REFERENCE = {
    "bad_comment": ("Unclosed comment", "block comment '/*' is never closed"),
    "bad_import": ('Cannot import "no_such_file.did"', "cannot import 'no_such_file.did'"),
    "bad_import2": (
        'Imported service file "import/a.did" has a service constructor',
        "'import service' of 'import/a.did' (at '", "whose service is a class",
    ),
    "bad_import3": ("duplicate binding for f", "type 'f' is defined twice"),
    "bad_import_duplicate_method": (
        "Duplicate imported method name: label 'f'",
        "method 'f' of the imported service is already declared",
    ),
    "bad_import_no_service": (
        'Imported service file "import/no_service.did" has no main service',
        "'import service' of 'import/no_service.did' (at '", "which declares no service",
    ),
    "collision_fields": ("label '2' hash collision with '2'", "record field 2 is declared twice"),
    "collision_fields2": (
        "label '📦🍦' hash collision with '1_832_283_146'",
        "record field '📦🍦' has the same id 1832283146",
    ),
    "invalid_cyclic": ("has cyclic type definition", "type alias cycle without a constructor"),
    "not_func": ("is a non-function type", "must name a func type"),
    "not_serv": ("not a service type: func", "must name a service type, but it is a func type"),
    "oneway": ("oneway function has non-unit return type", "a oneway function has no results"),
    "surrogate": ("Unicode escape out of range D800", "escape '\\u{D800}' is not a Unicode"),
    "undefine": ("Unbound type identifier a", "unknown type 'a'"),
}

#: Other files that cannot be read whole: OpenChat's sns_ledger.did imports a file that
#: does not exist at that path in its own repository (SOURCES.md).
REFUSED_AT_SOURCE = {
    "openchat/sns/candid/sns_ledger.did": (
        "cannot import '../../external_canisters/icrc_ledger/api/can.did' (at '",
        "/candid-realworld/openchat/external_canisters/icrc_ledger/api/can.did'",
        "No such file or directory",
    ),
}


def root_of(relative: str) -> Path:
    """The folder holding corpus file ``relative``: the kept one, else the shared one."""
    return CORPUS if (CORPUS / relative).is_file() else SHARED


def corpus_files() -> list[str]:
    kept = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.did")}
    shared = (
        {p.relative_to(SHARED).as_posix() for p in SHARED.rglob("*.did")}
        if SHARED.is_dir() else set()
    )
    return sorted(kept | shared)


def refused() -> set[str]:
    """The corpus files that must be refused, as paths relative to the corpus."""
    out = {f"candid-assets/{name}.did" for name in REFUSED_BY_REFERENCE}
    return out | {f for f in REFUSED_AT_SOURCE if (SHARED / f).is_file()}


def load(relative: str) -> DidFile:
    return load_did(root_of(relative) / relative)


def same_interface(a: DidFile, b: DidFile) -> bool:
    """The same definitions (in any order) and the same service."""
    if set(a.env) != set(b.env) or not all(same_type(a.env[n], b.env[n]) for n in a.env):
        return False
    if a.service is None or b.service is None:
        return a.service is None and b.service is None
    return same_type(a.service, b.service) and (a.service_args is None) == (
        b.service_args is None
    )


def test_corpus_is_all_there() -> None:
    files = corpus_files()
    assert len(files) == (ALL_FILES if SHARED.is_dir() else KEPT_FILES)
    fails = sorted(p.stem for p in GOLDEN.glob("*.fail"))
    # A new golden failure in the corpus must be looked at and added above.
    assert fails == sorted(REFUSED_BY_REFERENCE)
    assert refused() <= set(files)


@pytest.mark.parametrize(
    "relative", [f for f in corpus_files() if f not in refused()]
)
def test_parses_prints_and_reparses(relative: str) -> None:
    did = load(relative)
    printed = format_did(did)
    again = parse_did(printed)
    assert same_did(again, did)
    assert format_did(again) == printed


@pytest.mark.parametrize("name", sorted(REFUSED_BY_REFERENCE))
def test_refused_where_the_reference_refuses(name: str) -> None:
    theirs, *ours = REFUSED_BY_REFERENCE[name]
    golden = (GOLDEN / f"{name}.fail").read_text(encoding="utf-8")
    assert theirs in golden
    source = ASSETS / f"{name}.did"
    with pytest.raises(CandidParseError) as info:
        load_did(source)
    assert all(words in str(info.value) for words in ours)
    # Where the reference names a byte span, our line and column fall inside it.
    span = re.search(r" at (\d+)\.\.(\d+)$", golden.strip())
    if span is not None:
        lines = source.read_text(encoding="utf-8").split("\n")
        before = "".join(line + "\n" for line in lines[: info.value.line - 1])
        offset = len((before + lines[info.value.line - 1][: info.value.column - 1]).encode())
        assert int(span[1]) <= offset < int(span[2])


@pytest.mark.parametrize(
    "relative", sorted(f for f in REFUSED_AT_SOURCE if (SHARED / f).is_file())
)
def test_refused_when_an_import_is_missing_at_its_source(relative: str) -> None:
    with pytest.raises(CandidParseError) as info:
        load(relative)
    assert all(words in str(info.value) for words in REFUSED_AT_SOURCE[relative])


@pytest.mark.parametrize(
    "relative", [f for f in corpus_files() if f not in refused()]
)
def test_reference_style_reparses_to_the_same_interface(relative: str) -> None:
    did = load(relative)
    printed = format_did(did, style="reference")
    again = parse_did(printed)
    assert same_interface(again, did)
    # Doc comments and argument names survive the trip. (A service merged from
    # imports lists its methods in name order once it stands alone, as the
    # reference's does, so the second print is the fixed point.)
    settled = format_did(again, style="reference")
    assert format_did(parse_did(settled), style="reference") == settled
    if not did.order:
        assert settled == printed


def golden_names() -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob("*.did")) if GOLDEN.is_dir() else []


def test_every_golden_is_compared() -> None:
    assert len(golden_names()) == 17


@pytest.mark.parametrize("name", golden_names())
def test_matches_the_reference_printer(name: str) -> None:
    golden = (GOLDEN / f"{name}.did").read_text(encoding="utf-8")
    assert format_did(load_did(ASSETS / f"{name}.did"), style="reference") == golden


def test_imports_are_relative_to_the_importing_file_and_read_once() -> None:
    read: list[str] = []

    def loader(path: str) -> str:
        read.append(path)
        return (root_of(path) / path).read_text(encoding="utf-8")

    did = parse_did(
        (ASSETS / "example.did").read_text(encoding="utf-8"),
        load=loader,
        path="candid-assets/example.did",
    )
    # import/a.did imports "b/b.did", which is import/b/b.did; example.did imports that
    # file too (with its service), and it is read once.
    assert read == [
        "candid-assets/recursion.did",
        "candid-assets/import/a.did",
        "candid-assets/import/b/b.did",
    ]
    assert did.service is not None
    assert "bbbbb" in format_did(did)
