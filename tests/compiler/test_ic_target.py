"""The IC target end to end: an SDK app built into a standard IC module (imports only
``ic0``), installed and called on our replica's IC-module loader, upgraded, trapped;
the build reproducible and cached.

The first run builds the shared base (zig link of the static CPython, boot snapshot,
WASI shim: about two minutes on 2 cores) under ``<repo>/.build/ic``; later runs reuse it
and build only the app (about 30 s). The replica compiles the 20 MB module once per test
module (about 40 s).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from icframework.candid import BLOB, BOOL, NAT, NAT64, PRINCIPAL, TEXT, Opt
from icframework.candid.binary import encode
from icframework.compiler.app_build import BuildError
from icframework.compiler.ic_limits import check_ic_limits
from icframework.compiler.ic_target import IcBuild, build_ic_module
from icframework.core import ErrorCode, Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.sdk.ic0_backend import EVENTS_UNSUPPORTED
from tests.compiler.ic_target_support import (
    CACHE,
    CONTROLLER,
    USER,
    build_app,
    call,
    install,
    open_replica,
    write_app,
)
from tests.node import requires_node

pytestmark = requires_node  # wasm-merge (binaryen) runs on node


APP = '''"""A counter and a notes map on stable memory, for the IC-target tests."""

import random

from icframework.sdk import (
    CallRejected, StableBTreeMap, StableCell, ic, nat, nat64, query, update,
)

count = StableCell[nat]("count", default=0)
notes = StableBTreeMap[str, str]("notes")


@update
def increment() -> nat:
    count.set(count.get() + 1)
    return count.get()


@query
def get() -> nat:
    return count.get()


@update
def put(key: str, value: str) -> nat:
    notes[key] = value
    return len(notes)


@query
def lookup(key: str) -> str | None:
    return notes.get(key)


@query
def keys() -> list[str]:
    return list(notes.keys())


@update
def fail() -> nat:
    count.set(count.get() + 100)
    notes["lost"] = "never committed"
    return helper()


def helper() -> nat:
    raise ValueError("boom in fail")


@query
def whoami() -> ic.Principal:
    return ic.caller()


@update
def now() -> nat64:
    return ic.time()


@update
def announce() -> nat:
    ic.publish("news", "hello")
    return 0


@update
async def call_self() -> nat:
    seen = await ic.call(ic.id(), "get", result=nat)
    count.set(count.get() + 1000)
    return seen


@update
async def call_missing() -> str:
    try:
        await ic.call(ic.id(), "no_such_method", result=nat)
    except CallRejected as exc:
        return f"{exc.code}: {exc.message}"
    return "no reject"


def _tick() -> None:
    count.set(count.get() + 10_000)


@update
def arm_timer() -> None:
    ic.set_timer(1, _tick)


@update
def certify(data: bytes) -> None:
    ic.set_certified_data(data)


@query
def has_certificate() -> bool:
    return ic.data_certificate() is not None


@query
def instructions() -> nat64:
    return ic.performance_counter(0)


@query
def balance() -> nat:
    return ic.canister_balance()


@query
def dice() -> nat:
    return random.randrange(10**12)
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> IcBuild:
    return build_app(tmp_path_factory, APP)


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    yield from open_replica(tmp_path_factory)


@pytest.fixture(scope="module")
def canister(replica: Replica, built: IcBuild) -> Principal:
    return install(replica, built)


def test_module_imports_only_ic0_and_meets_the_ic_limits(built: IcBuild) -> None:
    module = wasmtime.Module(wasmtime.Engine(), built.wasm)
    assert {item.module for item in module.imports} == {"ic0"}
    assert sorted(export.name for export in module.exports) == [
        "canister_global_timer", "canister_init", "canister_post_upgrade",
        "canister_query balance", "canister_query dice", "canister_query get",
        "canister_query has_certificate",
        "canister_query instructions", "canister_query keys", "canister_query lookup",
        "canister_query whoami", "canister_update announce", "canister_update arm_timer",
        "canister_update call_missing", "canister_update call_self", "canister_update certify",
        "canister_update fail", "canister_update increment", "canister_update now",
        "canister_update put", "memory",
    ]
    facts = check_ic_limits(built.wasm)
    assert facts.icp_sections["icp:public candid:service"] == built.did.encode()
    assert facts.icp_sections["icp:public icframework:target"] == b"ic"
    assert facts.icp_sections["icp:public icframework:python"] == b"3.11"
    assert "increment : () -> (nat);" in built.did
    assert built.module_hash == hashlib.sha256(built.wasm).hexdigest()
    assert gzip.decompress(built.gzipped) == built.wasm


def test_update_query_and_stable_structures(replica: Replica, canister: Principal) -> None:
    assert [call(replica, canister, "increment", [], [], NAT) for _ in range(3)] == [1, 2, 3]
    assert call(replica, canister, "get", [], [], NAT, query=True) == 3
    assert call(replica, canister, "put", [TEXT, TEXT], ["b", "beta"], NAT) == 1
    assert call(replica, canister, "put", [TEXT, TEXT], ["a", "alpha"], NAT) == 2
    assert call(replica, canister, "lookup", [TEXT], ["a"], Opt(TEXT), query=True) == "alpha"
    assert call(replica, canister, "lookup", [TEXT], ["z"], Opt(TEXT), query=True) is None
    assert call(replica, canister, "whoami", [], [], PRINCIPAL, query=True,
                sender=USER) == USER
    assert call(replica, canister, "now", [], [], NAT64) > 1_700_000_000 * 10**9


def test_upgrade_keeps_stable_state(
    replica: Replica, canister: Principal, built: IcBuild
) -> None:
    before = call(replica, canister, "increment", [], [], NAT)
    call(replica, canister, "put", [TEXT, TEXT], ["kept", "yes"], NAT)
    replica.install_code(canister, built.gzipped, mode="upgrade", sender=CONTROLLER)
    assert call(replica, canister, "get", [], [], NAT, query=True) == before
    assert call(replica, canister, "lookup", [TEXT], ["kept"], Opt(TEXT), query=True) == "yes"
    assert call(replica, canister, "increment", [], [], NAT) == before + 1


def test_a_trap_rolls_back_and_shows_the_python_traceback(
    replica: Replica, canister: Principal
) -> None:
    before = call(replica, canister, "get", [], [], NAT, query=True)
    with pytest.raises(CanisterError) as caught:
        call(replica, canister, "fail", [], [], NAT)
    assert caught.value.error_code == ErrorCode.CANISTER_CALLED_TRAP
    message = caught.value.message
    assert "ValueError: boom in fail" in message
    assert re.search(r"canister\.py:\d+ in fail: return helper\(\)", message)
    assert re.search(r"canister\.py:\d+ in helper: raise ValueError", message)
    assert call(replica, canister, "get", [], [], NAT, query=True) == before
    assert call(replica, canister, "lookup", [TEXT], ["lost"], Opt(TEXT), query=True) is None
    assert call(replica, canister, "increment", [], [], NAT) == before + 1


def test_events_fail_clearly_on_the_ic_target(replica: Replica, canister: Principal) -> None:
    with pytest.raises(CanisterError) as caught:
        call(replica, canister, "announce", [], [], NAT)
    assert EVENTS_UNSUPPORTED in caught.value.message


def test_inter_canister_calls_reply_and_reject(replica: Replica, canister: Principal) -> None:
    before = call(replica, canister, "get", [], [], NAT, query=True)
    assert call(replica, canister, "call_self", [], [], NAT) == before
    assert call(replica, canister, "get", [], [], NAT, query=True) == before + 1000
    answer = call(replica, canister, "call_missing", [], [], TEXT)
    # CANISTER_ERROR, as the IC answers a call to a method the callee does not export
    assert answer.startswith("5: ") and "no_such_method" in answer


def test_timers_certified_data_and_counters(replica: Replica, canister: Principal) -> None:
    before = call(replica, canister, "get", [], [], NAT, query=True)
    replica.update(canister, "arm_timer", encode([], []), sender=CONTROLLER)
    call(replica, canister, "now", [], [], NAT64)  # another round: the timer is due
    replica.subnet.run_until_idle()
    assert call(replica, canister, "get", [], [], NAT, query=True) == before + 10_000
    replica.update(canister, "certify", encode([BLOB], [b"\x07" * 32]), sender=CONTROLLER)
    assert call(replica, canister, "has_certificate", [], [], BOOL, query=True) is True
    assert call(replica, canister, "instructions", [], [], NAT64, query=True) > 0
    assert call(replica, canister, "balance", [], [], NAT, query=True) > 0


def test_random_is_seeded_per_canister(
    replica: Replica, canister: Principal, built: IcBuild
) -> None:
    other = replica.create_canister(sender=CONTROLLER)
    replica.install_code(other, built.gzipped, b"DIDL\x00\x00", sender=CONTROLLER)
    first = call(replica, canister, "dice", [], [], NAT, query=True)
    # a query's changes are discarded: the same draw again; another canister: another seed
    assert call(replica, canister, "dice", [], [], NAT, query=True) == first
    assert call(replica, other, "dice", [], [], NAT, query=True) != first


def test_builds_are_reproducible_and_cached(tmp_path: Path, built: IcBuild) -> None:
    app = write_app(tmp_path / "source", APP)
    again = build_ic_module(app, cache_dir=CACHE, progress=None)
    assert again.cached and again.wasm == built.wasm
    # A fresh app cache (the shared base reused): the same bytes, and the same gzip.
    fresh = tmp_path / "cache"
    fresh.mkdir()
    for base in CACHE.glob("base-*.wasm"):
        (fresh / base.name).symlink_to(base)
    rebuilt = build_ic_module(app, cache_dir=fresh, progress=None)
    assert not rebuilt.cached
    assert rebuilt.wasm == built.wasm
    assert rebuilt.gzipped == built.gzipped
    assert rebuilt.module_hash == built.module_hash


def test_an_app_that_fails_to_load_names_its_line(tmp_path: Path) -> None:
    app = write_app(tmp_path, "from icframework.sdk import update\n\nx = 1 // 0\n")
    with pytest.raises(BuildError, match=r"canister.py:3.*ZeroDivisionError"):
        build_ic_module(app, cache_dir=CACHE, progress=None)


def test_a_package_app_loads_with_relative_imports(tmp_path: Path) -> None:
    app = tmp_path / "pkgapp"
    (app / "canister").mkdir(parents=True)
    (app / "canister" / "__init__.py").write_text(
        "from icframework.sdk import query, nat\n\nfrom .numbers import double\n\n\n"
        "@query\ndef twice(n: nat) -> nat:\n    return double(n)\n", encoding="utf-8")
    (app / "canister" / "numbers.py").write_text(
        "def double(n: int) -> int:\n    return 2 * n\n", encoding="utf-8")
    built = build_ic_module(app, cache_dir=CACHE, progress=None)
    names = {export.name for export in wasmtime.Module(wasmtime.Engine(), built.wasm).exports}
    assert "canister_query twice" in names
    assert "twice : (nat) -> (nat) query;" in built.did
