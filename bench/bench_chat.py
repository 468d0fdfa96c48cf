"""The chat app under load: throughput, fan-out latency and the cost of a message post.

The server is ``manage.py runreplica`` (daphne + Django Channels, SQLite state in a
temporary directory) on a free port, with the chat app (``apps/chat``) built and
installed through the agent. 100 users (`ChatClient`, each with its own Ed25519 key and
its own authenticated WebSocket; every call is a signed envelope over that socket) are
spread over 10 public rooms of 10 members, each following its room. All in this run:

1. References: ``me`` (a query round trip over the socket, node signature verified)
   and ``ping`` (the canister's cheapest update, a v3 call whose certificate is
   verified), sequential, 20 of each from each of 10 clients (a socket may send at most
   200 frames per 10 s): p50/p99 latency.
2. Fan-out, unloaded: 200 posts, one at a time (the next after all 9 other members
   received the previous one), round-robin over rooms and members. Latency is from just
   before the post's call is sent to the moment each other member's client has decoded
   the ``message`` event (p50/p99 over all deliveries), beside the post's own call
   latency; ratios against the ``ping`` p50.
3. Sustained: every client posts in its own thread for `SUSTAIN_SECONDS`, one post each
   `PACE_SECONDS` at most, which keeps each user under the canister's rate limit of 20
   messages per 10 s (so at most 100 / `PACE_SECONDS` posts/s are offered): posts
   accepted per second, deliveries per second and their latency under that load.
   Deliveries offered (each accepted post times the 9 other members), delivered and
   lost (not arrived `DELIVERY_WAIT` seconds after the posting ended), the post's own
   call latency under load (the part of a delivery's latency spent before its round
   committed) and the delivery's time after the poster had its reply (the event path's
   own share; negative when the event beat the reply), the sockets the server closed
   for a resync (the client reconnects and catches up by query; what it catches up
   counts as delivered), and the loaded delivery p50 over the unloaded one.
4. The canister's cost per message, on an in-process replica (memory store) with the same
   module: instructions (`RoundReport.instructions`, one message per round) and cycles
   (balance before and after, so execution and ingress fees) per call, for posts of a
   short and a long markdown message with a mention, a reaction, an edit and ``ping``
   (the reference of the ratio column); the cycles the live canister spent over the
   fan-out phase are shown beside them.

Clients and server share this machine: 100 client sockets with their reader threads
cost CPU that the server then lacks, so the sustained figures are a floor; the load
average (``uptime``) before and after the run is printed beside them. No timed
assertions. Usage: ``.venv/bin/python bench/bench_chat.py`` or ``main()``
(``bench/run.py``); about a minute.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.chat.client import ChatClient, decode_reply, encode_call  # noqa: E402
from icframework.agent import Agent, ManagementCanister, RejectError  # noqa: E402
from icframework.agent.socket import SocketError  # noqa: E402
from icframework.compiler.app_build import build_app  # noqa: E402
from icframework.compiler.runtime_build import load_runtime  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.identity import Ed25519Identity  # noqa: E402
from icframework.replica.embedded import Replica  # noqa: E402
from icframework.replica.execution.python_module import pack_python_module  # noqa: E402
from icframework.replica.execution.runtime import set_runtime_loader  # noqa: E402
from tests.agent.live_replica import running_replica  # noqa: E402

ROOMS = 10
PER_ROOM = 10
REFERENCE_CALLS = 200
REFERENCE_CLIENTS = 10
FANOUT_POSTS = 200
SUSTAIN_SECONDS = 15.0
PACE_SECONDS = 0.6
COST_CALLS = 50
DELIVERY_WAIT = 10.0  # seconds a delivery may take before it counts as lost


CLOCK_TICK = 1 / os.sysconf("SC_CLK_TCK")


def server_pid() -> int:
    """The ``runreplica`` child of this process (started by `running_replica`)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            return int(stat.parent.name)
    raise RuntimeError("runreplica is not a child of this process")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in
                    enumerate(zip(headers, widths, strict=True))))
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                        enumerate(zip(row, widths, strict=True))))


def chat_module() -> bytes:
    result = build_app(ROOT / "apps" / "chat", pack_python_module,
                       cache_dir=ROOT / ".build" / "apps", progress=None)
    return result.wasm


def identity(n: int) -> Ed25519Identity:
    return Ed25519Identity.from_seed(f"bench chat user {n:04d}".encode().ljust(32, b"."))


class Receiver:
    """Records when each ``message`` event reaches one client (by message text)."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.arrived: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                update = self.client.next_update(timeout=0.2)
            except SocketError:
                return  # closed at the end of the run
            if update is not None and update.kind == "message":
                self.arrived[update.value.text] = time.perf_counter()


def timed(call: Callable[[], Any], times: int) -> list[float]:
    out = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def wait_for(receivers: list[Receiver], text: str, deadline: float) -> None:
    while time.perf_counter() < deadline and not all(text in r.arrived for r in receivers):
        time.sleep(0.0005)


def live_benchmark(wasm: bytes) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, running_replica(Path(tmp) / "state") as url:
        installer = Ed25519Identity.from_seed(b"bench chat installer".ljust(32, b"."))
        with Agent(url, identity=installer, fetch_root_key=True) as agent:
            management = ManagementCanister(agent)
            canister = management.provisional_create_canister_with_cycles()
            management.install_code(canister, wasm)
            started = time.perf_counter()
            users = ROOMS * PER_ROOM
            with ThreadPoolExecutor(16) as pool:
                clients = list(pool.map(
                    lambda n: ChatClient.connect(url, canister, identity(n)), range(users)))
                list(pool.map(lambda n: clients[n].register(f"user_{n:03d}", f"User {n}"),
                              range(users)))
                rooms = list(pool.map(lambda r: int(clients[r * PER_ROOM].create_room(
                    f"bench-{r}", "", True).room.id), range(ROOMS)))
                members = [(rooms[n // PER_ROOM], clients[n]) for n in range(users)]
                list(pool.map(lambda m: m[1].join_room(m[0]),
                              [m for n, m in enumerate(members) if n % PER_ROOM]))
                list(pool.map(lambda m: m[1].follow(m[0]), members))
            results["setup"] = time.perf_counter() - started
            receivers = [Receiver(c) for c in clients]
            try:
                results.update(_reference(clients[:REFERENCE_CLIENTS]))
                cycles_before = management.canister_status(canister).cycles
                results.update(_fanout(clients, receivers, rooms))
                results["live_cycles_per_post"] = (
                    cycles_before - management.canister_status(canister).cycles) / FANOUT_POSTS
                pid = server_pid()
                server, client = cpu_seconds(pid), time.process_time()
                results.update(_sustained(clients, receivers))
                results["server_cpu"] = cpu_seconds(pid) - server
                results["client_cpu"] = time.process_time() - client
            finally:
                for receiver in receivers:
                    receiver.stop.set()
                for client in clients:
                    client.close()
    return results


def _reference(clients: list[ChatClient]) -> dict[str, Any]:
    """Sequential calls, spread over clients: a socket may send at most 200 frames per
    10 s (docs/events.md)."""
    each = REFERENCE_CALLS // len(clients)
    query, update = [], []
    for client in clients:
        client.me()
        client.ping()
        query += timed(client.me, each)
        update += timed(client.ping, each)
    return {"query": query, "update": update}


def _fanout(clients: list[ChatClient], receivers: list[Receiver],
            rooms: list[int]) -> dict[str, Any]:
    calls, deliveries, lost = [], [], 0
    for i in range(FANOUT_POSTS):
        room = i % ROOMS
        poster = room * PER_ROOM + (i // ROOMS) % PER_ROOM
        others = [receivers[room * PER_ROOM + k] for k in range(PER_ROOM)
                  if room * PER_ROOM + k != poster]
        text = f"fan-out {i}"
        start = time.perf_counter()
        clients[poster].send_message(rooms[room], text, None)
        calls.append(time.perf_counter() - start)
        wait_for(others, text, start + DELIVERY_WAIT)
        for receiver in others:
            if text in receiver.arrived:
                deliveries.append(receiver.arrived[text] - start)
            else:
                lost += 1
    return {"fanout_calls": calls, "fanout": deliveries, "fanout_lost": lost}


def _sustained(clients: list[ChatClient], receivers: list[Receiver]) -> dict[str, Any]:
    sent: dict[str, tuple[int, float, float]] = {}  # text -> (poster, start, replied)
    calls: list[float] = []
    reconnects = sum(c.reconnects for c in clients)
    rejected = [0]
    lock = threading.Lock()
    begin = time.perf_counter()
    end = begin + SUSTAIN_SECONDS

    def post(n: int) -> None:
        client, count = clients[n], 0
        room = int(client.my_rooms()[0].room.id)
        next_start = time.perf_counter() + (n % 10) * PACE_SECONDS / 10
        while (now := time.perf_counter()) < end:
            if now < next_start:
                time.sleep(next_start - now)
            start = time.perf_counter()
            next_start = start + PACE_SECONDS
            text = f"load {n} {count}"
            count += 1
            try:
                client.send_message(room, text, None)
            except RejectError:
                with lock:
                    rejected[0] += 1
                continue
            replied = time.perf_counter()
            with lock:
                sent[text] = (n, start, replied)
                calls.append(replied - start)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    posting = time.perf_counter() - begin
    deadline = time.perf_counter() + DELIVERY_WAIT
    expected = sum(PER_ROOM - 1 for _ in sent)
    while time.perf_counter() < deadline:
        got = sum(1 for r in receivers for t in list(r.arrived) if t.startswith("load "))
        if got >= expected + len(sent):  # the poster receives its own post too
            break
        time.sleep(0.05)
    latencies, after_reply, lost = [], [], 0
    for text, (poster, start, replied) in sent.items():
        room = poster // PER_ROOM
        for k in range(PER_ROOM):
            member = room * PER_ROOM + k
            if member == poster:
                continue
            arrived = receivers[member].arrived.get(text)
            if arrived is None:
                lost += 1
            else:
                latencies.append(arrived - start)
                after_reply.append(arrived - replied)
    return {"sustained_posts": len(sent), "sustained_rejected": rejected[0],
            "sustained_seconds": posting, "sustained": latencies, "sustained_lost": lost,
            "sustained_offered": expected, "sustained_calls": calls,
            "sustained_after_reply": after_reply,
            "sustained_resyncs": sum(c.reconnects for c in clients) - reconnects,
            "sustained_wall": time.perf_counter() - begin}


class _Clock:
    """Round time for the in-process replica: one second per message, so that no rate
    limit of the canister is reached."""

    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now


def cost_benchmark(wasm: bytes) -> list[tuple[str, float, float]]:
    """(row, instructions per call, cycles per call) on an in-process replica."""
    previous = set_runtime_loader(load_runtime)  # what the Django app does at start-up
    try:
        return _costs(wasm)
    finally:
        set_runtime_loader(previous)


def _costs(wasm: bytes) -> list[tuple[str, float, float]]:
    clock = _Clock()
    replica = Replica.open(None, clock=clock)
    canister = replica.create_canister()
    replica.install_code(canister, wasm)
    alice, bob = identity(9000).principal, identity(9001).principal

    def call(sender: Principal, method: str, *args: Any) -> tuple[int, Any]:
        clock.now += 1_000_000_000
        _kind, arg = encode_call(method, *args)
        request = replica.submit(canister, method, arg, sender=sender)
        report = replica.subnet.execute_round()
        status = replica.subnet.ingress_status(request)
        assert status is not None and status.reply is not None, (method, status)
        return report.instructions, decode_reply(method, status.reply)

    call(alice, "register", "alice", "Alice")
    call(bob, "register", "bob", "Bob")
    room = int(call(alice, "create_room", "costs", "", True)[1].room.id)
    call(bob, "join_room", room)
    target = int(call(alice, "send_message", room, "react to me", None)[1].id)
    long_text = ("**Release notes** for @bob: " + "the quick brown fox jumps over the lazy "
                 "dog; " * 20 + "see https://example.org/notes and `code`.")
    emojis = ["👍", "🎉", "🐍", "❤️", "🚀"]
    rows: list[tuple[str, Callable[[int], tuple[Principal, str, tuple[Any, ...]]]]] = [
        ("ping (reference)", lambda i: (alice, "ping", ())),
        ("send_message, 5 words", lambda i: (alice, "send_message",
                                             (room, f"hello there number {i}", None))),
        (f"send_message, {len(long_text)} chars, mention",
         lambda i: (alice, "send_message", (room, f"{long_text} {i}", None))),
        ("add_reaction / remove_reaction",
         lambda i: (bob, "add_reaction" if i % 2 == 0 else "remove_reaction",
                    (room, target, emojis[(i // 2) % len(emojis)]))),
        ("edit_message", lambda i: (alice, "edit_message", (room, target, f"edited {i}"))),
    ]
    out = []
    for name, make in rows:
        sender, method, args = make(0)
        call(sender, method, *args)  # warm up
        before = replica.canister_status(canister)["cycles"]
        used = []
        for i in range(1, COST_CALLS + 1):
            sender, method, args = make(i)
            used.append(call(sender, method, *args)[0])
        spent = before - replica.canister_status(canister)["cycles"]
        out.append((name, statistics.median(used), spent / COST_CALLS))
    replica.close()
    return out


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (as ``uptime`` prints them)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    started = time.perf_counter()
    load_before = load_average()
    wasm = chat_module()
    live = live_benchmark(wasm)
    load_after = load_average()
    costs = cost_benchmark(wasm)
    ping_p50 = statistics.median(live["update"])

    print(f"Chat: {ROOMS * PER_ROOM} WebSocket clients in {ROOMS} rooms of {PER_ROOM} "
          f"(setup: connect, register, join, follow in {live['setup']:.1f} s)")
    print()
    print("1-2. Latency over the socket (ms); ratio = p50 / ping p50")
    rows = []
    for name, values in (("me (query round trip)", live["query"]),
                         ("ping (update round trip, reference)", live["update"]),
                         ("send_message call (unloaded)", live["fanout_calls"]),
                         ("post -> delivery to 9 members (unloaded)", live["fanout"]),
                         ("send_message call under sustained load", live["sustained_calls"]),
                         ("post -> delivery under sustained load", live["sustained"]),
                         ("post's reply -> delivery under sustained load",
                          live["sustained_after_reply"])):
        p50 = statistics.median(values) if values else float("nan")
        rows.append([name, str(len(values)), ms(p50), ms(percentile(values, 0.99)),
                     f"{p50 / ping_p50:.2f}"])
    table(["operation", "samples", "p50", "p99", "ratio"], rows)
    print(f"lost deliveries: unloaded {live['fanout_lost']}, sustained {live['sustained_lost']}")
    unloaded, loaded = statistics.median(live["fanout"]), statistics.median(live["sustained"])
    print(f"delivery p50 loaded / unloaded: {ms(loaded)} / {ms(unloaded)} ms = "
          f"{loaded / unloaded:.1f}x")
    print()
    seconds = live["sustained_seconds"]
    posts = live["sustained_posts"]
    print(f"3. Sustained posting for {seconds:.1f} s, each client at most one post per "
          f"{PACE_SECONDS:g} s (offered at most {ROOMS * PER_ROOM / PACE_SECONDS:.0f}/s)")
    table(["figure", "value"], [
        ["posts accepted", f"{posts:,}"],
        ["deliveries offered (posts x 9 others)", f"{live['sustained_offered']:,}"],
        ["deliveries arrived", f"{live['sustained_offered'] - live['sustained_lost']:,}"],
        ["deliveries lost", f"{live['sustained_lost']:,}"],
        ["sockets closed for a resync", f"{live['sustained_resyncs']:,}"],
        ["posts rejected (rate limit)", f"{live['sustained_rejected']:,}"],
        ["posts per second", f"{posts / seconds:.1f}"],
        ["deliveries per second (to the 9 others)", f"{posts * (PER_ROOM - 1) / seconds:.1f}"],
        ["share of the offered rate", f"{posts / seconds / (ROOMS * PER_ROOM / PACE_SECONDS):.2f}"],
        ["server CPU, share of one core", f"{live['server_cpu'] / live['sustained_wall']:.2f}"],
        ["clients' CPU (this process), share of one core",
         f"{live['client_cpu'] / live['sustained_wall']:.2f}"],
        ["load average before / after the live run", f"{load_before} / {load_after}"],
    ])
    print()
    ping_instructions = costs[0][1]
    print(f"4. Cost per call on an in-process replica (median instructions of {COST_CALLS}, "
          "cycles = balance change / calls); ratio = instructions / ping's")
    table(["call", "instructions", "cycles", "ratio"], [
        [name, f"{instructions:,.0f}", f"{cycles:,.0f}", f"{instructions / ping_instructions:.2f}"]
        for name, instructions, cycles in costs
    ])
    print(f"live canister, fan-out phase: {live['live_cycles_per_post']:,.0f} cycles per "
          "send_message (5-byte texts, signed over the socket)")
    print(f"(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
