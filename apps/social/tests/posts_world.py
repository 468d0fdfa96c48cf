"""A small professional network in a `LocalCanister`, shared by the tests of posts,
feeds, post search, groups and notifications.

The canister code is loaded once, under its own module name, so these tests do not
depend on the order other test files load the app in. `Net` calls methods as one
user with real Candid on both sides, moving the clock `TICK_NS` before each update so
ordinary tests stay under the per-user rate limits (the flooding tests call
`LocalCanister.update` at a fixed time instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from icframework.candid import decode
from icframework.compiler.app_build import load_app
from icframework.sdk import LocalCanister, Principal
from icframework.sdk.types import TypeMapper

APP_DIR = Path(__file__).resolve().parents[1]
APP = load_app(APP_DIR, "social_posts_canister")
R = APP.post_records
TICK_NS = 7_000_000_000
HOUR_NS = 3_600_000_000_000

ANON = Principal.anonymous()


def user(name: str) -> Principal:
    return Principal.self_authenticating(f"{name}'s key".encode())


ALICE, BOB, CAROL, DAVE, ERIN = (user(n) for n in ("alice", "bob", "carol", "dave", "erin"))
MOD = user("moderator")


def profile_input(name: str) -> Any:
    return APP.records.ProfileInput(name=name, headline=f"{name} at work", about="",
                                    location="", links=[], open_to_work=False)


class Net:
    """One canister and helpers to act in it as a user."""

    def __init__(self, moderators: list[Principal] | None = None) -> None:
        self.c = LocalCanister(APP.__name__)
        self.c.install(None if moderators is None else APP.records.InitArgs(moderators))

    def call(self, who: Principal, method: str, *args: Any) -> Any:
        """``method(*args)`` as ``who``; an update first moves the clock `TICK_NS`."""
        kind = self.c.canister.methods[method].kind
        if kind == "query":
            return self.c.query(method, *args, caller=who)
        self.c.backend.advance_time(TICK_NS)
        return self.c.update(method, *args, caller=who)

    def register(self, who: Principal, handle: str) -> Principal:
        self.call(who, "register", handle, profile_input(handle.title()))
        return who

    def connect(self, a: Principal, b: Principal) -> None:
        self.call(a, "send_request", b, "let's connect")
        self.call(b, "accept_request", a)

    def post(self, who: Principal, text: str, audience: str = "public", *,
             group_id: int | None = None, org_id: int | None = None,
             image_ids: list[int] | None = None) -> Any:
        data = R.PostInput(text=text, image_ids=image_ids or [],
                           audience=R.Audience[audience], org_id=org_id, group_id=group_id)
        return self.call(who, "create_post", data)

    def now(self) -> int:
        return int(self.c.backend.time())

    def events(self) -> list[tuple[str, Any]]:
        """Notification events published since the last call, decoded."""
        info = TypeMapper().info(R.NotificationEvent)
        from_wire = info.from_wire
        assert from_wire is not None
        out = [(topic, from_wire(decode(data, [info.candid])[0]))
               for topic, data in self.c.backend.events]
        self.c.backend.events.clear()
        return out


def people(net: Net, *names: str) -> list[Principal]:
    """Register ``names`` (handles) and return their principals."""
    return [net.register(user(name), name) for name in names]
