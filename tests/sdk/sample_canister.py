"""A sample canister exercising every kind of hint (its .did is a golden file)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal, TypedDict

from icframework.sdk import (
    Field,
    Model,
    Principal,
    Reject,
    StableBTreeMap,
    StableCell,
    ic,
    init,
    inspect_message,
    int32,
    nat8,
    nat64,
    post_upgrade,
    pre_upgrade,
    query,
    update,
    variant,
)


class Color(Enum):
    red = 1
    green = 2


@dataclass
class Tree:
    value: int
    children: list[Tree]


@dataclass
class Circle:
    kind: Literal["circle"] = "circle"
    radius: float = 0.0


@dataclass
class Square:
    side: float = 0.0


@dataclass
class Empty:
    kind: Literal["empty"] = "empty"


Shape = Circle | Square | Empty


class Point(TypedDict):
    x: int32
    y: int32


@variant
class Outcome:
    ok: nat64
    err: str


class Task(Model):
    title: str
    done: bool = Field(default=False, index=True)
    owner: Principal = Field(default=Principal.anonymous(), index=True)


counter = StableCell[nat64]("counter", default=0)
notes = StableBTreeMap[str, str]("notes")
owner_cell = StableCell[Principal]("owner")


def only_owner() -> str | None:
    if ic.caller() != owner_cell.get():
        return "only the owner may do this"
    return None


@init
def setup(owner: Principal, start: nat64) -> None:
    owner_cell.set(owner)
    counter.set(start)


@post_upgrade
def migrate(owner: Principal, start: nat64) -> None:
    ic.print("upgraded")


@pre_upgrade
def before_upgrade() -> None:
    ic.print("upgrading")


@inspect_message
def inspect() -> bool:
    return ic.method_name() != "forbidden"


@update
def increment() -> nat64:
    counter.set(counter.get() + 1)
    return counter.get()


@query
def get() -> nat64:
    return counter.get()


@query(composite=True)
def get_twice() -> tuple[nat64, nat64]:
    return counter.get(), counter.get()


@update(guard=only_owner)
def reset() -> None:
    counter.set(0)


@update
def forbidden() -> None:
    pass


@update
def set_note(key: str, text: str) -> None:
    notes.insert(key, text)


@query
def get_note(key: str) -> str | None:
    return notes.get(key)


@query
def echo_shape(s: Shape) -> Shape:
    return s


@query
def echo_tree(t: Tree) -> Tree:
    return t


@query
def depth(t: Tree) -> nat8:
    return 1 + max((depth(c) for c in t.children), default=0)


@query
def mix(
    colors: list[Color], scores: dict[str, int], point: Point, blob: bytes, flag: bool,
    ratio: float, who: Principal, maybe: Color | None,
) -> tuple[Color, int, Point]:
    return colors[0], sum(scores.values()) + len(blob), point


@query(name="result")
def result_(ok: bool) -> Outcome:
    return Outcome(ok=1) if ok else Outcome(err="no")


@query
def mode(m: Literal["fast", "slow"]) -> Literal["fast", "slow"]:
    return m


@update
def add_task(title: str) -> Task:
    return Task.objects.create(title=title, owner=ic.caller())


@query
def tasks(done: bool | None) -> list[Task]:
    qs = Task.objects.all() if done is None else Task.objects.filter(done=done)
    return list(qs)


@update
def fail(n: int) -> int:
    return 10 // n


@update
def refuse() -> None:
    counter.set(999)
    raise Reject("not today")


@update
def bad_result() -> nat8:
    return 300  # type: ignore[return-value]
