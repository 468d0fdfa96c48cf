"""A small SDK canister for the dashboard's tests: an update, a query, typed arguments and
a method that raises (its trap names ``canister.py:LINE in fail``)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from icframework.compiler.app_build import build_app
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.runtime import set_runtime_loader
from tests.compiler.runtime_support import CACHE_DIR, runtime_component

__all__ = ["FAIL_LINE", "OWNER", "SOURCE", "build_demo", "install_demo", "python_runtime"]

OWNER = Principal.self_authenticating(b"dashboard test owner")

SOURCE = '''\
"""A greeter for the dashboard's tests."""

from icframework.sdk import StableCell, nat, query, update

count = StableCell[nat]("count", default=0)


@update
def add(amount: nat, note: str) -> nat:
    count.set(count.get() + amount)
    return count.get()


@query
def greet(name: str, loud: bool) -> str:
    text = "hello " + name
    return text.upper() if loud else text


@update
def fail() -> nat:
    raise ValueError("no good")
'''

FAIL_LINE = SOURCE.splitlines().index('    raise ValueError("no good")') + 1


@pytest.fixture
def python_runtime() -> Iterator[None]:
    """Python canisters run on the shared runtime (built or loaded from the cache)."""
    runtime_component()
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None)
    )
    yield
    set_runtime_loader(previous)


def build_demo(root: Path) -> tuple[bytes, str]:
    """The demo app built under ``root``: (wasm, .did text)."""
    app = root / "apps" / "greeter"
    app.mkdir(parents=True, exist_ok=True)
    (app / "canister.py").write_text(SOURCE, encoding="utf-8")
    result = build_app(app, pack_python_module, cache_dir=root / "cache", progress=None)
    return result.wasm, result.did


def install_demo(replica: Replica, root: Path) -> Principal:
    """Create and install the demo canister, controlled by `OWNER`."""
    wasm, _did = build_demo(root)
    canister = replica.create_canister(sender=OWNER, controllers=[OWNER])
    replica.install_code(canister, wasm, sender=OWNER)
    return canister
