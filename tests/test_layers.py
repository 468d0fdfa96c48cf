"""Enforce ARCHITECTURE.md's one-way layer rules with a static scan of every import.

Rules checked:
1. A package may import only packages of a strictly lower layer (and itself).
2. ``core``, ``candid`` and ``sdk`` are bundled into canisters: standard library and
   lower pure packages only.
3. ``agent`` is a client library: no Django, no replica, no compiler.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "icframework"

LAYERS: dict[str, int] = {
    "core": 0,
    "abi": 0,
    "candid": 1,
    "identity": 1,
    "protocol": 2,
    "sdk": 2,
    "compiler": 3,
    "replica": 3,
    "agent": 3,
    "conf": 2,  # the settings accessor (imports nothing of ours): read by replica and adapters
    "deployments": 4,  # the project's deploy record (agent's network names)
    "management": 7,  # commands wire the adapters together
    "pages": 5,  # what the apps' views share: records checked against the replica
    "demo": 5,  # what the apps' demo seeders share
    "templatetags": 5,  # the app shell's template tags (navigation between the apps)
    "security_headers": 6,  # middleware: the pages' origin policy (uses pages)
    "dashboard": 5,  # pages over the replica and the deploy record (names)
    "channels": 6,  # sockets: the canister socket, and the dashboard's live figures
    "apps": 4,
    "__init__": 0,
}
PURE = {"core", "abi", "candid", "sdk", "__init__"}
FORBIDDEN_EXTRA: dict[str, set[str]] = {"agent": {"django", "channels", "daphne"}}


def _unit_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: use absolute imports")
            if node.module:
                found.append((node.lineno, node.module))
    return found


def _violations() -> list[str]:
    problems: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = _unit_of(path)
        layer = LAYERS[unit]
        where = path.relative_to(ROOT)
        for lineno, module in _imports(path):
            top = module.split(".")[0]
            if top == "icframework":
                parts = module.split(".")
                target = parts[1] if len(parts) > 1 else "__init__"
                if target == unit:
                    continue
                if LAYERS[target] >= layer:
                    problems.append(
                        f"{where}:{lineno}: {unit} (layer {layer}) imports {module} "
                        f"(layer {LAYERS[target]}); imports must point to lower layers"
                    )
                elif unit in PURE and target not in PURE:
                    problems.append(f"{where}:{lineno}: pure package {unit} imports {module}")
            elif unit in PURE and top not in sys.stdlib_module_names and top != "__future__":
                problems.append(
                    f"{where}:{lineno}: {unit} runs inside canisters and may import only the "
                    f"standard library, not {module}"
                )
            if top in FORBIDDEN_EXTRA.get(unit, set()):
                problems.append(f"{where}:{lineno}: {unit} must not import {module}")
    return problems


def test_every_package_has_a_layer() -> None:
    units = {_unit_of(p) for p in PACKAGE.rglob("*.py")}
    missing = sorted(units - LAYERS.keys())
    assert not missing, f"add these icframework packages to LAYERS in {__file__}: {missing}"


def test_imports_point_down_the_layers() -> None:
    problems = _violations()
    assert not problems, "layer violations:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("unit", "source", "expected"),
    [
        ("core", "import json\nimport cbor2\n", "may import only the standard library"),
        ("candid", "from icframework.protocol import x\n", "imports must point to lower layers"),
        ("replica", "from icframework.agent import x\n", "imports must point to lower layers"),
        ("agent", "import django\n", "must not import django"),
    ],
)
def test_checker_catches_violations(
    unit: str, source: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "icframework" / unit
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "icframework")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    problems = _violations()
    assert any(expected in p for p in problems), problems
