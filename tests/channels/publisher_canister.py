"""An SDK canister that publishes events (for the event-path tests)."""

from __future__ import annotations

from dataclasses import dataclass

from icframework.sdk import Principal, Reject, StableBTreeMap, StableCell, ic, nat, query, update

posts = StableCell[nat]("posts", default=0)


@dataclass
class Note:
    author: Principal
    text: str
    number: nat


@update
def post(room: str, text: str) -> nat:
    posts.set(posts.get() + 1)
    ic.publish(f"room:{room}", Note(ic.caller(), text, posts.get()))
    return posts.get()


@update
def post_many(room: str, count: nat) -> None:
    for i in range(count):
        ic.publish(f"room:{room}", f"message {i}")


@update
def post_padded(room: str, count: nat, size: nat) -> None:
    """``count`` events of about ``size`` bytes each: ``message <i>`` then dots."""
    for i in range(count):
        ic.publish(f"room:{room}", f"message {i} " + "." * size)


@update
def post_then_trap(room: str) -> None:
    ic.publish(f"room:{room}", "never seen")
    raise RuntimeError("trap after publish")


@update
def post_then_reject(room: str) -> None:
    ic.publish(f"room:{room}", "never seen")
    raise Reject("rejected after publish")


@query
def post_in_query(room: str) -> None:
    ic.publish(f"room:{room}", "never seen")


allowed = StableBTreeMap[Principal, bool]("allowed")


@update
def allow(who: Principal, yes: bool) -> None:
    if yes:
        allowed.insert(who, True)
    else:
        allowed.remove(who)


@query
def can_subscribe(topic: str) -> bool:
    """``room:secret`` only for allowed principals; other topics for anyone."""
    if topic == "room:secret":
        return ic.caller() in allowed
    return True
