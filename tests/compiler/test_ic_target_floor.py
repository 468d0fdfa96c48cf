"""The SDK's Python floor: what runs inside canisters parses with CPython 3.11's grammar.

The IC target runs CPython 3.11 (`icframework.compiler.ic_target.CPYTHON_VERSION`) and
the component target a newer one, so the code both bundle (``icframework.core``,
``candid``, ``sdk``), the IC runtime's guest modules, the app templates and the
reference apps' canister code must stay within 3.11 (docs/ic-target.md, "Python
version"). ``ast.parse(feature_version=...)`` rejects newer syntax (``type`` aliases,
type parameter lists, ``except*`` before 3.11, ...) whatever the host's own version.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from icframework.compiler.ic_target import CPYTHON_VERSION

ROOT = Path(__file__).resolve().parents[2]
FLOOR = (3, 11)


def canister_sources() -> list[Path]:
    files: list[Path] = []
    for package in ("core", "candid", "sdk"):
        files += sorted((ROOT / "icframework" / package).rglob("*.py"))
    files += sorted((ROOT / "icframework" / "compiler" / "ic_target" / "guest").glob("*.py"))
    files += sorted((ROOT / "icframework" / "compiler" / "templates").rglob("canister*.tmpl"))
    for app in sorted((ROOT / "apps").iterdir()):
        files += sorted(app.glob("canister.py")) + sorted((app / "canister").rglob("*.py"))
    return files


def test_the_floor_is_the_ic_targets_cpython() -> None:
    assert CPYTHON_VERSION == FLOOR


@pytest.mark.parametrize("path", canister_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_parses_with_the_floor_grammar(path: Path) -> None:
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=FLOOR)


def test_newer_syntax_is_caught() -> None:
    with pytest.raises(SyntaxError):
        ast.parse("type Alias = int\n", feature_version=FLOOR)
    with pytest.raises(SyntaxError):
        ast.parse("def first[T](items: list[T]) -> T: ...\n", feature_version=FLOOR)
