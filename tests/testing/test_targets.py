"""`test_target`, `app_canister` on the local target, `app_module` and `build_dir`: the
choices the driver makes before any replica is involved."""

from __future__ import annotations

from pathlib import Path

import pytest

from icframework.compiler.app_build import load_app
from icframework.sdk import LocalCanister
from icframework.testing import (
    BUILD_DIR_VARIABLE,
    ENVIRONMENT_VARIABLE,
    TARGETS,
    TargetError,
    app_canister,
    app_module,
    build_dir,
    test_target,
)

SOURCE = '''from icframework.sdk import query


@query
def hello() -> str:
    return "hi"
'''


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    app = tmp_path / "greeter"
    app.mkdir()
    (app / "canister.py").write_text(SOURCE, encoding="utf-8")
    return app


def test_the_targets() -> None:
    assert TARGETS == ("local", "component", "ic")


@pytest.mark.parametrize(("value", "target"), [
    (None, "local"), ("", "local"), ("local", "local"), ("component", "component"),
    (" ic ", "ic"),
])
def test_the_target_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, target: str
) -> None:
    if value is None:
        monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, value)
    assert test_target() == target


def test_an_unknown_target_names_the_allowed_ones(
    monkeypatch: pytest.MonkeyPatch, app_dir: Path
) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "wasm")
    with pytest.raises(TargetError, match=(
        r"^unknown test target 'wasm' \(from ICFRAMEWORK_TEST_TARGET\); "
        r"use one of local, component, ic$"
    )):
        test_target()
    with pytest.raises(TargetError, match=r"'IC' \(the target argument\); use one of"):
        app_canister(app_dir, "IC")


def test_test_target_is_not_collected_as_a_test() -> None:
    assert test_target.__test__ is False  # type: ignore[attr-defined]


def test_local_canisters_share_the_module_the_test_loaded(app_dir: Path) -> None:
    app = load_app(app_dir)
    first, second = app_canister(app_dir, "local"), app_canister(app_dir, "local")
    assert isinstance(first, LocalCanister) and isinstance(second, LocalCanister)
    assert app_module(app_dir) is app
    assert first.canister.module == second.canister.module == app.__name__
    first.install()
    assert first.query("hello") == "hi"
    assert first.backend is not second.backend  # each a fresh canister


def test_another_app_of_the_same_name_is_loaded_afresh(app_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "greeter"
    other.mkdir(parents=True)
    (other / "canister.py").write_text(SOURCE.replace('"hi"', '"hello"'), encoding="utf-8")
    load_app(app_dir)
    module = app_module(other)
    assert Path(module.__file__ or "").parent == other.resolve()
    canister = app_canister(other, "local")
    canister.install()
    assert canister.query("hello") == "hello"


def test_the_build_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    project = tmp_path / "project"
    app = project / "apps" / "greeter"
    app.mkdir(parents=True)
    monkeypatch.delenv(BUILD_DIR_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    assert build_dir(app) == tmp_path / ".build"  # no project: the current directory's
    (project / "manage.py").write_text("", encoding="utf-8")
    assert build_dir(app) == project / ".build"  # the project's, as manage.py build
    monkeypatch.setenv(BUILD_DIR_VARIABLE, str(tmp_path / "cache"))
    assert build_dir(app) == tmp_path / "cache"
