"""SDK canisters on the shared runtime component: Candid from hints, stable storage, traps."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from icframework.candid import NAT, NAT64, TEXT, Opt, Vec, decode, encode, parse_type
from icframework.core import ErrorCode
from icframework.core.ic0 import Context
from icframework.core.outcome import NO_OUTCOME, decode_outcome
from icframework.replica.execution.component import ComponentSandbox
from icframework.replica.execution.system_api import Reject, Reply
from icframework.sdk import Canister, load_canister, set_backend
from icframework.sdk.dispatch import Rejected
from icframework.sdk.dispatch import Reply as SdkReply
from icframework.sdk.errors import Trapped
from icframework.sdk.keys import key_codec
from icframework.sdk.methods import forget
from icframework.sdk.runtime_backend import RuntimeBackend, export_names
from tests.compiler.runtime_support import runtime, runtime_component
from tests.replica.test_component import LIMIT, TIME_NS, message

__all__ = ["runtime"]

EMPTY = encode([], [])

COUNTER = '''\
from icframework.sdk import StableCell, ic, nat, query, update

count = StableCell[nat]("count", default=0)


@update
def increment() -> nat:
    count.set(count.get() + 1)
    return count.get()


@query
def get() -> nat:
    return count.get()


@query
def noop() -> None:
    return None


@query
def sneaky() -> nat:
    count.set(1000)
    return count.get()


@update
def add_then_fail(n: nat) -> nat:
    count.set(count.get() + n)
    return n // 0


@update
def when() -> tuple[bytes, nat]:
    return ic.caller().raw, ic.time()
'''

TODO = '''\
from dataclasses import dataclass

from icframework.sdk import Reject, StableBTreeMap, ic, nat64, query, update


@dataclass
class Todo:
    text: str
    done: bool
    tags: list[str]


todos = StableBTreeMap[nat64, Todo]("todos")


@update
def add(text: str, tags: list[str]) -> nat64:
    if not text:
        raise Reject("a todo needs some text")
    last = todos.last()
    key = 0 if last is None else last[0] + 1
    todos[key] = Todo(text, False, tags)
    ic.publish("added", text.encode())
    return key


@update
def finish(key: nat64) -> Todo | None:
    todo = todos.get(key)
    if todo is not None:
        todo.done = True
        todos[key] = todo
    return todo


@query
def all() -> list[Todo]:
    return list(todos.values())


@update
def bulk_then_fail(n: nat64) -> None:
    for i in range(n):
        todos[100 + i] = Todo("bulk", False, [])
    seen = len(list(todos.keys()))
    raise RuntimeError(f"saw {seen}")
'''


def sandbox(source: str, filename: str) -> ComponentSandbox:
    engine, compiled = runtime_component()
    return ComponentSandbox(engine, compiled, source, filename=filename, canister_id=b"\x01\x02")


@pytest.fixture
def counter(runtime: object) -> ComponentSandbox:
    return sandbox(COUNTER, "counter.py")


@pytest.fixture
def todo(runtime: object) -> ComponentSandbox:
    return sandbox(TODO, "todo.py")


def call(
    box: ComponentSandbox, method: str, arg: bytes = EMPTY, *, kind: str = "update"
) -> tuple[Reply | Reject, int]:
    context = Context.UPDATE if kind == "update" else Context.QUERY
    result = box.execute(
        f"canister_{kind} {method}", message(context, arg), LIMIT, persist=kind == "update"
    )
    assert result.trap is None, result.trap
    assert result.output is not None
    response = result.output.response
    assert isinstance(response, Reply | Reject)
    return response, result.instructions


def reply(box: ComponentSandbox, method: str, arg: bytes = EMPTY, *, kind: str = "update") -> bytes:
    response, _ = call(box, method, arg, kind=kind)
    assert isinstance(response, Reply), response
    return response.data


# -- the counter -------------------------------------------------------------------------------


def test_exports_come_from_the_sdk_methods(counter: ComponentSandbox) -> None:
    assert counter.has_export("canister_update increment")
    assert counter.has_export("canister_query get")
    assert counter.has_export("canister_init")
    assert counter.has_export("canister_global_timer")
    assert not counter.has_export("canister_heartbeat")


def test_counter_replies_candid_and_persists(counter: ComponentSandbox) -> None:
    for expected in (1, 2, 3):
        data = reply(counter, "increment")
        assert data == encode([NAT], [expected])
    assert decode(reply(counter, "get", kind="query"), [NAT]) == (3,)
    assert counter.kv.take_dirty()  # StableCell's key went to the store


def test_query_writes_are_discarded(counter: ComponentSandbox) -> None:
    reply(counter, "increment")
    assert decode(reply(counter, "sneaky", kind="query"), [NAT]) == (1000,)
    assert decode(reply(counter, "get", kind="query"), [NAT]) == (1,)


def test_exception_traps_with_file_and_line_and_rolls_back(counter: ComponentSandbox) -> None:
    reply(counter, "increment")
    before = dict(counter.kv.items())
    result = counter.execute(
        "canister_update add_then_fail", message(arg=encode([NAT], [5])), LIMIT, persist=True
    )
    assert result.output is None and result.trap is not None
    assert result.trap.error_code == ErrorCode.CANISTER_CALLED_TRAP
    line = COUNTER.splitlines().index("    return n // 0") + 1
    assert "ZeroDivisionError: " in result.trap.message
    assert f"counter.py:{line} in add_then_fail: return n // 0" in result.trap.message
    assert dict(counter.kv.items()) == before
    # the next message runs on a fresh instance, with the committed state
    assert reply(counter, "increment") == encode([NAT], [2])


def test_bad_argument_traps_naming_the_method(counter: ComponentSandbox) -> None:
    result = counter.execute(
        "canister_update add_then_fail", message(arg=encode([TEXT], ["x"])), LIMIT,
        persist=True,
    )
    assert result.trap is not None
    assert "failed to decode the arguments of 'add_then_fail'" in result.trap.message


def test_caller_and_time_come_from_the_system_api(counter: ComponentSandbox) -> None:
    data = reply(counter, "when")
    assert decode(data, [parse_type("record { blob; nat }")]) == ((b"\x09\x08", TIME_NS),)


# -- the todo list --------------------------------------------------------------------------------


TODO_TYPE = parse_type("record { text : text; done : bool; tags : vec text }")


def test_todo_records_and_lists_round_trip(todo: ComponentSandbox) -> None:
    arg = encode([TEXT, Vec(TEXT)], ["milk", ["shop"]])
    assert decode(reply(todo, "add", arg), [NAT64]) == (0,)
    result = todo.execute(
        "canister_update add", message(arg=encode([TEXT, Vec(TEXT)], ["eggs", []])),
        LIMIT, persist=True,
    )
    assert result.events == [("added", b"eggs")]
    finished = reply(todo, "finish", encode([NAT64], [0]))
    assert decode(finished, [Opt(TODO_TYPE)]) == (
        {"text": "milk", "done": True, "tags": ["shop"]},
    )
    listed = decode(reply(todo, "all", kind="query"), [Vec(TODO_TYPE)])
    assert listed == (
        [
            {"text": "milk", "done": True, "tags": ["shop"]},
            {"text": "eggs", "done": False, "tags": []},
        ],
    )


def test_reject_is_a_response_and_drops_writes(todo: ComponentSandbox) -> None:
    response, _ = call(todo, "add", encode([TEXT, Vec(TEXT)], ["", []]))
    assert response == Reject("a todo needs some text")
    assert todo.kv.take_dirty() == {}


def test_trap_rolls_back_many_buffered_writes(todo: ComponentSandbox) -> None:
    reply(todo, "add", encode([TEXT, Vec(TEXT)], ["keep", []]))
    before = dict(todo.kv.items())
    result = todo.execute(
        "canister_update bulk_then_fail", message(arg=encode([NAT64], [70])), LIMIT,
        persist=True,
    )
    assert result.trap is not None
    # the scan saw the message's own 70 buffered writes merged with the stored row
    assert "RuntimeError: saw 71" in result.trap.message
    assert dict(todo.kv.items()) == before


def test_plain_glue_apps_still_work(runtime: object) -> None:
    box = sandbox("import icframework_runtime as rt\n\n@rt.query\ndef hi(arg):\n"
                  "    return b'hi ' + arg\n", "plain.py")
    assert reply(box, "hi", b"you", kind="query") == b"hi you"


# -- cost ------------------------------------------------------------------------------------

BASILISK_NOOP = 15_592
BASILISK_INCREMENT = 15_159


def test_instruction_counts(counter: ComponentSandbox, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):  # warm caches (and CPython's specialising interpreter)
        call(counter, "increment")
        call(counter, "noop", kind="query")
    _, noop = call(counter, "noop", kind="query")
    _, increment = call(counter, "increment")
    with capsys.disabled():
        print(
            f"\nSDK noop query: {noop} instructions ({noop / BASILISK_NOOP:.1f}x Basilisk's "
            f"{BASILISK_NOOP}); counter increment: {increment} "
            f"({increment / BASILISK_INCREMENT:.1f}x Basilisk's {BASILISK_INCREMENT})"
        )
    assert noop < 5_000_000 and increment < 10_000_000


SAME_SHAPE = """\
from icframework.sdk import nat64, update


@update
def five() -> nat64:
    return 5


@update
def seven() -> nat64:
    return 7
"""


def test_methods_of_one_shape_do_not_slow_each_other_down(runtime: object) -> None:
    # Runners of one shape share source; each must keep its own interpreter inline
    # caches, or alternating methods re-specialise them on every message (it cost
    # about 3 k instructions a message). Instructions are counted by fuel: exact.
    # An instance's cost per message also drifts with its age (about 3% over its first
    # hundred messages, a bare-ABI method too: the state of its heap, not the SDK), so
    # each run of twelve messages is compared with the same twelve messages of an
    # instance that only ever calls `five`.
    alone = sandbox(SAME_SHAPE, "shape.py")
    mixed = sandbox(SAME_SHAPE, "shape.py")

    def steady(box: ComponentSandbox, method: str) -> int:
        return min(call(box, method)[1] for _ in range(12))

    runs = [
        (method, steady(alone, "five"), steady(mixed, method))
        for method in ("five", "seven", "five")  # `seven` does the same work as `five`
    ]
    assert all(mixed_cost <= alone_cost * 1.02 for _, alone_cost, mixed_cost in runs), runs


CLOCK_LOOP = """\
import random
import time

from icframework.sdk import nat64, update


@update
def read_the_clock(times: nat64) -> nat64:
    for _ in range(times):
        time.time()
    return times


@update
def draw(times: nat64) -> nat64:
    for _ in range(times):
        random.SystemRandom().getrandbits(8)
    return times
"""


@pytest.mark.parametrize("method", ["read_the_clock", "draw"])
def test_wasi_clock_and_random_are_charged_as_host_calls(runtime: object, method: str) -> None:
    # Each time.time() or random draw is a host call of ~25 us but 1,250 (clock) or
    # 14,400 (random) wasm instructions: uncharged, 10,000 of them fit a 200 M limit, and
    # at the 5 B message limit a clock loop held the replica for ~100 s. Charged as
    # System API calls (overhead + host cost), they reach the limit.
    box = sandbox(CLOCK_LOOP, "clock.py")
    limit = 200_000_000
    few = box.execute(f"canister_update {method}", message(arg=encode([NAT64], [10])), limit,
                      persist=True)
    assert few.trap is None
    many = box.execute(f"canister_update {method}", message(arg=encode([NAT64], [10_000])),
                       limit, persist=True)
    assert many.trap is not None
    assert many.trap.error_code is ErrorCode.CANISTER_INSTRUCTION_LIMIT_EXCEEDED
    assert f"limit of {limit} instructions" in many.trap.message


# -- RuntimeBackend over fake imports (plain CPython) ------------------------------------


class _FakeImports:
    """Stands in for the component's ``ic0``, ``kv`` and ``events`` bindings (blobs: bytes)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.crossings: list[str] = []
        self.published: list[tuple[str, bytes]] = []
        self.rejected: list[str] = []

    # kv
    class Write:
        def __init__(self, key: bytes, value: bytes | None) -> None:
            self.key, self.value = key, value

    def get(self, key: bytes) -> bytes | None:
        self.crossings.append("get")
        return self.data.get(key)

    def scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        self.crossings.append("scan")
        rows = sorted(
            (k, v) for k, v in self.data.items() if k >= start and (end is None or k < end)
        )
        rows = rows[::-1] if reverse else rows
        return rows[:limit] if limit else rows

    def put(self, key: bytes, value: bytes) -> None:
        self.crossings.append("put")
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.crossings.append("delete")
        self.data.pop(key, None)

    def commit(self, writes: list[_FakeImports.Write]) -> None:
        self.crossings.append(f"commit {len(writes)}")
        for w in writes:
            if w.value is None:
                self.data.pop(w.key, None)
            else:
                self.data[w.key] = w.value

    # events
    def publish(self, topic: str, value: bytes) -> None:
        self.published.append((topic, value))

    # ic0
    def msg_caller(self) -> bytes:
        self.crossings.append("caller")
        return b"\x09\x08"

    def msg_reject(self, message: str) -> None:
        self.rejected.append(message)

    def time(self) -> int:
        return TIME_NS

    def trap(self, message: str) -> None:
        self.crossings.append("trap")


FAKE_APP = '''\
from icframework.sdk import Reject, StableBTreeMap, StableCell, ic, query, update

m = StableBTreeMap[str, int]("m")
c = StableCell[str]("c", default="")


@update
def put_one(k: str) -> None:
    c.set(k)
    ic.publish("t", k.encode())


@update
def put_many(n: int) -> list[str]:
    for i in range(n):
        m[f"k{i}"] = i
    return list(m.keys())


@query(composite=True)
def peek() -> list[str]:
    m["q"] = 0
    return list(m.keys())


@update
def refuse() -> None:
    m["r"] = 1
    raise Reject("no")


@update
def who() -> tuple[bytes, bytes]:
    return ic.caller().raw, ic.caller().raw


@query
def current() -> str:
    return c.get()
'''


@pytest.fixture
def fake_app() -> Iterator[tuple[Canister, RuntimeBackend, _FakeImports]]:
    module = types.ModuleType("fake_sdk_app")
    sys.modules[module.__name__] = module
    exec(compile(FAKE_APP, "fake.py", "exec"), module.__dict__)
    fake = _FakeImports()
    backend = RuntimeBackend(fake, fake, fake)
    previous = set_backend(backend)
    try:
        yield load_canister(module), backend, fake
    finally:
        set_backend(previous)
        forget(module.__name__)
        del sys.modules[module.__name__]


def test_backend_sends_one_write_as_a_put_and_many_as_one_commit(
    fake_app: tuple[Canister, RuntimeBackend, _FakeImports],
) -> None:
    canister, backend, fake = fake_app
    assert backend.run(canister, "update", "put_one", encode([TEXT], ["abc"])) == SdkReply(EMPTY)
    assert fake.crossings == ["put"]
    assert fake.published == [("t", b"abc")]
    fake.crossings.clear()
    outcome = backend.run(canister, "update", "put_many", encode([parse_type("int")], [3]))
    assert isinstance(outcome, SdkReply)
    assert decode(outcome.data, [Vec(TEXT)]) == (["k0", "k1", "k2"],)
    assert fake.crossings[-1] == "commit 4"  # 3 rows and the length
    assert fake.crossings.count("scan") == 1


def test_backend_drops_writes_of_queries_and_rejects(
    fake_app: tuple[Canister, RuntimeBackend, _FakeImports],
) -> None:
    canister, backend, fake = fake_app
    outcome = backend.run(canister, "update", "canister_composite_query peek", EMPTY)
    assert isinstance(outcome, SdkReply) and decode(outcome.data, [Vec(TEXT)]) == (["q"],)
    assert backend.run(canister, "update", "refuse", EMPTY) == Rejected("no")
    assert fake.data == {} and not [c for c in fake.crossings if c.startswith(("put", "commit"))]
    assert "canister_composite_query peek" in export_names(canister)


def test_backend_reads_the_caller_once_per_message(
    fake_app: tuple[Canister, RuntimeBackend, _FakeImports],
) -> None:
    canister, backend, fake = fake_app
    backend.run(canister, "update", "who", EMPTY)
    backend.run(canister, "update", "who", EMPTY)
    assert fake.crossings.count("caller") == 2


def test_method_runner_answers_writes_and_events_in_the_outcome(
    fake_app: tuple[Canister, RuntimeBackend, _FakeImports],
) -> None:
    canister, backend, fake = fake_app
    put_one = backend.method_runner(canister, "update", "put_one")
    assert put_one is not None
    outcome = decode_outcome(put_one(encode([TEXT], ["abc"])))
    # No crossing: the write and the event travel in the outcome blob.
    assert fake.crossings == []
    assert outcome.reply == EMPTY
    assert outcome.writes == [(b"Sc\x00\x01", encode([TEXT], ["abc"]))]
    assert outcome.events == [("t", b"abc")]
    refuse = backend.method_runner(canister, "update", "refuse")
    assert refuse is not None
    assert refuse(EMPTY) == NO_OUTCOME and fake.rejected == ["no"]
    assert backend.method_runner(canister, "update", "no_such_method") is None


def test_committed_values_are_read_once(
    fake_app: tuple[Canister, RuntimeBackend, _FakeImports],
) -> None:
    canister, backend, fake = fake_app
    put_one = backend.method_runner(canister, "update", "put_one")
    current = backend.method_runner(canister, "query", "current")
    assert put_one is not None and current is not None
    for text in ("abc", "xyz"):
        outcome = decode_outcome(put_one(encode([TEXT], [text])))
        fake.data.update(outcome.writes)  # as the host commits them
        assert decode_outcome(current(EMPTY)).reply == encode([TEXT], [text])
    # The instance wrote the value itself: it never asked the host for it.
    assert "get" not in fake.crossings
    backend.forget()
    assert decode_outcome(current(EMPTY)).reply == encode([TEXT], ["xyz"])
    assert fake.crossings == ["get"]


# -- the prepared runners' fast paths agree with the general path ----------------------------

FAST_APP = '''\
from icframework.sdk import StableCell, float32, int32, nat8, nat64, query, update

cell = StableCell[nat64]("n", default=0)
twin = StableCell[nat64]("n", default=0)
word = StableCell[str]("w", default="")


@query
def add(a: nat64, b: int32) -> nat64:
    return a + b


@query
def half(x: float32) -> float32:
    return x / 2


@query
def negative() -> nat64:
    return -1


@query
def truthy() -> nat64:
    return True


@query
def too_big() -> nat8:
    return 300


@query
def nothing() -> None:
    return 5


@update
def bump() -> nat64:
    cell.set(cell.get() + 1)
    return cell.get()


@query
def sneaky() -> nat64:
    cell.set(999)
    return cell.get()


@query
def current() -> nat64:
    return cell.get()


@query
def through_twin() -> nat64:
    return twin.get()


@update
def set_twin(v: nat64) -> None:
    twin.set(v)


@update
def set_word(w: str) -> str:
    word.set(w)
    return word.get()
'''


@pytest.fixture
def fast_app() -> Iterator[tuple[Canister, RuntimeBackend, _FakeImports]]:
    module = types.ModuleType("fast_sdk_app")
    sys.modules[module.__name__] = module
    exec(compile(FAST_APP, "fast.py", "exec"), module.__dict__)
    fake = _FakeImports()
    backend = RuntimeBackend(fake, fake, fake)
    previous = set_backend(backend)
    try:
        yield load_canister(module), backend, fake
    finally:
        set_backend(previous)
        forget(module.__name__)
        del sys.modules[module.__name__]


def _both(
    canister: Canister, backend: RuntimeBackend, kind: str, method: str, arg: bytes
) -> tuple[object, object]:
    """What the prepared runner answers, and what the general dispatch answers."""
    runner = backend.method_runner(canister, kind, method)
    assert runner is not None
    answers = []
    for run in (lambda: decode_outcome(runner(arg)).reply,
                lambda: backend.run(canister, kind, method, arg)):
        try:
            out = run()
        except Trapped as exc:
            out = ("trap", str(exc))
        answers.append(out.data if isinstance(out, SdkReply) else out)
    return answers[0], answers[1]


@pytest.mark.parametrize(
    ("method", "arg"),
    [
        ("add", encode([NAT64, parse_type("int32")], [5, 7])),
        ("add", encode([NAT64, parse_type("int32")], [5, -7])),  # a result below zero
        ("add", encode([NAT64, parse_type("int32")], [2**64 - 1, 1])),  # above nat64
        ("add", encode([NAT64], [5])),  # too few arguments
        ("add", encode([NAT, parse_type("int32")], [5, 7])),  # another type, same values
        ("add", encode([NAT64, parse_type("int32"), TEXT], [5, 7, "extra"])),
        ("add", encode([NAT64, parse_type("int32")], [5, 7]) + b"\x00"),  # trailing byte
        ("add", b"DIDL\x01\x6c\x00\x02\x78\x75" + bytes(12)),  # a type table, unused
        ("add", b"not candid"),
        ("half", encode([parse_type("float32")], [3.0])),
        ("negative", EMPTY),
        ("truthy", EMPTY),
        ("too_big", EMPTY),
        ("nothing", EMPTY),
        ("nothing", encode([TEXT], ["ignored"])),
    ],
)
def test_runner_fast_paths_answer_as_the_general_path(
    fast_app: tuple[Canister, RuntimeBackend, _FakeImports], method: str, arg: bytes
) -> None:
    canister, backend, _fake = fast_app
    fast, general = _both(canister, backend, "query", method, arg)
    assert fast == general


def test_cell_memo_follows_writes_discards_and_backends(
    fast_app: tuple[Canister, RuntimeBackend, _FakeImports],
) -> None:
    canister, backend, fake = fast_app

    def run(kind: str, method: str, arg: bytes = EMPTY) -> bytes | None:
        runner = backend.method_runner(canister, kind, method)
        assert runner is not None
        outcome = decode_outcome(runner(arg))
        fake.data.update(outcome.writes)  # as the host commits them
        return outcome.reply

    nat64 = [NAT64]
    assert run("update", "bump") == encode(nat64, [1])
    assert run("update", "bump") == encode(nat64, [2])
    # A query's write is dropped, and so is what the cell remembered of it.
    assert run("query", "sneaky") == encode(nat64, [999])
    assert run("query", "current") == encode(nat64, [2])
    # Another cell over the same key writes: the first one sees it.
    assert run("update", "set_twin", encode(nat64, [40])) == EMPTY
    assert run("query", "current") == encode(nat64, [40])
    assert run("update", "bump") == encode(nat64, [41])
    assert run("query", "through_twin") == encode(nat64, [41])
    assert run("update", "set_word", encode([TEXT], ["hi"])) == encode([TEXT], ["hi"])
    # A new backend over the same store reads the value again, not the old memory.
    fake.data[b"Sn\x00\x01"] = encode(nat64, [7])
    other = RuntimeBackend(fake, fake, fake)
    set_backend(other)
    runner = other.method_runner(canister, "query", "current")
    assert runner is not None
    assert decode_outcome(runner(EMPTY)).reply == encode(nat64, [7])
    set_backend(backend)
    backend.forget()
    assert run("query", "current") == encode(nat64, [7])


@pytest.mark.parametrize("n", [1, 3])
def test_runner_outcome_carries_every_write(
    fake_app: tuple[Canister, RuntimeBackend, _FakeImports], n: int
) -> None:
    canister, backend, fake = fake_app
    put_many = backend.method_runner(canister, "update", "put_many")
    assert put_many is not None
    outcome = decode_outcome(put_many(encode([parse_type("int")], [n])))
    expected = {b"Sm\x00\x01" + key_codec(str).encode(f"k{i}"): encode([parse_type("int")], [i])
                for i in range(n)}
    expected[b"Sm\x00\x00"] = n.to_bytes(8, "big")
    assert dict(outcome.writes) == expected and len(outcome.writes) == n + 1
    assert decode(outcome.reply or b"", [Vec(TEXT)]) == ([f"k{i}" for i in range(n)],)
    # The instance counts them as committed: reading them back crosses nowhere.
    fake.data.update(outcome.writes)
    fake.crossings.clear()
    assert backend.kv_get(b"Sm\x00\x00") == n.to_bytes(8, "big")
    assert fake.crossings == []
