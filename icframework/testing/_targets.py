"""Which target an app's tests run on, and a fresh canister of the app on it.

`test_target` reads ``ICFRAMEWORK_TEST_TARGET`` (``local``, ``component`` or ``ic``;
default ``local``); `app_canister` gives a fresh, not yet installed canister of an app
directory on a target: a `LocalCanister` (plain CPython, no replica) for ``local``, a
`ReplicaCanister` (the app built for the target and installed on the embedded replica)
for the other two. The same test file thus runs on every target.

The app's code is loaded in this interpreter once and shared (`app_module`): a test
module that did ``APP = load_app(app_dir)`` gets canisters of that very module on every
target.
"""

from __future__ import annotations

import os
from pathlib import Path

from icframework.sdk import LocalCanister
from icframework.testing._apps import app_module
from icframework.testing._canister import ReplicaCanister

__all__ = [
    "ENVIRONMENT_VARIABLE", "TARGETS", "AppCanister", "TargetError", "app_canister", "test_target",
]

TARGETS = ("local", "component", "ic")
"""``local``: plain CPython (`LocalCanister`); ``component``: the local replica's build;
``ic``: the standard IC module (`manage.py build --target ic`)."""
ENVIRONMENT_VARIABLE = "ICFRAMEWORK_TEST_TARGET"

AppCanister = LocalCanister | ReplicaCanister
"""What `app_canister` gives: the two drivers share the surface tests use."""


class TargetError(ValueError):
    """An unknown test target; the message names the allowed ones."""


def _checked(target: str, source: str) -> str:
    if target not in TARGETS:
        raise TargetError(
            f"unknown test target {target!r} ({source}); use one of {', '.join(TARGETS)}"
        )
    return target


def test_target() -> str:
    """The target tests run on: ``$ICFRAMEWORK_TEST_TARGET``, default ``local``.

    Raises `TargetError` for a value not in `TARGETS`.
    """
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    return _checked(value, f"from {ENVIRONMENT_VARIABLE}") if value else "local"


test_target.__test__ = False  # type: ignore[attr-defined]  # a test module imports it: not a test


def app_canister(app_dir: Path | str, target: str | None = None) -> AppCanister:
    """A fresh, not yet installed canister of the app in ``app_dir`` on ``target``
    (default `test_target`). Raises `TargetError` for an unknown target, and the build's
    errors (`icframework.compiler.app_build.BuildError`, `IcTargetError`) for an app
    that does not build."""
    chosen = test_target() if target is None else _checked(target, "the target argument")
    module = app_module(app_dir)
    if chosen == "local":
        return LocalCanister(module)
    return ReplicaCanister(app_dir, chosen, module=module)
