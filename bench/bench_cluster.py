"""The scale-out cluster as real processes: throughput, XNet, the broker hop, failover.

Needs PostgreSQL and Redis on 127.0.0.1 (as the ``services`` tests; override with
``IC_TEST_POSTGRES_URL`` / ``IC_TEST_REDIS_URL``); without them it says so and exits 0.
One cluster is started for the run, in a database of its own (dropped at the end):
writers (``manage.py runsubnet``) of ``root``, ``app1`` and ``app2``, a standby writer
of ``app1`` and one front end (``manage.py runfrontend``), all on this machine, so
every figure shares its cores with the others. All in this run:

1. Updates/s with the load on 1, 2 and 3 subnets: `UPDATES` signed ``inc`` calls to a
   WAT counter on each loaded subnet, signed beforehand and sent at once as
   ``icframework.subnet.submit`` tasks (v3) by `SENDERS` sender *processes* (one sender
   process was the bottleneck, at about 400 calls/s), counted when their certified
   answers are on Redis; one more row sends the 3-subnet load from one process.
   Reference: the same envelopes through the same submission code (``decode_envelope``
   + ``submit_call``) into an embedded replica (SQLite store, the embedded default) in
   this process, then rounds until all are answered.
2. Queries/s with the queried counters on 1, 2 and 3 subnets: `QUERIES` ``get`` queries
   by `SENDERS` processes, each a Python agent verifying the node signatures, through
   the front end, answered by its read-only copies. Reference: the same processes
   against ``manage.py runreplica`` (the embedded replica's HTTP server).

   "Per core" divides by the machine's cores (`os.cpu_count()`): every process of the
   run (senders, writers, front end, PostgreSQL, Redis) shares them, so adding subnets
   adds no capacity here; it shows the cost of the design, not its scaling. "CPU ms"
   is what the run's processes (senders, writers, standby, front end, and the PostgreSQL
   backends of the cluster's database; from ``/proc``) spent per call: Redis (shared
   with other users) is not counted. On machines of
   their own, each subnet's writer would bring its cores.
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

import contextlib
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

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
from icframework.scaleout import (  # noqa: E402
    ClusterConfig,
    configure_celery,
    send_submit,
)
from icframework.scaleout import app as celery_app  # noqa: E402
from tests.replica.corpus import wat_wasm  # noqa: E402
from tests.scaleout.cluster_support import (  # noqa: E402
    Answers,
    Client,
    ClusterProcesses,
    Proc,
    free_port,
)
from tests.services import POSTGRES_URL, REDIS_URL, service_answers, with_database  # noqa: E402

UPDATES = 1200
QUERIES = 1200
SENDERS = 4
REPEATS = 2
ROUND_TRIPS = 30
HOPS = 300
TTL_S = 3.0
PROBE_S = 0.05
EMPTY = b"DIDL\x00\x00"
WAIT_S = 120.0


def cores() -> int:
    return os.cpu_count() or 1


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- sender processes -----------------------------------------------------------------------
# Each runs in a process of its own (spawned: no broker connection or agent shared with the
# parent), prepares its load, says it is ready, waits for the start and reports its time.

def send_updates(config: ClusterConfig, targets: list[tuple[str, str]], count: int,
                 ready: Any, start: Event, report: Any) -> None:
    """Sign ``count`` ``inc`` calls to ``targets`` (round robin), then send them as
    submit tasks; report (seconds sending, CPU seconds)."""
    configure_celery(config)
    identity = Ed25519Identity.generate()
    calls = []
    for n in range(count):
        name, canister = targets[n % len(targets)]
        body, request_id = signed(identity, Principal.from_text(canister), "inc")
        calls.append((name, canister, body, request_id))
    with celery_app.producer_or_acquire() as producer:  # connect before the start
        producer.connection.ensure_connection(max_retries=3)
    ready.put([request_id for *_rest, request_id in calls])
    start.wait()
    cpu, started = own_cpu_s(), time.perf_counter()
    for name, canister, body, _request_id in calls:
        send_submit(name, "call_v3", canister, body)
    report.put((time.perf_counter() - started, own_cpu_s() - cpu))


def send_queries(url: str, canisters: list[str], count: int, offset: int,
                 ready: Any, start: Event, report: Any) -> None:
    """``count`` ``get`` queries by one agent, round robin over ``canisters``; report
    (seconds, CPU seconds) or the error's text."""
    targets = [Principal.from_text(text) for text in canisters]
    with Agent(url, Ed25519Identity.generate(), fetch_root_key=True) as agent:
        for canister in targets:  # warm: root key, node keys of each subnet
            agent.query(canister, "get", EMPTY)
        ready.put(None)
        start.wait()
        cpu, started = own_cpu_s(), time.perf_counter()
        try:
            for n in range(count):
                agent.query(targets[(n + offset) % len(targets)], "get", EMPTY)
        except Exception as exc:  # reported to the parent, which raises it
            report.put(f"{type(exc).__name__}: {exc}")
            return
        report.put((time.perf_counter() - started, own_cpu_s() - cpu))


def run_senders(target: Callable[..., None], argument_lists: list[tuple[Any, ...]],
                ) -> tuple[list[Any], Callable[[], list[Any]], Event, list[Any]]:
    """Spawn one process per argument tuple and wait until each is ready; return what
    they said when ready, a function collecting their reports (and joining them), the
    start event, and the processes."""
    context = multiprocessing.get_context("spawn")
    ready, report, start = context.Queue(), context.Queue(), context.Event()
    processes = [context.Process(target=target, args=(*args, ready, start, report),
                                 daemon=True) for args in argument_lists]
    for process in processes:
        process.start()
    said = [ready.get(timeout=WAIT_S) for _ in processes]

    def collect() -> list[Any]:
        reports = [report.get(timeout=WAIT_S) for _ in processes]
        for process in processes:
            process.join(10)
        failed = [r for r in reports if isinstance(r, str)]
        if failed:
            raise RuntimeError(f"a sender process failed: {failed[0]}")
        return reports

    return said, collect, start, processes


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


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

    def cluster_cpu_s(self) -> float:
        """CPU seconds used so far by the cluster's processes (writers, standby, front end)
        and by the PostgreSQL backends serving its database."""
        with psycopg.connect(self.config.database_url, autocommit=True) as conn:
            backends = [pid for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()")]
        pids = [proc.pid for proc in self.procs.procs if proc.popen.poll() is None]
        total = 0.0
        for pid in pids + backends:
            with contextlib.suppress(OSError):  # a backend that ended meanwhile
                total += cpu_s(pid)
        return total

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


class Rate:
    """A measured rate: calls per second and CPU milliseconds per call."""

    def __init__(self, calls: int, seconds: float, cpu_seconds: float) -> None:
        self.per_s = calls / seconds
        self.cpu_ms = cpu_seconds * 1e3 / calls


def cluster_updates(run: Running, subnets: int, senders: int = SENDERS) -> tuple[Rate, float]:
    """Updates/s with ``UPDATES`` calls spread over the first ``subnets`` subnets by
    ``senders`` processes, and the rate at which they put them on the broker."""
    targets = [(run.names[k], run.counters[k].to_text()) for k in range(subnets)]
    ids, collect, start, _processes = run_senders(
        send_updates, [(run.config, targets, count) for count in split(UPDATES, senders)])
    before = run.cluster_cpu_s()
    started = time.perf_counter()
    start.set()
    reports = collect()
    sent = max(seconds for seconds, _cpu in reports)
    wait_all(run.answers, [request_id for part in ids for request_id in part],
             ("replied", "rejected"))
    elapsed = time.perf_counter() - started
    cpu = run.cluster_cpu_s() - before + sum(cpu for _seconds, cpu in reports)
    # The last answer on each subnet is a certified reply (checked outside the timing).
    for k in range(subnets):
        run.client.reply(ids[0][k] if len(ids[0]) > k else ids[0][-1], run.counters[k])
    return Rate(UPDATES, elapsed, cpu), UPDATES / sent


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


def query_rate(url: str, canisters: list[Principal],
               cluster_cpu: Callable[[], float] = lambda: 0.0) -> Rate:
    """Queries/s of ``SENDERS`` agent processes querying ``canisters`` round robin."""
    texts = [canister.to_text() for canister in canisters]
    _said, collect, start, _processes = run_senders(
        send_queries, [(url, texts, count, n) for n, count in enumerate(split(QUERIES, SENDERS))])
    before = cluster_cpu()
    started = time.perf_counter()
    start.set()
    reports = collect()
    elapsed = time.perf_counter() - started
    cpu = cluster_cpu() - before + sum(cpu for _seconds, cpu in reports)
    return Rate(QUERIES, elapsed, cpu)


def reference_queries(work: Path) -> float:
    with runreplica(work / "runreplica-state", work / "runreplica.log") as (url, _process):
        with Agent(url, Ed25519Identity.generate(), fetch_root_key=True) as agent:
            counter = ManagementCanister(agent).provisional_create_canister_with_cycles()
            ManagementCanister(agent).install_code(counter, wat_wasm("counter"))
            agent.update(counter, "inc", EMPTY)
        return query_rate(url, [counter], lambda: cpu_s(_process.pid)).per_s


def throughput(run: Running, work: Path, identity: Ed25519Identity) -> list[list[str]]:
    ref_updates = reference_updates(work, identity)
    ref_queries = reference_queries(work)
    rows = [["embedded replica (reference)", "", f"{ref_updates:,.0f}",
             f"{ref_updates / cores():,.0f}", "", "1.00", "", f"{ref_queries:,.0f}",
             f"{ref_queries / cores():,.0f}", "", "1.00"]]
    for subnets, senders in ((1, SENDERS), (2, SENDERS), (3, SENDERS), (3, 1)):
        # The better of `REPEATS` runs: other work on the machine only ever slows one.
        updates, sent = max((cluster_updates(run, subnets, senders) for _ in range(REPEATS)),
                            key=lambda result: result[0].per_s)
        queries = max((query_rate(run.url, run.counters[:subnets], run.cluster_cpu_s)
                       for _ in range(REPEATS)), key=lambda rate: rate.per_s)
        rows.append([f"cluster, {subnets} subnet{'s' if subnets > 1 else ''}",
                     str(senders), f"{updates.per_s:,.0f}", f"{updates.per_s / cores():,.0f}",
                     f"{updates.cpu_ms:.1f}", f"{updates.per_s / ref_updates:.2f}",
                     f"{sent:,.0f}", f"{queries.per_s:,.0f}",
                     f"{queries.per_s / cores():,.0f}", f"{queries.cpu_ms:.1f}",
                     f"{queries.per_s / ref_queries:.2f}"])
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
            load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
            print(f"\n1-2. Throughput ({UPDATES} updates at once, {QUERIES} queries, by "
                  f"sender processes, best of {REPEATS}; {cores()} cores shared by every "
                  f"process; load average {load})")
            table(["set-up", "senders", "updates/s", "per core", "CPU ms", "ratio", "sent/s",
                   "queries/s", "per core", "CPU ms", "ratio"],
                  throughput(run, work, run.client.identity))
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
