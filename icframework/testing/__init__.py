"""Run an app's tests on every target: plain CPython, the local replica, the IC module.

One test file, three targets, chosen by ``ICFRAMEWORK_TEST_TARGET`` (`test_target`):

* ``local`` (default): `icframework.sdk.LocalCanister`, the app's code in this
  interpreter, no replica, no build: fast.
* ``component``: the app built as the local replica's Python canister and installed on
  an embedded replica (`ReplicaCanister`).
* ``ic``: the app built as a standard IC module (``manage.py build --target ic``) and
  installed on the same replica.

A test asks `app_canister(app_dir)` for a fresh canister and drives it with
``install``/``update``/``query``/``advance_time``; values, replies and exceptions
(`Reject`, `Trapped`) are the same on every target. ``ICFRAMEWORK_TEST_TARGET=ic pytest
apps/counter/tests`` runs a suite on the IC target. See docs/ic-target.md.
"""

from icframework.testing._apps import app_module
from icframework.testing._builds import BUILD_DIR_VARIABLE, build_dir
from icframework.testing._canister import ReplicaBackend, ReplicaCanister, as_canister_exception
from icframework.testing._replica import ControlledReplica, shared_replica
from icframework.testing._targets import (
    ENVIRONMENT_VARIABLE,
    TARGETS,
    AppCanister,
    TargetError,
    app_canister,
    test_target,
)

__all__ = [
    "BUILD_DIR_VARIABLE",
    "ENVIRONMENT_VARIABLE",
    "TARGETS",
    "AppCanister",
    "ControlledReplica",
    "ReplicaBackend",
    "ReplicaCanister",
    "TargetError",
    "app_canister",
    "app_module",
    "as_canister_exception",
    "build_dir",
    "shared_replica",
    "test_target",
]
