"""Enforce ARCHITECTURE.md's one-way layer rules with a static scan of every import.

Rules checked:
1. A package may import only packages of a strictly lower layer (and itself).
2. ``core``, ``candid`` and ``sdk`` are bundled into canisters: standard library and
   lower pure packages only.
3. ``agent`` is a client library: no Django, no replica, no compiler.
4. The replica has one public face: code outside ``icframework/replica/`` (the rest of
   the package, the apps, ``config``) imports ``icframework.replica`` and nothing
   deeper, and only names in its ``__all__``. Tests and benchmarks of the replica's
   internals are exempt; so are the apps' tests. Nor do they reach through a
   `Replica` into its subnet (``replica.subnet``): `Replica` offers what they read, and
   `SubnetDriver` what a scale-out writer, which runs a subnet's rounds itself, drives.
"""

from __future__ import annotations

import ast
import os
import subprocess
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
    "workers": 4,  # off-chain Celery workers: broker settings, in-process worker, identity
    "scaleout": 7,  # subnet writers and front ends over PostgreSQL and a broker
    "management": 8,  # commands wire the adapters together
    "pages": 5,  # what the apps' views share: records checked against the replica
    "demo": 5,  # what the apps' demo seeders share
    "templatetags": 5,  # the app shell's template tags (navigation between the apps)
    "security_headers": 6,  # middleware: the pages' origin policy (uses pages)
    "dashboard": 5,  # pages over the replica and the deploy record (names)
    "channels": 6,  # sockets: the canister socket, and the dashboard's live figures
    "apps": 4,
    "testing": 4,  # the test driver: an app on any target (compiler, replica, sdk)
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


FACADE = "icframework.replica"
FACADE_USERS = ("icframework", "apps", "config")
FACADE_EXEMPT = {("icframework", "replica")}


def _facade_files() -> list[Path]:
    files: list[Path] = []
    for top in FACADE_USERS:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel.parts[:2] in FACADE_EXEMPT or "tests" in rel.parts:
                continue
            files.append(path)
    return files


def _facade_exports(root: Path) -> set[str]:
    init = root / "icframework" / "replica" / "__init__.py"
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{init} defines no __all__")


def _is_replica(node: ast.expr) -> bool:
    """Whether ``node`` names a replica (``replica``, ``self._replica``, ``copy.replica``):
    its ``.subnet`` is the replica's internals, unlike a registry's ``subnet(name)`` or
    an object's own ``subnet`` name."""
    name = node.id if isinstance(node, ast.Name) else (
        node.attr if isinstance(node, ast.Attribute) else ""
    )
    return name.lstrip("_").lower().endswith("replica")


def _facade_violations(files: list[Path], root: Path = ROOT) -> list[str]:
    exported = _facade_exports(root)
    problems: list[str] = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(root)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "subnet"
                and _is_replica(node.value)
            ):
                problems.append(
                    f"{where}:{node.lineno}: reaches into the replica's subnet; use what "
                    "Replica offers (add it there if it is missing)"
                )
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            modules: list[tuple[str, list[str]]] = []
            if isinstance(node, ast.Import):
                modules = [(alias.name, []) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [(node.module, [alias.name for alias in node.names])]
            for module, names in modules:
                if module.startswith(FACADE + "."):
                    problems.append(
                        f"{where}:{node.lineno}: imports {module}; import from {FACADE} "
                        "(its __all__) instead"
                    )
                elif module == FACADE:
                    for name in sorted(set(names) - exported):
                        problems.append(
                            f"{where}:{node.lineno}: {FACADE} does not export {name!r}"
                        )
    return problems


def test_outsiders_use_the_replica_facade() -> None:
    problems = _facade_violations(_facade_files())
    assert not problems, "replica facade violations:\n" + "\n".join(problems)


def test_facade_checker_catches_deep_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from icframework.replica.subnet import Subnet\n"
        "from icframework.replica import NotExported\n"
        "height = replica.subnet.height\n"
        "routing = self._replica.subnet.routing\n"
        "record = registry.subnet('app1')\n"
        "name = self.subnet\n"
    )
    init = tmp_path / "icframework" / "replica" / "__init__.py"
    init.parent.mkdir(parents=True)
    init.write_text('__all__ = ["Replica"]\n')
    problems = _facade_violations([bad], root=tmp_path)
    assert any("import from icframework.replica" in p for p in problems), problems
    assert any("does not export 'NotExported'" in p for p in problems), problems
    reaches = [p for p in problems if "reaches into the replica's subnet" in p]
    assert [p.split(":")[1] for p in reaches] == ["3", "4"], problems


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


def test_importing_the_replica_does_not_load_psycopg() -> None:
    """The PostgreSQL pieces load on first use: a process that imports the replica pays
    for psycopg only when it touches `PostgresStateStore` and the like."""
    probe = (
        "import sys\n"
        "import icframework.replica as replica\n"
        "print('psycopg' in sys.modules)\n"
        "from icframework.replica import PostgresRegistry, PostgresStateStore\n"
        "print('psycopg' in sys.modules, PostgresStateStore.__module__, "
        "PostgresRegistry.__module__, replica.WriterLease.__name__, replica.LeaseLost.__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split("\n")[:2] == [
        "False",
        "True icframework.replica.postgres_store icframework.replica.postgres_registry "
        "WriterLease LeaseLost",
    ], result.stdout + result.stderr


def test_importing_the_dashboard_and_the_urlconf_does_not_load_psycopg() -> None:
    """The dashboard (whose subnet list reads the writer leases of a scale-out front end)
    and the site's URLconf, which mounts it, load psycopg only when a lease is read."""
    probe = (
        "import os, sys\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'\n"
        "import django\n"
        "django.setup()\n"
        "import icframework.dashboard.subnets, icframework.dashboard.views\n"
        "from django.urls import get_resolver, reverse\n"
        "get_resolver().url_patterns\n"
        "print('psycopg' in sys.modules, reverse('dashboard:index'))\n"
        "from icframework.dashboard.subnets import _lease\n"
        "_lease('postgresql://127.0.0.1:1/none?connect_timeout=1', 'app1')\n"
        "print('psycopg' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICFRAMEWORK_")}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
        env=env,
    )
    lines = result.stdout.split("\n")
    assert lines[0].startswith("False /"), result.stdout + result.stderr
    assert lines[1] == "True", result.stdout + result.stderr


def test_the_replica_facade_refuses_unknown_names() -> None:
    import icframework.replica as replica

    with pytest.raises(AttributeError, match="has no attribute 'NoSuchThing'"):
        getattr(replica, "NoSuchThing")  # noqa: B009
