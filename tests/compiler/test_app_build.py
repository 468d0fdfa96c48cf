"""`icframework.compiler.app_build`: collecting, validating, caching and scaffolding apps."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from icframework.candid import INT, decode, encode
from icframework.compiler.app_build import (
    PACKAGE_ENTRY,
    BuildError,
    BuildResult,
    ScaffoldError,
    build_app,
    find_apps,
    load_app,
    scaffold_app,
    unknown_app_message,
)
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.replica.execution.wasm_module import load_canister_module
from icframework.sdk import LocalCanister
from tests.compiler.runtime_support import CACHE_DIR

COUNTER = """\
from icframework.sdk import StableCell, nat, query, update

count = StableCell[nat]("count", default=0)


@update
def increment() -> nat:
    count.set(count.get() + 1)
    return count.get()


@query
def get() -> nat:
    return count.get()
"""

COUNTER_DID = """\
service : {
  get : () -> (nat) query;
  increment : () -> (nat);
}
"""


def write_app(root: Path, files: dict[str, str], name: str = "counter") -> Path:
    app = root / "apps" / name
    for path, text in files.items():
        (app / path).parent.mkdir(parents=True, exist_ok=True)
        (app / path).write_text(text)
    return app


def build(app: Path, tmp_path: Path) -> BuildResult:
    return build_app(app, pack_python_module, cache_dir=tmp_path / "cache", progress=None)


def test_build_writes_the_did_and_packs_it_with_the_sources(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"canister.py": COUNTER})
    result = build_app(app, pack_python_module, cache_dir=tmp_path / "cache", progress=None)
    assert result.did == COUNTER_DID
    assert (app / "counter.did").read_text() == COUNTER_DID
    assert result.did_path == app / "counter.did"
    assert result.wasm_path == tmp_path / "cache" / "counter" / f"{result.key}.wasm"
    assert result.wasm_path.read_bytes() == result.wasm and not result.cached
    module = load_canister_module(result.wasm)
    assert module.python_app is not None
    assert module.python_app.entry == "canister.py"
    assert module.python_app.source == COUNTER
    assert module.metadata["candid:service"].content == COUNTER_DID.encode()


def test_unchanged_sources_hit_the_cache_and_edits_rebuild(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"canister.py": COUNTER})
    first = build_app(app, pack_python_module, cache_dir=tmp_path / "cache", progress=None)
    (app / "counter.did").unlink()
    lines: list[str] = []
    again = build_app(app, pack_python_module, cache_dir=tmp_path / "cache", progress=lines.append)
    assert again.cached and again.key == first.key and again.wasm == first.wasm
    assert lines == [] and (app / "counter.did").read_text() == COUNTER_DID
    (app / "canister.py").write_text(COUNTER + "\n\n@query\ndef hello() -> str:\n    return 'hi'\n")
    edited = build_app(app, pack_python_module, cache_dir=tmp_path / "cache", progress=lines.append)
    assert not edited.cached and edited.key != first.key
    assert "hello : () -> (text) query;" in edited.did
    assert any("checking 1 file(s)" in line for line in lines)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("from icframework.sdk import query\n\n@query\ndef f( -> str:\n", r"canister\.py:4: "
         r"SyntaxError: "),
        ("import json\nimport requests\n", r"canister\.py:2: 'requests' is not available in a "
         r"canister: use the standard library and icframework\.sdk"),
        ("from icframework.replica import embedded\n", r"canister\.py:1: 'icframework\.replica'"),
        ("from icframework.sdk import query\n\nX = {}\nY = X['missing']\n",
         r"canister\.py:4: KeyError: 'missing'"),
        ("from icframework.sdk import query\n\n\n@query\ndef f(x: object) -> str:\n"
         "    return ''\n", r"canister\.py:5: TypeHintError: canister\.f: <class .object.> has no"),
    ],
    ids=["syntax", "third-party", "replica", "import-time", "type-hint"],
)
def test_errors_name_the_file_and_line(tmp_path: Path, source: str, message: str) -> None:
    app = write_app(tmp_path, {"canister.py": source})
    with pytest.raises(BuildError, match=message):
        build(app, tmp_path)
    assert not (tmp_path / "cache" / "counter").exists()
    assert not (app / "counter.did").exists()


def test_missing_or_ambiguous_code_is_refused(tmp_path: Path) -> None:
    empty = write_app(tmp_path, {"__init__.py": ""}, "empty")
    with pytest.raises(BuildError, match=r"has no canister code: write canister\.py"):
        build(empty, tmp_path)
    both = write_app(tmp_path, {"canister.py": COUNTER, "canister/__init__.py": ""}, "both")
    with pytest.raises(BuildError, match=r"has both canister\.py and canister/"):
        build(both, tmp_path)
    assert find_apps(tmp_path / "apps") == [both]


PACKAGE = {
    "canister/__init__.py": (
        "from icframework.sdk import query, update\n\nfrom .store import bump, total\n\n\n"
        "@update\ndef add(n: int) -> int:\n    return bump(n)\n\n\n"
        "@query\ndef get() -> int:\n    return total()\n\n\n"
        "@query\ndef fail() -> int:\n    return 1 // 0\n"
    ),
    "canister/store.py": (
        "from icframework.sdk import StableCell\n\n"
        "cell = StableCell[int]('total', default=0)\n\n\n"
        "def bump(n: int) -> int:\n    cell.set(cell.get() + n)\n    return cell.get()\n\n\n"
        "def total() -> int:\n    return cell.get()\n"
    ),
}


@pytest.fixture
def python_replica() -> Iterator[Replica]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None)
    )
    try:
        with Replica.open() as replica:
            yield replica
    finally:
        set_runtime_loader(previous)


def test_a_package_app_runs_locally_and_in_the_runtime(
    tmp_path: Path, python_replica: Replica
) -> None:
    app = write_app(tmp_path, PACKAGE, "sums")
    local = LocalCanister(load_app(app))
    assert local.update("add", 5) == 5 and local.query("get") == 5
    result = build_app(app, pack_python_module, cache_dir=tmp_path / "cache", progress=None)
    python_app = load_canister_module(result.wasm).python_app
    assert python_app is not None and python_app.entry == PACKAGE_ENTRY
    assert "add : (int) -> (int);" in result.did
    me = Principal.self_authenticating(b"app build test")
    canister = python_replica.create_canister(sender=me)
    python_replica.install_code(canister, result.wasm, sender=me)
    for expected in (3, 6):
        reply = python_replica.update(canister, "add", encode([INT], [3]))
        assert decode(reply, [INT]) == (expected,)
    assert decode(python_replica.query(canister, "get"), [INT]) == (6,)
    with pytest.raises(CanisterError, match=r"canister/__init__\.py"):
        python_replica.query(canister, "fail")


def test_absolute_imports_of_the_app_itself_are_refused(tmp_path: Path) -> None:
    files = {**PACKAGE, "canister/__init__.py": "from canister.store import bump\n"}
    app = write_app(tmp_path, files, "sums")
    with pytest.raises(BuildError, match=r"canister/__init__\.py:1: import the app's own modules "
                       r"relatively \(from \.store import \.\.\.\)"):
        build(app, tmp_path)


def test_scaffold_refuses_bad_names_and_existing_directories(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match=r"'my-app' is not a valid app name: use a Python "
                       r"identifier such as 'my_app'"):
        scaffold_app("my-app", "counter", tmp_path / "apps")
    with pytest.raises(ScaffoldError, match="such as 'app_2fa'"):
        scaffold_app("2fa", "blank", tmp_path / "apps")
    with pytest.raises(ScaffoldError, match="unknown template 'no_such_template'"):
        scaffold_app("coins", "no_such_template", tmp_path / "apps")
    app = scaffold_app("todo", "todo", tmp_path / "apps")
    assert (tmp_path / "apps" / "__init__.py").exists()
    assert sorted(p.relative_to(app).as_posix() for p in app.rglob("*") if p.is_file()) == [
        "__init__.py", "canister.py", "templates/todo/index.html", "tests/__init__.py",
        "tests/test_canister.py", "urls.py", "views.py",
    ]
    with pytest.raises(ScaffoldError, match="already exists: choose another name"):
        scaffold_app("todo", "counter", tmp_path / "apps")
    todo = LocalCanister(load_app(app))
    added = todo.update("add", "write tests")
    assert todo.update("complete", added.id).done is True
    assert "list : () -> (vec Todo) query;" in build(app, tmp_path).did


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("__init__", "'__init__' is not a valid app name: names starting with an underscore "
                     "are private to Python (__init__, __main__, ...); choose e.g. 'my_init'"),
        ("_secret", "names starting with an underscore are private"),
        ("os", "'os' is the name of a standard-library module: an app of that name would "
               "shadow it wherever its directory is on the import path (tests, scripts); "
               "choose e.g. 'my_os'"),
        ("json", "'json' is the name of a standard-library module"),
        ("tests", "'tests' is taken by the project ('tests': its own code, tests or one of "
                  "its Django apps); choose e.g. 'my_tests'"),
        ("Config", "'Config' is taken by the project ('config'"),
        ("pytest", "'pytest' is the name of an installed Python module"),
        ("class", "'class' is not a valid app name: use a Python identifier"),
        ("héllo", "'héllo' is not a valid app name"),
    ],
)
def test_scaffold_refuses_names_that_clash_with_python_or_the_project(
    tmp_path: Path, name: str, message: str
) -> None:
    with pytest.raises(ScaffoldError, match=re.escape(message)):
        scaffold_app(name, "counter", tmp_path / "apps")
    assert not (tmp_path / "apps" / name).exists()


def test_scaffold_refuses_a_case_clash_and_reserved_labels(tmp_path: Path) -> None:
    scaffold_app("wallet", "counter", tmp_path / "apps")
    with pytest.raises(ScaffoldError, match=re.escape(
        "'Wallet' differs only in case from ")) as refused:
        scaffold_app("Wallet", "counter", tmp_path / "apps")
    assert "on a case-insensitive file system (macOS, Windows) they are the same" in str(
        refused.value)
    with pytest.raises(ScaffoldError, match=re.escape("'Chat' is taken by the project ('chat'")):
        scaffold_app("Chat", "counter", tmp_path / "apps", reserved={"chat"})
    assert sorted(p.name for p in (tmp_path / "apps").iterdir()) == ["__init__.py", "wallet"]


def test_unknown_apps_get_the_closest_names(tmp_path: Path) -> None:
    for name in ("hello", "ledger", "todo"):
        scaffold_app(name, "blank", tmp_path / "apps")
    apps = tmp_path / "apps"
    assert unknown_app_message("helo", apps) == (
        f"no app 'helo' in {apps}: did you mean 'hello'? (the apps there are hello, ledger, "
        "todo; create one with `manage.py startdapp helo --template counter`)"
    )
    assert "did you mean 'ledger'?" in unknown_app_message("Ledger", apps)
    assert unknown_app_message("zzz", apps).startswith(
        f"no app 'zzz' in {apps} (the apps there are hello, ledger, todo;")
    assert unknown_app_message("x", tmp_path / "none") == (
        f"no app 'x' in {tmp_path / 'none'} (it has no app with canister code; create one "
        "with `manage.py startdapp x --template counter`)"
    )
