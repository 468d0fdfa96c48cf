"""Shared helpers of the social canister's tests: a fresh canister, users and calls as them.

`As(c, who)` calls the canister's methods as one user (queries as queries), moving
the clock 2 s before each update so ordinary tests stay under the rate limits; the
rate-limit tests call `LocalCanister.update` directly at a fixed time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from icframework.compiler.app_build import load_app
from icframework.sdk import LocalCanister, Principal

APP_DIR = Path(__file__).resolve().parents[1]
APP = load_app(APP_DIR)
records = APP.records
limits = APP.limits
SECOND = limits.SECOND

MOD = Principal.self_authenticating(b"moderator's key")
ANON = Principal.anonymous()


def user(name: str) -> Principal:
    return Principal.self_authenticating(f"{name}'s key".encode())


class As:
    """Calls the canister's methods as ``who`` (queries as queries, updates as updates)."""

    def __init__(self, c: LocalCanister, who: Principal, tick_ns: int = 2 * SECOND) -> None:
        self.c, self.who, self.tick_ns = c, who, tick_ns

    def __getattr__(self, method: str) -> Callable[..., Any]:
        kind = self.c.canister.methods[method].kind

        def call(*args: Any) -> Any:
            if kind == "query":
                return self.c.query(method, *args, caller=self.who)
            self.c.backend.advance_time(self.tick_ns)
            return self.c.update(method, *args, caller=self.who)

        return call


def profile_input(name: str, headline: str = "", about: str = "", location: str = "",
                  links: list[str] | None = None, open_to_work: bool = False) -> Any:
    return records.ProfileInput(name, headline, about, location, links or [], open_to_work)


def fresh() -> LocalCanister:
    """A canister installed with `MOD` as its moderator."""
    c = LocalCanister(APP)
    c.install(records.InitArgs(admins=[MOD]))
    return c


def register(c: LocalCanister, handle: str, headline: str = "") -> As:
    who = As(c, user(handle))
    who.register(handle, profile_input(handle.title(), headline))
    return who


def connect(a: As, b: As) -> None:
    a.send_request(b.who, "")
    b.accept_request(a.who)


def org(admin: As, name: str = "Acme Corp") -> int:
    view = admin.create_org(records.OrgInput(name, records.OrgKind.company, "", "", "Zurich"))
    org_id: int = view.org.id
    return org_id
