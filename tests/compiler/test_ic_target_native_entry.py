"""The IC target's native method entry gives what the SDK's Python runner gives.

An update or query method without guards runs its argument, message context, call and
reply in C (``csrc/ic_runtime.c``, ``run_native_entry``): primitive parameters are read
and primitive, ``opt`` primitive or empty results written there, everything else goes to
the method's checked Python codecs (`icframework.sdk.dispatch.MethodParts`). Each case
here sends the same argument bytes to the IC-target build on our replica and to the
same app in plain CPython (`LocalCanister.run`, the Python runner every other target
uses) and expects the same reply bytes, the same reject text, or a trap with the same
message, for well-formed arguments of every native shape and for ones that must leave
the native path (non-canonical LEB128, invalid UTF-8, a bool byte of 2, extra or
trailing bytes, a wrong type, values out of range, a guard, an ``async`` method).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from icframework.candid import (
    BOOL,
    INT,
    INT8,
    INT16,
    INT32,
    INT64,
    NAT,
    NAT8,
    NAT16,
    NAT32,
    NAT64,
    TEXT,
    CandidType,
)
from icframework.candid.binary import encode
from icframework.compiler.app_build import load_app
from icframework.compiler.ic_target import IcBuild, build_ic_module
from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.message_execution import RoundReport
from icframework.sdk import LocalCanister, Trapped
from icframework.sdk.dispatch import Rejected, Reply
from tests.compiler.ic_target_support import CACHE, CONTROLLER, install, open_replica, write_app
from tests.node import requires_node

pytestmark = requires_node  # wasm-merge (binaryen) runs on node


APP = '''"""Methods of every shape the IC target's native entry handles, and some it does not."""

from icframework.sdk import (
    Reject, StableBTreeMap, StableCell, ic, int8, int16, int32, int64, nat, nat8, nat16, nat32,
    nat64, query, update,
)

seen: list[str] = []
notes = StableBTreeMap[str, str]("notes")
total = StableCell[nat64]("total", default=0)


@update
def note(key: str, value: str) -> nat64:
    notes[key] = value
    total.set(total.get() + len(value))
    return total.get()


@query
def note_in_a_query(key: str, value: str) -> nat64:
    notes[key] = value  # a query's writes are dropped
    total.set(total.get() + len(value))
    return total.get()


@query
def read_note(key: str) -> str | None:
    return notes.get(key)


@update
def forget(key: str) -> nat64:
    del notes[key]
    return len(notes)


@query
def nothing() -> None:
    return None


@query
def echo_nat(n: nat) -> nat:
    return n


@query
def echo_int(n: int) -> int:
    return n


@query
def echo_fixed(a: nat8, b: nat16, c: nat32, d: nat64, e: int8, f: int16, g: int32,
               h: int64) -> tuple[nat8, nat16, nat32, nat64, int8, int16, int32, int64]:
    return a, b, c, d, e, f, g, h


@query
def echo_text(t: str) -> str:
    return t


@query
def negate(b: bool) -> bool:
    return not b


@query
def half(n: nat64) -> nat64 | None:
    return n // 2 if n % 2 == 0 else None


@query
def shout(t: str) -> str | None:
    return t.upper() if t else None


@query
def length(t: str, times: nat32) -> nat64:
    return len(t) * times


@query
def wrong_result(n: nat64) -> nat8:
    return n  # out of nat8's range for n > 255: a result error


@query
def not_an_int() -> nat64:
    return "seven"  # type: ignore[return-value]


@query
def a_bool_for_a_nat() -> nat64:
    return True


@query
def refuse(reason: str) -> nat:
    raise Reject(reason)


@query
def crash(n: nat) -> nat:
    return 10 // n


@query
def pair() -> tuple[nat, str]:
    return 1, "one"


def only_even_minutes() -> str | None:
    return None if ic.time() >= 0 else "never"


@query(guard=only_even_minutes)
def guarded(n: nat) -> nat:
    return n + 1


@update
def remember(word: str) -> nat:
    print("remembering", word)
    seen.append(word)
    return len(seen)


@update
async def later(n: nat) -> nat:
    return n * 2
'''

NAT64_MAX = 2**64 - 1


def _raw(types: list[CandidType], values: list[object]) -> bytes:
    return encode(types, values)


CASES: list[tuple[str, str, bytes]] = [
    ("query", "nothing", b"DIDL\x00\x00"),
    ("query", "nothing", _raw([NAT], [5])),  # an extra argument: Candid subtyping allows it
    ("query", "echo_nat", _raw([NAT], [0])),
    ("query", "echo_nat", _raw([NAT], [300])),
    ("query", "echo_nat", _raw([NAT], [2**63 - 1])),
    ("query", "echo_nat", _raw([NAT], [2**70])),  # past 9 LEB bytes: Python reads it
    ("query", "echo_nat", b"DIDL\x00\x01\x7d\x80\x00"),  # non-canonical LEB128 zero
    ("query", "echo_nat", b"DIDL\x00\x01\x7d"),  # no value
    ("query", "echo_nat", b"DIDL\x00\x01\x7d\x05\x00"),  # a trailing byte
    ("query", "echo_nat", _raw([TEXT], ["five"])),  # the wrong type
    ("query", "echo_int", _raw([INT], [-1])),
    ("query", "echo_int", _raw([INT], [-(2**62)])),
    ("query", "echo_int", _raw([INT], [63])),
    ("query", "echo_int", _raw([INT], [64])),
    ("query", "echo_int", _raw([INT], [-(2**80)])),
    ("query", "echo_fixed", _raw([NAT8, NAT16, NAT32, NAT64, INT8, INT16, INT32, INT64],
                                 [255, 65535, 2**32 - 1, NAT64_MAX, -128, -32768, -(2**31),
                                  -(2**63)])),
    ("query", "echo_fixed", _raw([NAT8, NAT16, NAT32, NAT64, INT8, INT16, INT32, INT64],
                                 [1, 2, 3, 4, 127, 32767, 2**31 - 1, 2**63 - 1])),
    ("query", "echo_text", _raw([TEXT], [""])),
    ("query", "echo_text", _raw([TEXT], ["héllo, 世界 🎉"])),
    ("query", "echo_text", _raw([TEXT], ["x" * 5000])),
    ("query", "echo_text", b"DIDL\x00\x01\x71\x02\xc3\x28"),  # invalid UTF-8
    ("query", "negate", _raw([BOOL], [True])),
    ("query", "negate", _raw([BOOL], [False])),
    ("query", "negate", b"DIDL\x00\x01\x7e\x02"),  # a bool byte of 2
    ("query", "half", _raw([NAT64], [10])),
    ("query", "half", _raw([NAT64], [11])),
    ("query", "shout", _raw([TEXT], ["quiet"])),
    ("query", "shout", _raw([TEXT], [""])),
    ("query", "length", _raw([TEXT, NAT32], ["abc", 4])),
    ("query", "wrong_result", _raw([NAT64], [7])),
    ("query", "wrong_result", _raw([NAT64], [300])),
    ("query", "not_an_int", b"DIDL\x00\x00"),
    ("query", "a_bool_for_a_nat", b"DIDL\x00\x00"),
    ("query", "refuse", _raw([TEXT], ["not today"])),
    ("query", "crash", _raw([NAT], [2])),
    ("query", "crash", _raw([NAT], [0])),
    ("query", "pair", b"DIDL\x00\x00"),
    ("query", "guarded", _raw([NAT], [41])),
    ("update", "remember", _raw([TEXT], ["apple"])),
    ("update", "later", _raw([NAT], [21])),
]


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_app(tmp_path_factory.mktemp("native-entry"), APP, "shapes")


@pytest.fixture(scope="module")
def built(app_dir: Path) -> IcBuild:
    return build_ic_module(app_dir, cache_dir=CACHE, progress=None)


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    yield from open_replica(tmp_path_factory)


@pytest.fixture(scope="module")
def canister(replica: Replica, built: IcBuild) -> Principal:
    return install(replica, built)


@pytest.fixture(scope="module")
def app_module(app_dir: Path) -> ModuleType:
    return load_app(app_dir)


@pytest.fixture
def local(app_module: ModuleType) -> LocalCanister:
    canister = LocalCanister(app_module)
    canister.install()
    return canister


_WRAPPER = re.compile(r"^.*Canister called `ic0\.trap` with message: '(.*)'$", re.DOTALL)


def _trap_line(message: str) -> str:
    """A trap's last line, without what differs between the runs only by where the app
    was loaded from (the replica's wrapper, the module name, the file's directory)."""
    message = _WRAPPER.sub(r"\1", message.strip())
    line = message.strip().splitlines()[-1]
    line = re.sub(r"\S*/canister\.py", "canister.py", line)
    return line.replace("shapes_canister.", "canister.").strip()


def _python_outcome(local: LocalCanister, kind: str, method: str, arg: bytes) -> tuple[str, str]:
    try:
        outcome = local.run(kind, method, arg, caller=CONTROLLER, commit=kind != "query")
    except Trapped as exc:
        return "trap", _trap_line(exc.message)
    if isinstance(outcome, Reply):
        return "reply", outcome.data.hex()
    assert isinstance(outcome, Rejected), outcome
    return "reject", outcome.message


def _ic_outcome(replica: Replica, canister: Principal, kind: str, method: str,
                arg: bytes) -> tuple[str, str]:
    run = replica.query if kind == "query" else replica.update
    try:
        return "reply", run(canister, method, arg, sender=CONTROLLER).hex()
    except CanisterError as exc:
        message = exc.message
        if exc.reject_code == 4:  # the canister rejected: its own text
            return "reject", message
        return "trap", _trap_line(message)


@pytest.mark.parametrize(("kind", "method", "arg"), CASES,
                         ids=[f"{m}-{i}" for i, (_, m, _) in enumerate(CASES)])
def test_the_native_entry_answers_as_the_python_runner(
    replica: Replica, canister: Principal, local: LocalCanister, kind: str, method: str,
    arg: bytes,
) -> None:
    expected = _python_outcome(local, kind, method, arg)
    assert _ic_outcome(replica, canister, kind, method, arg) == expected


WRITES: list[tuple[str, str, bytes]] = [
    ("update", "note", _raw([TEXT, TEXT], ["a", "apple"])),
    ("query", "read_note", _raw([TEXT], ["a"])),
    ("query", "note_in_a_query", _raw([TEXT, TEXT], ["b", "banana"])),
    ("query", "read_note", _raw([TEXT], ["b"])),
    ("update", "note", _raw([TEXT, TEXT], ["a", "apricot"])),
    ("update", "note", _raw([TEXT, TEXT], ["c", "cherry"])),
    ("update", "forget", _raw([TEXT], ["a"])),
    ("query", "read_note", _raw([TEXT], ["a"])),
    ("query", "read_note", _raw([TEXT], ["c"])),
    ("update", "forget", _raw([TEXT], ["zzz"])),  # a KeyError: a trap, nothing written
    ("query", "read_note", _raw([TEXT], ["c"])),
    ("update", "note", _raw([TEXT, TEXT], ["d", "date"])),
]


def test_writes_commit_on_updates_and_are_dropped_on_queries(
    replica: Replica, canister: Principal, local: LocalCanister,
) -> None:
    ours = [_ic_outcome(replica, canister, kind, method, arg) for kind, method, arg in WRITES]
    theirs = [_python_outcome(local, kind, method, arg) for kind, method, arg in WRITES]
    assert ours == theirs
    assert ours[-1] == ("reply", _raw([NAT64], [5 + 7 + 6 + 4]).hex())  # banana dropped


def test_print_output_reaches_the_log_line_by_line(replica: Replica,
                                                   canister: Principal) -> None:
    logs: list[bytes] = []
    subnet = replica.subnet
    original = subnet.execute_round

    def recording() -> RoundReport:
        report = original()
        logs.extend(line for who, line in report.logs if who == canister.raw)
        return report

    subnet.execute_round = recording  # type: ignore[method-assign]
    try:
        replica.update(canister, "remember", _raw([TEXT], ["pear"]), sender=CONTROLLER)
    finally:
        del subnet.execute_round
    assert b"remembering pear" in logs
