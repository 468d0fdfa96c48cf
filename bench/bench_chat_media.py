"""Chat attachments: upload throughput into the chat canister and serving it back.

1. **In process.** An in-process replica (memory store, a clock the bench moves) runs the
   chat canister (``apps/chat``) built as for deployment. One 1 MiB
   ``put_attachment_chunk`` through `Replica.update` (ingress, a round, the commit; no
   HTTP, no signature) beside the bare-ABI ``echo`` of the same 1 MiB (the runtime's
   smallest blob-in, blob-out message) as the reference: MB/s, instructions and the
   ratio; then ``commit_attachment`` of the whole file (it reads every chunk once for the
   SHA-256) and one ``http_request`` query answering a 1 MiB Range (206) of it.
2. **Over HTTP.** ``manage.py runreplica`` (SQLite state) on a free port, the chat
   canister installed through the agent; an `HTTP_UPLOAD_MIB` MiB video uploaded with the
   Python agent (signed update calls), its chunks sent by 1 and by 4 threads (one agent
   each), then committed and sent; then the whole file and a 1 MiB Range read back through
   the canister's own origin (``<canister>.localhost``: ``http_request`` plus the
   streaming callback), p50 of `READS` reads.

No timed assertions. Usage: ``.venv/bin/python bench/bench_chat_media.py [--no-http]`` or
``main()`` (``bench/run.py``); about two minutes.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402

from apps.chat.canister.media_records import AttachmentTicket  # noqa: E402
from bench.support import SteppedReplica, build_python_app, mp4_like, runreplica, table  # noqa: E402
from icframework.agent import Actor, Agent, ManagementCanister  # noqa: E402
from icframework.candid import encode, parse_type  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.identity import Ed25519Identity  # noqa: E402
from icframework.replica.execution.python_module import pack_python_module  # noqa: E402
from icframework.sdk.http import HttpRequest  # noqa: E402

APP_DIR = ROOT / "apps" / "chat"
CANISTER = "apps.chat.canister"
MIB = 1024 * 1024
CHUNK_CALLS = 12
HTTP_UPLOAD_MIB = 8
READS = 10
ECHO_APP = """\
import icframework_runtime as rt

@rt.update
def echo(arg):
    return arg
"""
INIT = parse_type("opt record { moderators : vec principal; marketplace : opt principal }")
USER = Principal.self_authenticating(b"chat media bench user")


def _mbs(size: int, seconds: float) -> str:
    return f"{size / MIB / seconds:.2f}" if seconds > 0 else "-"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


class InProcess(SteppedReplica):
    """The chat canister and an echo canister on a `SteppedReplica`."""

    def __init__(self) -> None:
        super().__init__(CANISTER)
        self.canister = self.replica.create_canister()
        self.replica.install_code(self.canister, build_python_app(APP_DIR).wasm,
                                  encode([INIT], [None]))


def in_process_table() -> None:
    site = InProcess()
    echo = site.replica.create_canister()
    site.replica.install_code(echo, pack_python_module({"app.py": ECHO_APP}, "app.py"))
    payload = random.Random(1).randbytes(MIB)
    echo_runs = [site.update(USER, "echo", canister=echo, raw=payload)
                 for _ in range(CHUNK_CALLS)]
    site.update(USER, "register", "bench_user", "Bench user")
    room = site.update(USER, "create_room", "bench", "", True)[2].room.id
    data = mp4_like(CHUNK_CALLS * MIB, 2)
    ticket: AttachmentTicket = site.update(USER, "begin_attachment", room, "bench.mp4",
                                           "video/mp4", len(data))[2]
    chunk_runs = [site.update(USER, "put_attachment_chunk", ticket.id, n,
                              data[n * MIB:(n + 1) * MIB])
                  for n in range(CHUNK_CALLS)]
    commit = site.update(USER, "commit_attachment", ticket.id)
    site.update(USER, "send_attachments", room, "", None, [ticket.id])
    path = commit[2].path
    middle = len(data) // 2
    ranged = [site.query(USER, "http_request", HttpRequest(
        "GET", path, [("range", f"bytes={middle}-{middle + MIB - 1}")], b""))
        for _ in range(READS)]
    assert ranged[0][2].status_code == 206 and len(ranged[0][2].body) == MIB
    reference = statistics.median(s for _i, s, _r in echo_runs[2:])
    rows = []
    for label, runs in (("echo 1 MiB, bare runtime ABI (reference)", echo_runs[2:]),
                        ("put_attachment_chunk 1 MiB", chunk_runs[2:]),
                        ("http_request, 1 MiB Range (query)", ranged[2:])):
        seconds = statistics.median(s for _i, s, _r in runs)
        instr = statistics.median(i for i, _s, _r in runs)
        rows.append([label, f"{instr:,.0f}", _ms(seconds), _mbs(MIB, seconds),
                     f"{seconds / reference:.2f}"])
    rows.append([f"commit_attachment of {CHUNK_CALLS} MiB (SHA-256 of every chunk)",
                 f"{commit[0]:,}", _ms(commit[1]), _mbs(len(data), commit[1]), "-"])
    print(f"1. Attachments in process (Replica.update: ingress, round, commit; no HTTP), "
          f"p50 of {CHUNK_CALLS - 2} calls after 2; ratio = time over the echo's")
    table(["message", "instructions", "p50 ms", "MB/s", "ratio"], rows)
    print()


def _actor(url: str, canister: Principal, identity: Any) -> Actor:
    agent = Agent(url, identity=identity, fetch_root_key=True)
    return Actor(agent, canister, (APP_DIR / "chat.did").read_text(encoding="utf-8"))


def _upload(url: str, canister: Principal, identity: Any, room: int, streams: int,
            seed: int) -> tuple[float, float, str, bytes]:
    """(seconds sending chunks, seconds committing, served path, bytes) of one upload."""
    data = mp4_like(HTTP_UPLOAD_MIB * MIB, seed)
    actors = [_actor(url, canister, identity) for _ in range(streams)]
    ticket = actors[0].begin_attachment(room, f"{streams}.mp4", "video/mp4", len(data))
    attachment, chunks = ticket["id"], int(ticket["chunks"])

    def send(k: int) -> None:
        for n in range(k, chunks, streams):
            actors[k].put_attachment_chunk(attachment, n, data[n * MIB:(n + 1) * MIB])

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(k,)) for k in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = time.perf_counter() - started
    started = time.perf_counter()
    view = actors[0].commit_attachment(attachment)
    committed = time.perf_counter() - started
    actors[0].send_attachments(room, "", None, [attachment])
    return sent, committed, view["path"], data


def http_table(directory: Path) -> None:
    built = build_python_app(APP_DIR)
    identity = Ed25519Identity.generate()
    with runreplica(directory / "state", directory / "runreplica.log") as (url, _process):
        management = ManagementCanister(Agent(url, identity=identity, fetch_root_key=True))
        canister = management.provisional_create_canister_with_cycles()
        management.install_code(canister, built.wasm, encode([INIT], [None]))
        chat = _actor(url, canister, identity)
        chat.register("bench_user", "Bench user")
        room = chat.create_room("bench", "", True)["room"]["id"]
        rows = []
        served = None
        for streams in (1, 4):
            sent, committed, path, data = _upload(url, canister, identity, room, streams,
                                                  10 + streams)
            rows.append([f"{HTTP_UPLOAD_MIB} MiB in 1 MiB chunks, {streams} stream(s)",
                         _mbs(len(data), sent), f"{sent:.2f}", f"{committed:.2f}"])
            served = (path, data)
        print("2a. Attachment uploads over HTTP (Python agent, signed update calls, "
              "runreplica on loopback)")
        table(["upload", "MB/s", "chunks s", "commit s"], rows)
        print()
        assert served is not None
        path, data = served
        port = url.rsplit(":", 1)[1]
        origin = f"http://{canister}.localhost:{port}"
        rows = []
        with httpx.Client(timeout=120) as client:
            for label, headers, size in (
                    ("whole file (first chunk + streaming callback)", {}, len(data)),
                    ("Range: 1 MiB from the middle (206)",
                     {"range": f"bytes={len(data) // 2}-{len(data) // 2 + MIB - 1}"}, MIB)):
                times = []
                for _ in range(READS):
                    started = time.perf_counter()
                    answer = client.get(f"{url}{path}", headers={
                        **headers, "host": f"{canister}.localhost:{port}"})
                    times.append(time.perf_counter() - started)
                    assert len(answer.content) == size, (answer.status_code, len(answer.content))
                seconds = statistics.median(times)
                rows.append([label, str(answer.status_code), _ms(seconds), _mbs(size, seconds)])
        print(f"2b. Reading an attachment back from {origin} (gateway + http_request), "
              f"p50 of {READS}")
        table(["request", "status", "p50 ms", "MB/s"], rows)
        print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--no-http", action="store_true", help="skip the runreplica part")
    args = parser.parse_args(argv if argv is not None else [])
    in_process_table()
    if not args.no_http:
        with tempfile.TemporaryDirectory() as directory:
            http_table(Path(directory))


if __name__ == "__main__":
    main(sys.argv[1:])
