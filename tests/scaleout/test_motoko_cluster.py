"""Motoko calling Python across processes: a real cluster (writers of ``root``, ``app1``
and ``app2``, a standby writer for ``app1``, two front ends); Motoko canisters on
``app1`` await Python SDK canisters on ``app2`` and get their replies, rejects and
traps, and cycles sent to a rejecting callee come back. Every call goes through the
unmodified Python agent over a front end, which verifies each certificate (and its
subnet delegation) knowing only the root key. The same scenario runs on one in-process
subnet (`Replica`): the outcomes and the balance changes are the same.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from icframework.agent import Agent, ManagementCanister, RejectError
from icframework.candid import BOOL, NAT, PRINCIPAL, TEXT, CandidType
from icframework.candid.binary import decode, encode
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.replica import pack_python_module, subnet_range
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.scaleout import ClusterConfig
from tests.compiler.runtime_support import CACHE_DIR, runtime
from tests.node import requires_node
from tests.replica.corpus import motoko_wasm
from tests.scaleout.cluster_support import (
    ClusterProcesses,
    agreed_reply,
    free_port,
    unique_names,
)

__all__ = ["runtime"]

pytest_plugins = ["tests.services"]
pytestmark = [pytest.mark.services, requires_node]

# The Python side: the interface the Motoko ``caller`` expects of its callee (set, the
# rejecting and trapping variants, echo, get) and the ``deposit`` the Motoko ``cycles``
# canister sends cycles to; installed with ``refuse = true`` it rejects every deposit.
PYTHON_CALLEE = '''
"""A Python callee for Motoko callers."""

from icframework.sdk import Principal, Reject, StableCell, ic, init, nat, query, update

value = StableCell[nat]("value", default=0)
calls = StableCell[nat]("calls", default=0)
received = StableCell[nat]("received", default=0)
refusing = StableCell[bool]("refusing", default=False)
last = StableCell[str]("last", default="")


@init
def setup(refuse: bool) -> None:
    refusing.set(refuse)


@update
def set(v: nat) -> nat:
    calls.set(calls.get() + 1)
    old = value.get()
    value.set(v)
    return old


@update
def set_then_trap(v: nat) -> nat:
    value.set(v)
    raise RuntimeError(f"python callee: trap on {v}")


@update
def set_then_reject(v: nat) -> nat:
    value.set(v)
    raise Reject(f"python callee: rejected {v}")


@update
def echo(t: str) -> str:
    last.set(ic.caller().to_text())
    return t


@query
def get() -> nat:
    return value.get()


@query
def call_count() -> nat:
    return calls.get()


@query
def last_caller() -> str:
    return last.get()


@update
def deposit() -> nat:
    if refusing.get():
        raise Reject(f"python callee: no thanks to {ic.msg_cycles_available()} cycles")
    accepted = ic.msg_cycles_accept(ic.msg_cycles_available())
    received.set(received.get() + accepted)
    return accepted


@query
def total_received() -> nat:
    return received.get()
'''
PYTHON_WASM = pack_python_module({"callee.py": PYTHON_CALLEE}, "callee.py")
AMOUNT = 7_000_000_000
EMPTY = b"DIDL\x00\x00"


class Side:
    """One set-up under the scenario: where canisters go and how they are called."""

    def create(self, subnet: int) -> Principal:
        raise NotImplementedError

    def install(self, canister: Principal, wasm: bytes, arg: bytes) -> None:
        raise NotImplementedError

    def update(self, canister: Principal, method: str, arg: bytes) -> bytes:
        """The reply; raises `Rejected` with the reject message."""
        raise NotImplementedError

    def query(self, canister: Principal, method: str, arg: bytes = EMPTY) -> bytes:
        raise NotImplementedError


class Rejected(Exception):
    pass


class ClusterSide(Side):
    """Through the Python agent over front end A (updates) and B (queries, once B's copy
    has caught up with what A answered)."""

    def __init__(self, agent_a: Agent, agent_b: Agent) -> None:
        self.a, self.b = agent_a, agent_b

    def create(self, subnet: int) -> Principal:
        return ManagementCanister(self.a).provisional_create_canister_with_cycles(
            effective_canister_id=Principal.from_canister_index(subnet_range(subnet).first))

    def install(self, canister: Principal, wasm: bytes, arg: bytes) -> None:
        ManagementCanister(self.a).install_code(canister, wasm, arg)

    def update(self, canister: Principal, method: str, arg: bytes) -> bytes:
        try:
            return self.a.update(canister, method, arg)
        except RejectError as exc:
            raise Rejected(str(exc)) from exc

    def query(self, canister: Principal, method: str, arg: bytes = EMPTY) -> bytes:
        # Read-your-writes holds on A; B's copy may lag its staleness bound: read both
        # until they agree (the timeout only guards against a hang).
        return agreed_reply(lambda: self.a.query(canister, method, arg),
                            lambda: self.b.query(canister, method, arg), method)


class ReplicaSide(Side):
    """Everything on the one subnet of an in-process replica, called as ``sender``."""

    def __init__(self, replica: Replica, sender: Principal) -> None:
        self.replica, self.sender = replica, sender

    def create(self, subnet: int) -> Principal:
        return self.replica.create_canister(sender=self.sender)

    def install(self, canister: Principal, wasm: bytes, arg: bytes) -> None:
        self.replica.install_code(canister, wasm, arg, sender=self.sender)

    def update(self, canister: Principal, method: str, arg: bytes) -> bytes:
        try:
            return self.replica.update(canister, method, arg, sender=self.sender)
        except CanisterError as exc:
            raise Rejected(str(exc)) from exc

    def query(self, canister: Principal, method: str, arg: bytes = EMPTY) -> bytes:
        return self.replica.query(canister, method, arg, sender=self.sender)


def _one(raw: bytes, kind: CandidType) -> Any:
    (value,) = decode(raw, [kind])
    return value


def scenario(side: Side) -> dict[str, Any]:
    """Motoko on subnet 1 calls Python on subnet 2: what it saw and the balances moved."""
    callee = side.create(2)
    side.install(callee, PYTHON_WASM, encode([BOOL], [False]))
    refuser = side.create(2)
    side.install(refuser, PYTHON_WASM, encode([BOOL], [True]))
    caller = side.create(1)
    side.install(caller, motoko_wasm("caller"), encode([PRINCIPAL], [callee]))
    sender = side.create(1)
    side.install(sender, motoko_wasm("cycles"), EMPTY)

    def update(canister: Principal, method: str, types: list[CandidType], values: list[Any],
               result: CandidType) -> Any:
        return _one(side.update(canister, method, encode(types, values)), result)

    out: dict[str, Any] = {
        "forward": [update(caller, "forward", [NAT], [v], NAT) for v in (7, 8, 9)],
        "rejecting": update(caller, "call_rejecting", [NAT], [5], TEXT),
        "value after reject": _one(side.query(callee, "get"), NAT),
        "trapping": update(caller, "call_trapping", [NAT], [99], TEXT).replace(
            callee.to_text(), "<callee>"),
        "value after trap": _one(side.query(callee, "get"), NAT),
        "echo": update(caller, "echo_via", [TEXT], ["hi from Motoko"], TEXT),
        "callee saw": _one(side.query(callee, "last_caller"), TEXT) == caller.to_text(),
        "calls": _one(side.query(callee, "call_count"), NAT),
        "counters": decode(side.query(caller, "counters"), [NAT, NAT]),
    }
    missing = update(caller, "call_missing", [], [], TEXT)
    out["missing"] = missing.split(":")[0]

    def balance(canister: Principal) -> int:
        return int(_one(side.query(canister, "balance"), NAT))

    before = balance(sender)
    out["accepted, refunded"] = decode(
        side.update(sender, "send", encode([PRINCIPAL, NAT], [callee, AMOUNT])), [NAT, NAT])
    out["received"] = _one(side.query(callee, "total_received"), NAT)
    after_accepted = balance(sender)
    with pytest.raises(Rejected) as refused:
        side.update(sender, "send", encode([PRINCIPAL, NAT], [refuser, AMOUNT]))
    out["refused"] = "no thanks to 7000000000 cycles" in str(refused.value)
    out["refuser received"] = _one(side.query(refuser, "total_received"), NAT)
    after_refused = balance(sender)
    out["sender paid for the accepted send"] = before - after_accepted
    out["sender paid for the refused send"] = after_accepted - after_refused
    return out


@pytest.fixture
def python_runtime(runtime: object) -> Iterator[None]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None))
    yield
    set_runtime_loader(previous)


def _on_one_subnet(sender: Principal) -> dict[str, Any]:
    with Replica.open(None) as replica:
        return scenario(ReplicaSide(replica, sender))


def test_motoko_on_app1_calls_python_on_app2_through_the_front_ends(
        python_runtime: None, postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(3)
    app1 = names[1]
    identity = Ed25519Identity.generate()
    with ClusterProcesses(tmp_path, config) as procs:
        procs.init(names)
        for name in names:
            procs.start_writer(name, f"{name}-w1")
        standby = procs.start_writer(app1, f"{app1}-w2", wait=False)
        standby.wait_for("standby")
        urls = []
        for tag in "ab":
            port = free_port()
            procs.spawn(["runfrontend", "--port", str(port)], f"frontend-{tag}").wait_for(
                "icframework front end running")
            urls.append(f"http://127.0.0.1:{port}")
        with Agent(urls[0], identity, fetch_root_key=True) as agent_a, \
                Agent(urls[1], identity, fetch_root_key=True) as agent_b:
            across = scenario(ClusterSide(agent_a, agent_b))
        assert "standby" in standby.text() and "consuming queue" not in standby.text()
    local = _on_one_subnet(identity.principal)
    print(f"\nacross subnets: {across}\none subnet:     {local}")
    assert across["forward"] == [0, 7, 8]
    assert across["rejecting"] == "4: python callee: rejected 5"
    assert across["value after reject"] == 9  # a reject rolls the callee back
    assert across["trapping"].startswith("5: ") and "trap on 99" in across["trapping"]
    assert across["value after trap"] == 9
    assert across["echo"] == "hi from Motoko" and across["callee saw"] is True
    assert across["accepted, refunded"] == (AMOUNT, 0) and across["received"] == AMOUNT
    assert across["refused"] is True and across["refuser received"] == 0
    # The refused send cost only fees: the cycles came back with the reject.
    assert 0 < across["sender paid for the refused send"] < AMOUNT
    assert across["sender paid for the accepted send"] > AMOUNT
    assert across == local

