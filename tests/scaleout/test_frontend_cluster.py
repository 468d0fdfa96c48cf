"""Front ends as real processes: two ``runfrontend`` servers in front of the subnet writers
of a 2-subnet cluster, used by the Python agent and by the unmodified npm
``@dfinity/agent``, both verifying every certificate and query signature."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import httpx
import pytest
import redis

from icframework.agent import Agent, ManagementCanister, RejectError
from icframework.candid import NAT64
from icframework.candid.binary import decode
from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import CallContent, sign_envelope
from icframework.replica import PostgresRegistry, subnet_range
from icframework.scaleout import ClusterConfig, queue_name
from icframework.scaleout.bootstrap import root_key_der
from tests.node import node_available
from tests.replica.corpus import wat_wasm
from tests.scaleout.cluster_support import (
    WAIT_S,
    ClusterProcesses,
    Proc,
    free_port,
    unique_names,
)

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
EMPTY = b"DIDL\x00\x00"



def count(reply: bytes) -> int:
    (value,) = decode(reply, [NAT64])
    return int(value)


@dataclass
class Frontend:
    proc: Proc
    url: str


@dataclass
class Cluster:
    procs: ClusterProcesses
    config: ClusterConfig
    names: list[str]
    writers: dict[str, Proc]
    frontends: list[Frontend]

    def start_frontend(self, tag: str) -> Frontend:
        port = free_port()
        proc = self.procs.spawn(["runfrontend", "--port", str(port)], f"frontend-{tag}")
        proc.wait_for("icframework front end running")
        return Frontend(proc, f"http://127.0.0.1:{port}")


@pytest.fixture
def cluster(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(2)
    with ClusterProcesses(tmp_path, config) as procs:
        procs.init(names)
        writers = {name: procs.start_writer(name, f"{name}-w1") for name in names}
        running = Cluster(procs, config, names, writers, [])
        running.frontends = [running.start_frontend("a"), running.start_frontend("b")]
        yield running


def eventually(read: object, expected: object, what: str) -> None:
    """Poll ``read()`` until it equals ``expected`` (copies lag commits by their
    staleness bound); the timeout only guards against a hang."""
    assert callable(read)
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            value = read()
        except RejectError as exc:  # the copy does not have the canister's module yet
            value = exc
        if value == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r}, expected {expected!r}")
        time.sleep(0.02)


def test_python_agent_through_either_front_end(cluster: Cluster) -> None:
    """A canister installed on the app subnet through front end A is called through
    both; a query through B sees an update made through A once B's copy caught up;
    both serve the cluster's root key and certify as the subnet."""
    identity = Ed25519Identity.generate()
    agent_a, agent_b = (Agent(fe.url, identity, fetch_root_key=True)
                        for fe in cluster.frontends)
    root_key = root_key_der(cluster.config.database_url)
    assert agent_a.fetch_root_key() == agent_b.fetch_root_key() == root_key
    app_first = Principal.from_canister_index(subnet_range(1).first)
    canister = ManagementCanister(agent_a).provisional_create_canister_with_cycles(
        effective_canister_id=app_first)
    assert subnet_range(1).first <= canister.canister_index() <= subnet_range(1).last
    ManagementCanister(agent_a).install_code(canister, wat_wasm("counter"))
    assert count(agent_a.update(canister, "inc", EMPTY)) == 1
    assert count(agent_a.query(canister, "get", EMPTY)) == 1  # read-your-writes on A
    eventually(lambda: count(agent_b.query(canister, "get", EMPTY)), 1, "query via B")
    assert count(agent_b.update(canister, "inc", EMPTY)) == 2
    eventually(lambda: count(agent_a.query(canister, "get", EMPTY)), 2, "query via A")
    # A v2 call (202) through A, its certified outcome polled through B.
    request_id = agent_a.submit(canister, "inc", EMPTY)
    assert count(agent_b.poll(canister, request_id, "inc")) == 3
    # Subnet read_state goes by the subnet id: each front end answers for each subnet.
    with PostgresRegistry(cluster.config.database_url) as registry:
        subnet_ids = [Principal(registry.subnet(name).subnet_id) for name in cluster.names]
    for agent in (agent_a, agent_b):
        for subnet_id, delegated in zip(subnet_ids, (False, True), strict=True):
            certificate = agent.read_subnet_state(subnet_id, [("time",)])
            assert certificate.time_ns is not None
            assert (certificate.delegation is not None) is delegated
    # A canister on the root subnet, created by the management canister's own id.
    on_root = ManagementCanister(agent_b).provisional_create_canister_with_cycles()
    assert subnet_range(0).first <= on_root.canister_index() <= subnet_range(0).last
    # A specified id in no subnet's range is refused by the subnet, naming the ranges.
    nowhere = Principal.from_canister_index(subnet_range(7).first)
    with pytest.raises(RejectError, match=r"in no subnet's range .*Specify a canister id from"):
        ManagementCanister(agent_b).provisional_create_canister_with_cycles(specified_id=nowhere)
    # Refusals come from the copy exactly as from the embedded replica.
    ghost = Principal.from_canister_index(subnet_range(1).first + 999)
    refused = httpx.post(f"{cluster.frontends[0].url}/api/v3/canister/{ghost}/call",
                         content=signed_call(identity, ghost, "inc"),
                         headers={"content-type": "application/cbor"})
    assert refused.status_code == 200 and b"non_replicated_rejection" in refused.content
    outside = Principal.from_canister_index(subnet_range(7).first)
    unrouted = httpx.post(f"{cluster.frontends[0].url}/api/v3/canister/{outside}/call",
                          content=signed_call(identity, outside, "inc"),
                          headers={"content-type": "application/cbor"})
    assert unrouted.status_code == 400 and "No subnet hosts" in unrouted.text
    for agent in (agent_a, agent_b):
        agent.close()


def signed_call(identity: Ed25519Identity, canister: Principal, method: str,
                arg: bytes = EMPTY) -> bytes:
    content = CallContent(canister, method, arg, identity.principal,
                          time.time_ns() + 240 * 10**9, b"frontend-test")
    return sign_envelope(content, identity).to_cbor()


def test_a_call_survives_its_front_end_being_killed(cluster: Cluster) -> None:
    """A v3 call taken by front end A, which is SIGKILLed before answering, is sent again
    to front end B: it runs once, and its outcome is read through B (read_state of the
    request id) with the certificate verified."""
    identity = Ed25519Identity.generate()
    agent_b = Agent(cluster.frontends[1].url, identity, fetch_root_key=True)
    app = cluster.names[1]
    canister = ManagementCanister(agent_b).provisional_create_canister_with_cycles(
        effective_canister_id=Principal.from_canister_index(subnet_range(1).first))
    ManagementCanister(agent_b).install_code(canister, wat_wasm("counter"))
    assert count(agent_b.update(canister, "inc", EMPTY)) == 1
    eventually(lambda: count(agent_b.query(canister, "get", EMPTY)), 1, "query via B")
    # Stop the app subnet's writer, so that A's call waits in the broker's queue.
    assert cluster.writers[app].stop() == 0
    content = CallContent(canister, "inc", EMPTY, identity.principal,
                          time.time_ns() + 240 * 10**9, b"killed-front-end")
    envelope = sign_envelope(content, identity)
    body, request_id = envelope.to_cbor(), envelope.request_id
    outcome: dict[str, object] = {}

    def call_a() -> None:
        try:
            httpx.post(f"{cluster.frontends[0].url}/api/v3/canister/{canister}/call",
                       content=body, headers={"content-type": "application/cbor"},
                       timeout=WAIT_S)
            outcome["answered"] = True
        except httpx.HTTPError as exc:
            outcome["error"] = type(exc).__name__

    caller = threading.Thread(target=call_a)
    caller.start()
    queue = redis.Redis.from_url(cluster.config.redis_url)
    eventually(lambda: cast(int, queue.llen(queue_name(app))) > 0, True, "A forwarded the call")
    cluster.frontends[0].proc.kill()
    caller.join()
    assert "error" in outcome, outcome  # A died mid-call: the client saw no answer
    # The client retries the same envelope on B; a new writer takes the subnet.
    cluster.writers[app] = cluster.procs.start_writer(app, f"{app}-w2")
    retried = httpx.post(f"{cluster.frontends[1].url}/api/v3/canister/{canister}/call",
                         content=body, headers={"content-type": "application/cbor"},
                         timeout=WAIT_S)
    assert retried.status_code in (200, 202)
    status = agent_b.request_status(canister, request_id)
    while status.status not in ("replied", "rejected"):
        status = agent_b.request_status(canister, request_id)
    assert status.status == "replied" and status.reply is not None
    assert count(bytes(status.reply)) == 2  # ran once, though two front ends sent it
    assert count(agent_b.update(canister, "inc", EMPTY)) == 3
    queue.close()
    agent_b.close()


AGENT_JS = r"""
import { Actor, HttpAgent } from '@dfinity/agent';
import { IDL } from '@dfinity/candid';
import { Ed25519KeyIdentity } from '@dfinity/identity';
import { Principal } from '@dfinity/principal';

let text = '';
for await (const chunk of process.stdin) text += chunk;
const { hosts, wasm, subnetFirst } = JSON.parse(text);
const out = {};
const owner = Ed25519KeyIdentity.generate();
const [agentA, agentB] = await Promise.all(hosts.map(
  host => HttpAgent.create({ host, identity: owner, shouldFetchRootKey: true })));
out.sameRootKey = Buffer.from(agentA.rootKey).equals(Buffer.from(agentB.rootKey));
const managementIdl = ({ IDL }) => IDL.Service({
  provisional_create_canister_with_cycles: IDL.Func([IDL.Record({
    amount: IDL.Opt(IDL.Nat), settings: IDL.Opt(IDL.Null),
    specified_id: IDL.Opt(IDL.Principal), sender_canister_version: IDL.Opt(IDL.Nat64),
  })], [IDL.Record({ canister_id: IDL.Principal })], []),
  install_code: IDL.Func([IDL.Record({
    mode: IDL.Variant({ install: IDL.Null }), canister_id: IDL.Principal,
    wasm_module: IDL.Vec(IDL.Nat8), arg: IDL.Vec(IDL.Nat8),
    sender_canister_version: IDL.Opt(IDL.Nat64),
  })], [], []),
});
const management = Actor.createActor(managementIdl, {
  agent: agentA, canisterId: Principal.fromText('aaaaa-aa'),
  callTransform: (_method, args) => ({
    effectiveCanisterId: args[0]?.canister_id ?? Principal.fromText(subnetFirst) }),
});
const { canister_id } = await management.provisional_create_canister_with_cycles({
  amount: [], settings: [], specified_id: [], sender_canister_version: [] });
out.canisterId = canister_id.toText();
await management.install_code({ mode: { install: null }, canister_id,
  wasm_module: new Uint8Array(Buffer.from(wasm, 'hex')), arg: new Uint8Array(IDL.encode([], [])),
  sender_canister_version: [] });
const counterIdl = ({ IDL }) => IDL.Service({
  inc: IDL.Func([], [IDL.Nat64], []), get: IDL.Func([], [IDL.Nat64], ['query']) });
const [viaA, viaB] = [agentA, agentB].map(
  agent => Actor.createActor(counterIdl, { agent, canisterId: canister_id }));
out.incA = String(await viaA.inc());
out.incB = String(await viaB.inc());
let seen = 0n;
for (let tries = 0; tries < 3000 && seen < 2n; tries++) {
  seen = await viaB.get();
  if (seen < 2n) await new Promise(resolve => setTimeout(resolve, 20));
}
out.getB = String(seen);
out.getA = String(await viaA.get());
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.skipif(not node_available(), reason="needs node and `npm ci` (make test does both)")
def test_npm_agent_through_both_front_ends(cluster: Cluster) -> None:
    """The unmodified @dfinity/agent creates and installs a canister on the app subnet
    through front end A and calls and queries it through both (agent-js verifies every
    certificate, delegation and query signature itself)."""
    payload = {"hosts": [fe.url for fe in cluster.frontends], "wasm": wat_wasm("counter").hex(),
               "subnetFirst": Principal.from_canister_index(subnet_range(1).first).to_text()}
    done = subprocess.run(["node", "--input-type=module", "-e", AGENT_JS],
                          input=json.dumps(payload), capture_output=True, text=True, cwd=ROOT,
                          timeout=WAIT_S * 3, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["sameRootKey"] is True
    index = Principal.from_text(result["canisterId"]).canister_index()
    assert subnet_range(1).first <= index <= subnet_range(1).last
    assert (result["incA"], result["incB"], result["getB"], result["getA"]) == ("1", "2", "2", "2")
