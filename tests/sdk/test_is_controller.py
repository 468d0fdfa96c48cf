"""``ic.is_controller``: in plain CPython (`LocalCanister(controllers=...)`) and on the
component target (the replica's ``ic0.is-controller``); the IC target's is in
tests/compiler/test_ic_target_entry_points.py."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from icframework.candid import BOOL, PRINCIPAL
from icframework.candid.binary import decode, encode
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.sdk import LocalBackend, LocalCanister, SdkError, ic, load_canister, service_did
from icframework.sdk.backend import set_backend
from icframework.sdk.local import ControlledBackend
from tests.compiler.runtime_support import CACHE_DIR, runtime

__all__ = ["runtime"]

OWNER = Principal.self_authenticating(b"is_controller test owner")
OTHER = Principal.self_authenticating(b"is_controller test other")
MODULE = "tests.sdk.controller_canister"


def test_local_canister_knows_its_controllers() -> None:
    canister = LocalCanister(MODULE, controllers=[OWNER])
    assert canister.query("controls", OWNER) is True
    assert canister.query("controls", OTHER) is False
    assert canister.query("caller_controls", caller=OWNER) is True
    assert canister.query("caller_controls", caller=OTHER) is False
    assert ic.is_controller(OWNER.to_text()) is True  # text form, outside a message


def test_controllers_need_a_backend_that_holds_them() -> None:
    with pytest.raises(SdkError, match="cannot hold them; pass a ControlledBackend"):
        LocalCanister(MODULE, backend=LocalBackend(), controllers=[OWNER])
    backend = ControlledBackend(controllers=[OWNER])
    assert LocalCanister(MODULE, backend=backend, controllers=[OTHER]).query(
        "controls", OTHER) is True


def test_a_plain_local_backend_says_what_to_use() -> None:
    previous = set_backend(LocalBackend())
    try:
        with pytest.raises(SdkError, match=r"LocalBackend does not know .*controllers=\[\.\.\.\]"):
            ic.is_controller(OWNER)
    finally:
        set_backend(previous)


@pytest.fixture
def component_replica(runtime: object) -> Iterator[Replica]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None))
    try:
        with Replica.open() as replica:
            yield replica
    finally:
        set_runtime_loader(previous)


def test_on_the_component_target(component_replica: Replica) -> None:
    replica = component_replica
    source = (Path(__file__).parent / "controller_canister.py").read_text(encoding="utf-8")
    module = pack_python_module({"controller_canister.py": source}, "controller_canister.py",
                                did=service_did(load_canister(MODULE)))
    canister = replica.create_canister(sender=OWNER)
    replica.install_code(canister, module, encode([], []), sender=OWNER)

    def controls(who: Principal) -> bool:
        reply = replica.query(canister, "controls", encode([PRINCIPAL], [who]))
        return bool(decode(reply, [BOOL])[0])

    assert controls(OWNER) is True
    assert controls(OTHER) is False
    reply = replica.query(canister, "caller_controls", encode([], []), sender=OTHER)
    assert decode(reply, [BOOL])[0] is False
