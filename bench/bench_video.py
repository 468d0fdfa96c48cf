"""The short-video app: uploads into the canister, serving with Range, transcoding, and the
feeds at 1,000 to 100,000 videos.

1. **Uploads, in process.** One 1 MiB ``put_chunk`` of the video canister (``apps/video``)
   through `Replica.update` (ingress, a round, the commit; no HTTP, no signature) beside
   the bare-ABI ``echo`` of the same 1 MiB (the runtime's smallest blob-in, blob-out
   message, table 3 of ``bench_python_canister.py``) in the same replica: MB/s,
   instructions and the ratio. The canister hashes chunks as they arrive in order and
   writes each to stable storage, so the gap is the SDK's Candid, the hash and the
   store.
2. **Uploads and serving over HTTP.** ``manage.py runreplica`` (SQLite state) on a free
   port; the built canister installed through the agent. A 16 MiB original uploaded with
   the Python agent (signed calls, ``icframework.agent``), its chunks sent by 1 and by 4
   threads (4 parallel streams, one agent each), then ``finish_upload``; a ready video
   made through the worker methods with an 8 MiB rendition; then time to first byte
   (whole file) and to the first 206 of a seek (``Range: bytes=<middle>-``) through the
   canister gateway (``<canister>.localhost``, ``http_request`` plus the streaming
   callback), p50 of `TTFB_SAMPLES`; and **wrk** with 32 connections (32 concurrent
   viewers) asking random 256 KiB and 1 MiB ranges for `WRK_SECONDS` s. The reference
   row is wrk on ``/api/v2/status`` (the same server's cheapest answer).
3. **Transcoding.** `apps.video.clips.make_clip` renders a 10 s original (1080x1920
   vertical and 1280x720 landscape), `apps.video.transcode.transcode` makes the 720p and
   360p MP4s and the poster: seconds per video-second, beside rendering the original
   (one H.264 encode at the original size) as the reference.
4. **Feeds at 1,000, 10,000 (and with ``--full`` 100,000) videos.** An in-process replica
   (memory store, a clock the bench moves) runs the canister. One real clip is uploaded
   and processed by the worker methods; every other video is a content-hash dedup
   upload (one ``begin_upload`` each, straight to ready, sharing that media) by one of
   `CREATORS` creators, with a like and a view on every `ENGAGED_EVERY`-th video from
   `FANS` fans, the clock moved `STEP_SECONDS` before each call so the per-user rate
   limits hold. The first `REPLICA_FILL` videos go through the replica as ingress
   messages; the rest run the canister's own methods natively on its key-value store
   (as ``bench_social.py`` fills). Per size, over `SAMPLES` viewers (each following
   `FOLLOWS_PER_VIEWER` creators): instructions (median) and latency p50/p99 of For You
   (first page and the next), Following (first page), a hashtag page and a dedup
   upload; the ratio of the largest size to the smallest with a verdict; and the state
   (key-value bytes) per video. (`Replica.memory_usage` is not shown: it does not see the
   keys the native fill writes.)

No timed assertions. Usage: ``.venv/bin/python bench/bench_video.py [--full] [--sizes
1000,10000] [--no-http]`` or ``main()`` (``bench/run.py``). ``--full`` adds 100,000
videos (about ten minutes of native fill here).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402

from apps.video.canister.records import (  # noqa: E402
    MediaInfo,
    RenditionKind,
    RenditionUpload,
    UploadInput,
)
from apps.video.clips import make_clip  # noqa: E402
from apps.video.seed import _init_arg  # noqa: E402
from apps.video.transcode import transcode  # noqa: E402
from bench.support import (  # noqa: E402
    SteppedReplica,
    StoreView,
    build_python_app,
    mp4_like,
    percentile,
    runreplica,
    table,
)
from icframework.agent import Actor, Agent, ManagementCanister  # noqa: E402
from icframework.candid import encode, parse_type  # noqa: E402
from icframework.compiler.runtime_build import load_runtime  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.identity import Ed25519Identity  # noqa: E402
from icframework.replica.execution.component import ComponentSandbox  # noqa: E402
from icframework.replica.execution.python_module import pack_python_module  # noqa: E402
from icframework.replica.execution.runtime import set_runtime_loader  # noqa: E402
from icframework.sdk import LocalBackend, LocalCanister  # noqa: E402
from icframework.sdk.dispatch import Reply, decode_result, encode_args  # noqa: E402

APP_DIR = ROOT / "apps" / "video"
CANISTER = "apps.video.canister"
MIB = 1024 * 1024
SECOND = 1_000_000_000
ECHO_APP = """\
import icframework_runtime as rt


@rt.update
def echo(arg):
    return arg
"""
CHUNK_CALLS = 12
HTTP_UPLOAD_MIB = 16
RENDITION_MIB = 8
TTFB_SAMPLES = 20
WRK_SECONDS = 10
VIEWERS = 32
TRANSCODE_SECONDS = 10
QUICK_SIZES: tuple[int, ...] = (1_000, 10_000)
FULL_SIZES: tuple[int, ...] = (1_000, 10_000, 100_000)
CREATORS = 500
FANS = 200
ENGAGED_EVERY = 5
REPLICA_FILL = 300
STEP_SECONDS = 20
SAMPLES = 20
FOLLOWS_PER_VIEWER = 50
PAGE = 10
TAGS = ["dance", "cooking", "running", "bikes", "art", "music", "travel", "comedy",
        "pets", "diy", "tech", "fitness"]
WORDS = ["morning", "routine", "quick", "tutorial", "sunset", "city", "ride", "recipe",
         "sketch", "trail", "studio", "weekend"]
INIT = parse_type("opt record { admins : vec principal; workers : vec principal; "
                  "ledger : opt principal }")
WRK_SCRIPT = """\
-- Random ranges of one rendition: path, size and range length from the arguments.
local path, size, span, host
function init(args)
  path, size, span, host = args[1], tonumber(args[2]), tonumber(args[3]), args[4]
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end
function request()
  local first = math.random(0, size - span)
  return wrk.format("GET", path, {["Host"] = host,
    ["Range"] = string.format("bytes=%d-%d", first, first + span - 1)}, nil)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests,
    summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""
STATUS_SCRIPT = WRK_SCRIPT.replace(
    'wrk.format("GET", path, {["Host"] = host,\n    ["Range"] = string.format("bytes=%d-%d", '
    'first, first + span - 1)}, nil)', 'wrk.format("GET", path, {}, nil)')


def _mbs(size: int, seconds: float) -> str:
    return f"{size / MIB / seconds:.2f}" if seconds > 0 else "-"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def creator(n: int) -> Principal:
    return Principal.self_authenticating(f"video bench creator {n}".encode())


def fan(n: int) -> Principal:
    return Principal.self_authenticating(f"video bench fan {n}".encode())


def viewer(n: int) -> Principal:
    return Principal.self_authenticating(f"video bench viewer {n}".encode())


WORKER = Principal.self_authenticating(b"video bench worker")
ADMIN = Principal.self_authenticating(b"video bench admin")


# -- 1. uploads in process -------------------------------------------------------------------


class InProcess(SteppedReplica):
    """The video canister and an echo canister on a `SteppedReplica`."""

    def __init__(self) -> None:
        super().__init__(CANISTER)
        built = build_python_app(APP_DIR)
        self.canister = self.replica.create_canister()
        self.replica.install_code(self.canister, built.wasm,
                                  _init_arg(built.did, ADMIN, WORKER, None))


def upload_table(site: InProcess) -> None:
    echo = site.replica.create_canister()
    site.replica.install_code(echo, pack_python_module({"app.py": ECHO_APP}, "app.py"))
    payload = random.Random(1).randbytes(MIB)
    echo_runs = [site.update(ADMIN, "echo", canister=echo, raw=payload)
                 for _ in range(CHUNK_CALLS)]
    original = mp4_like(CHUNK_CALLS * MIB, 2)
    who = creator(0)
    _, _, ticket = site.update(who, "begin_upload", UploadInput(
        "in-process upload", len(original), hashlib.sha256(original).digest(), "video/mp4"))
    chunk_runs = [site.update(who, "put_chunk", ticket.video_id, n,
                              original[n * MIB:(n + 1) * MIB]) for n in range(CHUNK_CALLS)]
    finish = site.update(who, "finish_upload", ticket.video_id)
    rows = []
    reference = statistics.median(s for _i, s, _r in echo_runs[2:])
    for label, runs in (("echo 1 MiB, bare runtime ABI (reference)", echo_runs[2:]),
                        ("put_chunk 1 MiB (video canister)", chunk_runs[2:])):
        seconds = statistics.median(s for _i, s, _r in runs)
        instr = statistics.median(i for i, _s, _r in runs)
        rows.append([label, f"{instr:,.0f}", _ms(seconds), _mbs(MIB, seconds),
                     f"{seconds / reference:.2f}"])
    rows.append([f"finish_upload of {CHUNK_CALLS} MiB sent in order", f"{finish[0]:,}",
                 _ms(finish[1]), "-", "-"])
    print(f"1. Uploads in process (Replica.update: ingress, round, commit; no HTTP), p50 of "
          f"{CHUNK_CALLS - 2} calls after 2; ratio = time over the echo's")
    table(["message", "instructions", "p50 ms", "MB/s", "ratio"], rows)
    print()


# -- 2. uploads and serving over HTTP --------------------------------------------------------


def _actor(url: str, canister: Principal, did: str, identity: Any = None) -> Actor:
    agent = Agent(url, identity=identity or Ed25519Identity.generate(), fetch_root_key=True)
    return Actor(agent, canister, did)


def _http_upload(url: str, canister: Principal, did: str, streams: int, seed: int
                 ) -> tuple[float, float, int]:
    """(seconds sending chunks, seconds of finish_upload, bytes) of one upload whose
    chunks ``streams`` threads send (one agent each)."""
    data = mp4_like(HTTP_UPLOAD_MIB * MIB, seed)
    identity = Ed25519Identity.generate()
    actors = [_actor(url, canister, did, identity) for _ in range(streams)]
    ticket = actors[0].begin_upload({"caption": f"{streams} streams", "size": len(data),
                                     "sha256": hashlib.sha256(data).digest(),
                                     "content_type": "video/mp4"})
    vid, chunks = ticket["video_id"], int(ticket["chunks"])

    def send(k: int) -> None:
        for n in range(k, chunks, streams):
            actors[k].put_chunk(vid, n, data[n * MIB:(n + 1) * MIB])

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(k,)) for k in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = time.perf_counter() - started
    started = time.perf_counter()
    video = actors[0].finish_upload(vid)
    assert "processing" in video["status"], video
    return sent, time.perf_counter() - started, len(data)


def _ready_video(url: str, canister: Principal, did: str, worker: Ed25519Identity
                 ) -> tuple[str, bytes]:
    """A ready video made through the worker methods: its r720 path and bytes."""
    user = _actor(url, canister, did)
    original = mp4_like(MIB // 2, 7)
    ticket = user.begin_upload({"caption": "served #bench", "size": len(original),
                                "sha256": hashlib.sha256(original).digest(),
                                "content_type": "video/mp4"})
    user.put_chunk(ticket["video_id"], 0, original)
    user.finish_upload(ticket["video_id"])
    vid = ticket["video_id"]
    me = _actor(url, canister, did, worker)
    me.worker_claim(vid)
    rendition = random.Random(8).randbytes(RENDITION_MIB * MIB)
    poster = random.Random(9).randbytes(40_000)
    for kind, body, content_type in (("r720", rendition, "video/mp4"),
                                     ("poster", poster, "image/jpeg")):
        digest = hashlib.sha256(body).digest()
        for n in range(-(-len(body) // MIB)):
            me.worker_put_rendition(vid, {
                "kind": {kind: None}, "content_type": content_type, "size": len(body),
                "width": 720, "height": 1280, "sha256": digest, "index": n,
                "data": body[n * MIB:(n + 1) * MIB]})
    video = me.worker_complete(vid, {"duration_ms": 10_000, "width": 720, "height": 1280})
    path = next(r["path"] for r in video["renditions"] if "r720" in r["kind"])
    return path, rendition


def _first_byte(client: httpx.Client, url: str, headers: dict[str, str]
                ) -> tuple[float, float, int, int]:
    """(seconds to the first body byte, seconds to the end, status, bytes)."""
    started = time.perf_counter()
    first = None
    size = 0
    with client.stream("GET", url, headers=headers) as response:
        for piece in response.iter_bytes():
            if first is None and piece:
                first = time.perf_counter() - started
            size += len(piece)
        status = response.status_code
    return first or 0.0, time.perf_counter() - started, status, size


def _wrk(script: str, url: str, args: list[str], directory: Path) -> dict[str, float]:
    path = directory / "bench.lua"
    path.write_text(script)
    command = ["wrk", "-t", "4", "-c", str(VIEWERS), "-d", f"{WRK_SECONDS}s", "--timeout",
               "30s", "-s", str(path), url, "--", *args]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next((row for row in output.splitlines() if row.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    requests, micros, size, p50, p99, bad, errors = map(int, line.split()[1:])
    return {"requests": requests, "seconds": micros / 1e6, "bytes": size, "p50": p50 / 1e6,
            "p99": p99 / 1e6, "bad": bad, "errors": errors}


def http_tables(directory: Path) -> None:
    built = build_python_app(APP_DIR)
    did = (APP_DIR / "video.did").read_text(encoding="utf-8")
    worker = Ed25519Identity.generate()
    with runreplica(directory / "state", directory / "runreplica.log",
                    options=["--no-worker"]) as (url, _process):
        management = ManagementCanister(Agent(url, identity=Ed25519Identity.generate(),
                                              fetch_root_key=True))
        canister = management.provisional_create_canister_with_cycles()
        management.install_code(canister, built.wasm, encode([INIT], [{
            "admins": [], "workers": [worker.principal], "ledger": None}]))
        rows = []
        for streams in (1, 4):
            sent, finish, size = _http_upload(url, canister, did, streams, 10 + streams)
            rows.append([f"{HTTP_UPLOAD_MIB} MiB in 1 MiB chunks, {streams} stream(s)",
                         _mbs(size, sent), f"{sent:.2f}", f"{finish:.2f}"])
        print("2a. Uploads over HTTP (Python agent, signed update calls, runreplica on "
              "loopback); finish_upload checks the whole file's SHA-256")
        table(["upload", "MB/s", "chunks s", "finish s"], rows)
        print()

        path, body = _ready_video(url, canister, did, worker)
        port = url.rsplit(":", 1)[1]
        host = f"{canister}.localhost:{port}"
        base = f"{url}{path}"
        rows = []
        with httpx.Client(timeout=60) as client:
            for label, headers in (
                    (f"GET whole {RENDITION_MIB} MiB rendition (200)", {"Host": host}),
                    ("GET seek to the middle (first 206)",
                     {"Host": host, "Range": f"bytes={len(body) // 2}-"}),
                    ("GET Range 256 KiB at the middle (206)",
                     {"Host": host, "Range": f"bytes={len(body) // 2}-"
                                             f"{len(body) // 2 + 256 * 1024 - 1}"})):
                samples = [_first_byte(client, base, headers) for _ in range(TTFB_SAMPLES)]
                assert all(s[2] in (200, 206) for s in samples), samples[0]
                firsts = [s[0] for s in samples]
                totals = [s[1] for s in samples]
                rows.append([label, str(samples[0][2]), _ms(statistics.median(firsts)),
                             _ms(percentile(firsts, 0.99)), _ms(statistics.median(totals)),
                             _mbs(samples[0][3], statistics.median(totals))])
        print(f"2b. The gateway, one viewer: time to first byte and to the end, p50/p99 of "
              f"{TTFB_SAMPLES} (httpx, keep-alive)")
        table(["request", "status", "first byte p50 ms", "p99 ms", "whole p50 ms", "MB/s"],
              rows)
        print()

        if shutil.which("wrk") is None:
            print("2c. skipped: wrk is not on the PATH\n")
            return
        rows = []
        reference = _wrk(STATUS_SCRIPT, f"{url}/api/v2/status", ["/api/v2/status", "1", "1",
                                                                 ""], directory)
        ref_rate = reference["requests"] / reference["seconds"]
        rows.append(["/api/v2/status (reference)", f"{ref_rate:,.0f}", "-",
                     _ms(reference["p50"]), _ms(reference["p99"]),
                     str(reference["bad"] + reference["errors"]), "1.00"])
        for span in (256 * 1024, MIB):
            got = _wrk(WRK_SCRIPT, base, [path, str(len(body)), str(span), host], directory)
            rate = got["requests"] / got["seconds"]
            rows.append([f"Range {span // 1024} KiB, random offsets", f"{rate:,.0f}",
                         _mbs(int(got["bytes"]), got["seconds"]), _ms(got["p50"]),
                         _ms(got["p99"]), str(got["bad"] + got["errors"]),
                         f"{rate / ref_rate:.3f}"])
        print(f"2c. {VIEWERS} concurrent viewers (wrk, 4 threads, {VIEWERS} keep-alive "
              f"connections, {WRK_SECONDS} s): ranges of the {RENDITION_MIB} MiB rendition; "
              f"ratio = requests/s over the status endpoint's")
        table(["request", "requests/s", "MB/s", "p50 ms", "p99 ms", "errors", "ratio"], rows)
        print()


# -- 3. transcoding ---------------------------------------------------------------------------


def transcode_table() -> None:
    rows = []
    for width, height in ((1080, 1920), (1280, 720)):
        started = time.perf_counter()
        data = make_clip(TRANSCODE_SECONDS, width, height, seed=5, label="bench")
        rendered = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as directory:
            source = Path(directory) / "original.mp4"
            source.write_bytes(data)
            started = time.perf_counter()
            made = transcode(source, Path(directory) / "out")
            took = time.perf_counter() - started
        sizes = ", ".join(f"{f.kind} {f.width}x{f.height} {f.size / 1024:.0f} KiB"
                          for f in made.renditions)
        seconds = made.duration_ms / 1000
        rows.append([f"{width}x{height}, {seconds:.0f} s, {len(data) / MIB:.1f} MiB",
                     f"{took / seconds:.3f}", f"{rendered / seconds:.3f}",
                     f"{took / rendered:.2f}", sizes])
    print("3. Transcoding (one thread, libx264 veryfast): seconds per video-second, beside "
          "rendering the original (one encode at its size) as the reference")
    table(["original", "transcode s/s", "render s/s", "ratio", "renditions"], rows)
    print()


# -- 4. feeds at scale -------------------------------------------------------------------------


class Feeds(InProcess):
    """The canister filled with dedup uploads of one real clip (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.videos = 0
        self.media: bytes = b""
        self.sha = b""
        self.native: LocalCanister | None = None

    def call(self, sender: Principal, method: str, *args: Any) -> Any:
        """An update through the replica while the fill is small, natively after."""
        self.clock += STEP_SECONDS * SECOND
        if self.native is None:
            return self.update(sender, method, *args)[2]
        backend = self.native.backend
        backend.set_time(self.clock)
        outcome = self.native.run("update", method, encode_args(self.methods[method], args),
                                  caller=sender)
        assert isinstance(outcome, Reply), (method, outcome)
        self.sandbox.kv.commit()
        return decode_result(self.methods[method], outcome.data)

    @property
    def sandbox(self) -> ComponentSandbox:
        sandbox = self.replica.subnet.canister_state.sandboxes[self.canister.raw]
        assert isinstance(sandbox, ComponentSandbox)
        return sandbox

    def go_native(self) -> None:
        backend = LocalBackend(canister_id=self.canister, caller=ADMIN, time_ns=self.clock)
        backend.store = StoreView(self.sandbox.kv)  # type: ignore[assignment]
        self.native = LocalCanister(CANISTER, backend=backend)

    def back_to_replica(self) -> None:
        if self.native is not None:
            self.sandbox.reset_instance()  # its cache of committed values missed these
            self.native = None

    def people(self) -> None:
        for n in range(CREATORS):
            self.call(creator(n), "register", f"maker{n:04d}", f"Maker {n}")
        for n in range(FANS):
            self.call(fan(n), "register", f"fan{n:04d}", f"Fan {n}")
        for v in range(SAMPLES):
            self.call(viewer(v), "register", f"viewer{v:03d}", f"Viewer {v}")
            for k in range(FOLLOWS_PER_VIEWER):
                self.call(viewer(v), "follow", creator((v * 37 + k * 11) % CREATORS))

    def first_video(self) -> None:
        """One real clip, uploaded and processed through the worker methods."""
        data = make_clip(2, 360, 640, seed=3, label="feed bench")
        self.media, self.sha = data, hashlib.sha256(data).digest()
        who = creator(0)
        ticket = self.call(who, "begin_upload", UploadInput("the original #dance", len(data),
                                                            self.sha, "video/mp4"))
        for n in range(int(ticket.chunks)):
            self.call(who, "put_chunk", ticket.video_id, n, data[n * MIB:(n + 1) * MIB])
        self.call(who, "finish_upload", ticket.video_id)
        self.call(WORKER, "worker_claim", ticket.video_id)
        with tempfile.TemporaryDirectory() as directory:
            source = Path(directory) / "original.mp4"
            source.write_bytes(data)
            made = transcode(source, Path(directory) / "out")
            for file in made.renditions:
                body = file.path.read_bytes()
                for n in range(-(-len(body) // MIB)):
                    self.call(WORKER, "worker_put_rendition", ticket.video_id, RenditionUpload(
                        RenditionKind(file.kind), file.content_type, file.size, file.width,
                        file.height, file.sha256, n, body[n * MIB:(n + 1) * MIB]))
        self.call(WORKER, "worker_complete", ticket.video_id,
                  MediaInfo(made.duration_ms, made.width, made.height))
        self.videos = 1

    def add_video(self) -> None:
        n = self.videos
        words = " ".join(WORDS[(n * 5 + j) % len(WORDS)] for j in range(3))
        caption = f"clip {n}: {words} #{TAGS[n % len(TAGS)]} #{TAGS[(n * 7 + 3) % len(TAGS)]}"
        ticket = self.call(creator(n % CREATORS), "begin_upload", UploadInput(
            caption, len(self.media), self.sha, "video/mp4"))
        assert ticket.deduplicated, ticket
        if n % ENGAGED_EVERY == 0:
            who = fan((n // ENGAGED_EVERY) % FANS)
            self.call(who, "record_view", ticket.video_id, 1500 + n % 500)
            self.call(who, "like", ticket.video_id)
        self.videos += 1

    def grow(self, size: int) -> float:
        started = time.perf_counter()
        while self.videos < min(size, REPLICA_FILL):
            self.add_video()
        if self.videos < size:
            self.go_native()
            while self.videos < size:
                self.add_video()
            self.back_to_replica()
            self.clock += SECOND
            self.replica.subnet.execute_round()  # writes the fill to the state store
        return time.perf_counter() - started


Measure = Callable[[Feeds, int], tuple[int, float]]


def _for_you(f: Feeds, v: int) -> tuple[int, float]:
    spent, seconds, page = f.query(viewer(v), "for_you", None, PAGE)
    assert len(page.items) == PAGE, len(page.items)
    return spent, seconds


def _for_you_next(f: Feeds, v: int) -> tuple[int, float]:
    cursor = f.query(viewer(v), "for_you", None, PAGE)[2].next
    spent, seconds, _page = f.query(viewer(v), "for_you", cursor, PAGE)
    return spent, seconds


def _following(f: Feeds, v: int) -> tuple[int, float]:
    spent, seconds, page = f.query(viewer(v), "following_feed", None, PAGE)
    assert page.items, "the Following feed is empty"
    return spent, seconds


def _hashtag(f: Feeds, v: int) -> tuple[int, float]:
    spent, seconds, _page = f.query(viewer(v), "hashtag", TAGS[v % len(TAGS)], None, PAGE)
    return spent, seconds


def _upload(f: Feeds, v: int) -> tuple[int, float]:
    f.clock += STEP_SECONDS * SECOND
    spent, seconds, ticket = f.update(viewer(v), "begin_upload", UploadInput(
        f"measured upload {f.videos} #bench", len(f.media), f.sha, "video/mp4"))
    assert ticket.deduplicated
    f.videos += 1
    return spent, seconds


OPERATIONS: list[tuple[str, Measure]] = [
    (f"for_you, first page of {PAGE}", _for_you),
    (f"for_you, next page of {PAGE}", _for_you_next),
    (f"following_feed, first page of {PAGE}", _following),
    (f"hashtag page of {PAGE}", _hashtag),
    ("begin_upload, dedup (update)", _upload),
]


def measure(f: Feeds) -> dict[str, tuple[float, float, float]]:
    out = {}
    for name, run in OPERATIONS:
        spent, seconds = [], []
        for v in range(SAMPLES):
            used, took = run(f, v)
            spent.append(used)
            seconds.append(took)
        out[name] = (statistics.median(spent), statistics.median(seconds),
                     percentile(seconds, 0.99))
    return out


def verdict(ratio: float, growth: float) -> str:
    if ratio <= 1.25:
        return "flat"
    if ratio <= 1.25 * math.log10(10 * growth):
        return "logarithmic"
    return f"GROWS ({ratio:.1f}x for {growth:g}x videos): not flat"


def feed_tables(sizes: tuple[int, ...]) -> dict[int, dict[str, Any]]:
    f = Feeds()
    f.people()
    f.first_video()
    results: dict[int, dict[str, tuple[float, float, float]]] = {}
    states: dict[int, tuple[int, float]] = {}
    for size in sizes:
        took = f.grow(size)
        kv = f.replica.key_value_bytes(f.canister) or 0
        states[size] = (kv, took)
        results[size] = measure(f)
    rows = []
    for name, _run in OPERATIONS:
        row = [name]
        for size in sizes:
            instr, p50, p99 = results[size][name]
            row.append(f"{instr:,.0f} / {_ms(p50)} / {_ms(p99)}")
        small, large = results[sizes[0]][name][0], results[sizes[-1]][name][0]
        ratio = large / small if small else float("nan")
        row += [f"{ratio:.2f}", verdict(ratio, sizes[-1] / sizes[0])]
        rows.append(row)
    print(f"4. Feeds as the canister grows (in-process replica, memory store): instructions "
          f"(median) / p50 ms / p99 ms over {SAMPLES} viewers following "
          f"{FOLLOWS_PER_VIEWER} of {CREATORS} creators; ratio = instructions at "
          f"{sizes[-1]:,} over {sizes[0]:,}")
    table(["operation", *[f"{s:,} videos" for s in sizes], "ratio", "verdict"], rows)
    print()
    rows = []
    for size in sizes:
        kv, took = states[size]
        rows.append([f"{size:,}", f"{kv / MIB:.1f}", f"{kv / size:,.0f}", f"{took:.0f}"])
    print(f"5. State: the canister's key-value bytes (Replica.key_value_bytes) as it grows; "
          f"every {ENGAGED_EVERY}th video has a like and a view; the media is shared (dedup), "
          f"so this is each video's record, its indexes and counters; fill s = the time "
          f"to add the videos since the last size")
    table(["videos", "key-value MiB", "bytes per video", "fill s"], rows)
    print()
    return {size: {"state": states[size], "ops": results[size]} for size in sizes}


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="feeds up to 100,000 videos")
    parser.add_argument("--sizes", help="feed sizes, e.g. 1000,10000")
    parser.add_argument("--no-http", action="store_true", help="skip table 2 (runreplica)")
    parser.add_argument("--json", type=Path, help="also write the feed figures here")
    options = parser.parse_args([] if argv is None else argv)
    sizes = (tuple(int(s) for s in options.sizes.split(",")) if options.sizes
             else FULL_SIZES if options.full else QUICK_SIZES)
    begun = time.perf_counter()
    previous = set_runtime_loader(load_runtime)
    try:
        upload_table(InProcess())
        if not options.no_http:
            with tempfile.TemporaryDirectory(prefix="bench-video-") as directory:
                http_tables(Path(directory))
        transcode_table()
        figures = feed_tables(sizes)
    finally:
        set_runtime_loader(previous)
    if options.json:
        options.json.write_text(json.dumps({str(k): v for k, v in figures.items()}, indent=1))
    one, five, fifteen = os.getloadavg()
    print(f"total {time.perf_counter() - begun:.0f} s; load average {one:.2f} {five:.2f} "
          f"{fifteen:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main(sys.argv[1:])
