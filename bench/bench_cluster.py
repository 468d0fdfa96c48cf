"""The scale-out cluster as real processes: throughput, XNet, the broker hop, failover.

Needs PostgreSQL and Redis on 127.0.0.1 (as the ``services`` tests; override with
``IC_TEST_POSTGRES_URL`` / ``IC_TEST_REDIS_URL``); without them it says so and exits 0.
One cluster is started for the run, in a database of its own (dropped at the end):
writers (``manage.py runsubnet``) of ``root``, ``app1`` and ``app2``, a standby writer
of ``app1`` and one front end (``manage.py runfrontend``), all on this machine, so
every figure shares its cores with the others. All in this run:

1. Updates/s with the load on 1, 2 and 3 subnets: `UPDATES` signed ``inc`` calls to a
   WAT counter on each loaded subnet, sent at once as ``icframework.subnet.submit``
   tasks (v3) and counted when their certified answers are on Redis. Reference: the
   same envelopes through the same submission code (``decode_envelope`` +
   ``submit_call``) into an embedded replica (SQLite store, the embedded default) in
   this process, then rounds until all are answered.
2. Queries/s with the queried counters on 1, 2 and 3 subnets: `QUERIES` ``get`` queries
   by `QUERY_THREADS` Python agents (each verifying the node signatures) through the
   front end, answered by its read-only copies. Reference: the same agents against
   ``manage.py runreplica`` (the embedded replica's HTTP server). "Per core" divides by
   the machine's cores (`os.cpu_count()`).
3. XNet round trip: the Motoko ``caller`` on ``root`` forwards to a ``callee`` on
   ``app1`` (an XNet call out and back) versus one on ``root`` (same subnet); p50 of a
   whole ingress call (submit task to certified answer), `ROUND_TRIPS` of each, one at
   a time. Needs the Motoko fixtures (node); skipped without them.
4. The broker hop per message: a v2 submit task whose call (an empty-argument ``inc``)
   is answered ``accepted`` right after submission, sent one at a time (latency p50) and
   `HOPS` at once (per message), versus the same submission in process.
5. Failover: SIGKILL ``app1``'s writer and send an update every `PROBE_S` s until one is
   answered: the time to that answer (the standby's lease TTL is `TTL_S` s).

Ratios are cluster over reference for rates (above 1: the cluster is faster) and
cluster over reference for times. No thresholds. Usage:
``.venv/bin/python bench/bench_cluster.py`` or ``main()`` (``bench/run.py``).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from bench.support import percentile, runreplica, table  # noqa: E402
from icframework.agent import Agent, ManagementCanister  # noqa: E402
from icframework.candid import NAT, PRINCIPAL, encode  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.identity import Ed25519Identity  # noqa: E402
from icframework.protocol import CallContent, sign_envelope  # noqa: E402
from icframework.replica.embedded import Replica  # noqa: E402
from icframework.replica.http import endpoints  # noqa: E402
from icframework.replica.http.validation import decode_envelope  # noqa: E402
from icframework.scaleout import ClusterConfig, send_submit  # noqa: E402
from tests.replica.corpus import wat_wasm  # noqa: E402
from tests.scaleout.cluster_support import (  # noqa: E402
    Answers,
    Client,
    ClusterProcesses,
    Proc,
    free_port,
)
from tests.services import POSTGRES_URL, REDIS_URL, service_answers, with_database  # noqa: E402

UPDATES = 400
QUERIES = 600
QUERY_THREADS = 4
ROUND_TRIPS = 30
HOPS = 300
TTL_S = 3.0
PROBE_S = 0.05
EMPTY = b"DIDL\x00\x00"
WAIT_S = 120.0


def cores() -> int:
    return os.cpu_count() or 1


# -- the cluster ----------------------------------------------------------------------------

class Running:
    """The run's cluster: processes, a client on the answers channels, a front end, and a
    counter on each subnet."""

    def __init__(self, work: Path, config: ClusterConfig) -> None:
        self.config = config
        tag = uuid.uuid4().hex[:6]
        self.names = [f"r{tag}", f"a1{tag}", f"a2{tag}"]
        self.procs = ClusterProcesses(work, config)
        self.procs.init(self.names)
        self.writers: dict[str, Proc] = {
            name: self.procs.start_writer(name, f"{name}-w1", ttl=TTL_S) for name in self.names}
        self.standby = self.procs.start_writer(self.names[1], f"{self.names[1]}-w2",
                                               wait=False, ttl=TTL_S)
        self.standby.wait_for("standby")
        port = free_port()
        self.procs.spawn(["runfrontend", "--port", str(port)], "frontend").wait_for(
            "icframework front end running")
        self.url = f"http://127.0.0.1:{port}"
        self.answers = Answers(config.redis_url, self.names)
        self.client = Client(config, self.answers)
        self.counters = []
        for number, name in enumerate(self.names):
            counter = self.client.create_canister(name, number)
            self.client.install(name, counter, wat_wasm("counter"))
            self.counters.append(counter)

    def close(self) -> None:
        self.answers.close()
        self.procs.close()


def wait_all(answers: Answers, ids: list[bytes], outcomes: tuple[str, ...]) -> None:
    wanted = {request_id.hex() for request_id in ids}
    deadline = time.monotonic() + WAIT_S
    with answers.condition:
        while not all(key in answers.by_id and answers.by_id[key][0]["outcome"] in outcomes
                      for key in wanted):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{len(wanted)} calls were not all answered in {WAIT_S} s")
            answers.condition.wait(min(left, 0.5))


def cluster_updates(run: Running, subnets: int) -> tuple[float, float]:
    """Updates/s with ``UPDATES`` calls spread over the first ``subnets`` subnets, and
    the rate at which this process put them on the broker (a bound on the first)."""
    calls = []
    for n in range(UPDATES):
        k = n % subnets
        body, request_id = run.client.envelope(run.counters[k], "inc", EMPTY)
        calls.append((run.names[k], run.counters[k], body, request_id))
    started = time.perf_counter()
    for name, counter, body, _request_id in calls:
        send_submit(name, "call_v3", counter.to_text(), body)
    sent = time.perf_counter() - started
    wait_all(run.answers, [c[3] for c in calls], ("replied", "rejected"))
    elapsed = time.perf_counter() - started
    # The last answer of each subnet is a certified reply (checked outside the timing).
    for k in range(subnets):
        last = [c for c in calls if c[1] == run.counters[k]][-1]
        run.client.reply(last[3], run.counters[k])
    return UPDATES / elapsed, UPDATES / sent


def reference_updates(work: Path, identity: Ed25519Identity) -> float:
    """Updates/s of the embedded replica in process, the same envelopes and code."""
    replica = Replica.open(work / "reference-replica")
    try:
        counter = replica.create_canister()
        replica.install_code(counter, wat_wasm("counter"))
        bodies = [signed(identity, counter, "inc") for _ in range(UPDATES)]
        started = time.perf_counter()
        for body, _request_id in bodies:
            envelope, _targets = decode_envelope(body, "call", now_ns=time.time_ns())
            endpoints.submit_call(replica, envelope, counter)
        while any(not done(replica, request_id) for _body, request_id in bodies):
            replica.subnet.execute_round()
        return UPDATES / (time.perf_counter() - started)
    finally:
        replica.close()


def signed(identity: Ed25519Identity, canister: Principal, method: str) -> tuple[bytes, bytes]:
    """A signed call envelope (empty argument) and its request id."""
    content = CallContent(canister, method, EMPTY, identity.principal,
                          time.time_ns() + 240 * 10**9, os.urandom(8))
    envelope = sign_envelope(content, identity)
    return envelope.to_cbor(), envelope.request_id


def done(replica: Replica, request_id: bytes) -> bool:
    status = replica.subnet.ingress_status(request_id)
    return status is not None and status.state.terminal


def query_rate(url: str, canisters: list[Principal]) -> float:
    """Queries/s of ``QUERY_THREADS`` agents querying ``canisters`` round robin."""
    per_thread = QUERIES // QUERY_THREADS
    agents = [Agent(url, Ed25519Identity.generate(), fetch_root_key=True)
              for _ in range(QUERY_THREADS)]
    for agent in agents:  # warm: root key, node keys of each subnet
        for canister in canisters:
            agent.query(canister, "get", EMPTY)
    errors: list[BaseException] = []

    def work(agent: Agent, offset: int) -> None:
        try:
            for n in range(per_thread):
                agent.query(canisters[(n + offset) % len(canisters)], "get", EMPTY)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(agent, n)) for n, agent in enumerate(agents)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for agent in agents:
        agent.close()
    if errors:
        raise errors[0]
    return per_thread * QUERY_THREADS / elapsed


def reference_queries(work: Path) -> float:
    with runreplica(work / "runreplica-state", work / "runreplica.log") as (url, _process):
        with Agent(url, Ed25519Identity.generate(), fetch_root_key=True) as agent:
            counter = ManagementCanister(agent).provisional_create_canister_with_cycles()
            ManagementCanister(agent).install_code(counter, wat_wasm("counter"))
            agent.update(counter, "inc", EMPTY)
        return query_rate(url, [counter])


def throughput(run: Running, work: Path, identity: Ed25519Identity) -> list[list[str]]:
    ref_updates = reference_updates(work, identity)
    ref_queries = reference_queries(work)
    rows = [["embedded replica (reference)", f"{ref_updates:,.0f}",
             f"{ref_updates / cores():,.0f}", "1.00", "", f"{ref_queries:,.0f}",
             f"{ref_queries / cores():,.0f}", "1.00"]]
    for subnets in (1, 2, 3):
        updates, sent = cluster_updates(run, subnets)
        queries = query_rate(run.url, run.counters[:subnets])
        rows.append([f"cluster, {subnets} subnet{'s' if subnets > 1 else ''}",
                     f"{updates:,.0f}", f"{updates / cores():,.0f}",
                     f"{updates / ref_updates:.2f}", f"{sent:,.0f}", f"{queries:,.0f}",
                     f"{queries / cores():,.0f}", f"{queries / ref_queries:.2f}"])
    return rows


# -- XNet, the broker hop, failover ---------------------------------------------------------

def timed_calls(count: int, call: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def xnet(run: Running) -> list[list[str]] | None:
    try:
        from tests.replica.corpus import motoko_wasm

        caller_wasm, callee_wasm = motoko_wasm("caller"), motoko_wasm("callee")
    except Exception as exc:  # no node / moc: the Motoko fixtures cannot be built
        print(f"  (XNet rows skipped: the Motoko fixtures are not available: {exc})")
        return None
    root, app1 = run.names[0], run.names[1]
    client = run.client
    far = client.create_canister(app1, 1)
    client.install(app1, far, callee_wasm)
    near = client.create_canister(root, 0)
    client.install(root, near, callee_wasm)
    caller = client.create_canister(root, 0)
    client.install(root, caller, caller_wasm, encode([PRINCIPAL], [near]))

    def forward(target: Principal) -> Callable[[], object]:
        return lambda: client.update(root, caller, "forward_to",
                                     encode([PRINCIPAL, NAT], [target, 1]))

    plain = timed_calls(ROUND_TRIPS, lambda: client.update(root, run.counters[0], "inc"))
    same = timed_calls(ROUND_TRIPS, forward(near))
    cross = timed_calls(ROUND_TRIPS, forward(far))
    reference = statistics.median(same)
    return [[name, f"{statistics.median(t) * 1e3:.1f}", f"{percentile(t, 0.9) * 1e3:.1f}",
             f"{statistics.median(t) / reference:.2f}"]
            for name, t in (("ingress inc, no inter-canister call", plain),
                            ("caller -> callee on the same subnet (reference)", same),
                            ("caller -> callee on another subnet (XNet)", cross))]


def broker_hop(run: Running, work: Path) -> list[list[str]]:
    name, counter = run.names[2], run.counters[2]
    client = run.client

    def one() -> None:
        body, request_id = client.envelope(counter, "inc", EMPTY)
        send_submit(name, "call", counter.to_text(), body)
        wait_all(run.answers, [request_id], ("accepted", "replied", "refused"))

    one()
    latencies = timed_calls(HOPS // 3, one)
    bodies = [client.envelope(counter, "inc", EMPTY) for _ in range(HOPS)]
    started = time.perf_counter()
    for body, _request_id in bodies:
        send_submit(name, "call", counter.to_text(), body)
    wait_all(run.answers, [r for _b, r in bodies], ("accepted", "replied", "refused"))
    batch = (time.perf_counter() - started) / HOPS
    # The same submissions in process (the writer's code without the broker).
    replica = Replica.open(work / "hop-replica")
    try:
        local = replica.create_canister()
        replica.install_code(local, wat_wasm("counter"))
        local_bodies = [signed(client.identity, local, "inc") for _ in range(HOPS)]

        def submit(body: bytes) -> None:
            envelope, _targets = decode_envelope(body, "call", now_ns=time.time_ns())
            endpoints.submit_call(replica, envelope, local)

        started = time.perf_counter()
        for body, _request_id in local_bodies:
            submit(body)
        reference = (time.perf_counter() - started) / HOPS
    finally:
        replica.close()
    return [
        ["in-process submit (reference)", f"{reference * 1e6:,.0f}", "1.00"],
        ["submit task, one at a time (p50)", f"{statistics.median(latencies) * 1e6:,.0f}",
         f"{statistics.median(latencies) / reference:.1f}"],
        [f"submit task, {HOPS} at once (per message)", f"{batch * 1e6:,.0f}",
         f"{batch / reference:.1f}"],
    ]


def failover(run: Running) -> list[list[str]]:
    app1, counter = run.names[1], run.counters[1]
    client = run.client
    client.update(app1, counter, "inc")
    run.writers[app1].kill()
    killed = time.perf_counter()
    sent: list[bytes] = []
    answered_at = None
    while answered_at is None:
        if time.perf_counter() - killed > WAIT_S:
            raise RuntimeError("the standby never answered")
        _body, request_id = client.send(app1, counter, "inc", EMPTY)
        sent.append(request_id)
        deadline = time.perf_counter() + PROBE_S
        while time.perf_counter() < deadline and answered_at is None:
            if run.answers.answered() & {r.hex() for r in sent}:
                answered_at = time.perf_counter()
            time.sleep(0.005)
    took = answered_at - killed
    consuming = [line for line in run.standby.text().splitlines() if "consuming queue" in line]
    return [[f"SIGKILL writer -> first answer from the standby (lease ttl {TTL_S:g} s)",
             f"{took:.2f}", f"{took / TTL_S:.2f}", "yes" if consuming else "no"]]


# -- the run --------------------------------------------------------------------------------

def create_database() -> str:
    name = f"bench_cluster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def main() -> None:
    print("Scale-out cluster (runsubnet writers + runfrontend, PostgreSQL + Redis)")
    missing = [f"{what}: {why}" for what, why in (
        ("PostgreSQL", service_answers(POSTGRES_URL, 5432)),
        ("Redis", service_answers(REDIS_URL, 6379))) if why is not None]
    if missing:
        print("  skipped: the services do not answer (" + "; ".join(missing) + "); start "
              "them or set IC_TEST_POSTGRES_URL / IC_TEST_REDIS_URL")
        return
    database = create_database()
    config = ClusterConfig(with_database(POSTGRES_URL, database), REDIS_URL, REDIS_URL)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        work = Path(tmp)
        run = Running(work, config)
        try:
            print(f"\n1-2. Throughput ({UPDATES} updates at once; {QUERIES} queries by "
                  f"{QUERY_THREADS} agents; {cores()} cores)")
            table(["set-up", "updates/s", "per core", "ratio", "sent/s", "queries/s",
                   "per core", "ratio"], throughput(run, work, run.client.identity))
            rows = xnet(run)
            if rows is not None:
                print(f"\n3. XNet round trip (a whole ingress call, {ROUND_TRIPS} each, "
                      "one at a time)")
                table(["call", "p50 ms", "p90 ms", "ratio"], rows)
            print("\n4. The broker hop per message (v2 submit, answered 'accepted')")
            table(["path", "us/message", "ratio"], broker_hop(run, work))
            print("\n5. Failover")
            table(["event", "seconds", "x ttl", "standby took the queue"], failover(run))
        finally:
            run.close()
            drop_database(database)


if __name__ == "__main__":
    main()
