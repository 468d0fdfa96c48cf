"""Transcoding jobs end to end on a real replica (``manage.py runreplica`` serving a scratch
project, the built video canister installed with the state directory's worker principal):

* the product path: a user uploads a real clip with the agent; the canister's
  ``uploads:`` event reaches the dispatcher (the replica hook runreplica starts), which
  enqueues `transcode_video` on the embedded broker; runreplica's in-process worker runs
  it; the video becomes ready, and the gateway serves renditions whose MP4s have their
  index first and a JPEG poster;
* the task alone, sent from this process to an in-process worker on a temp-dir broker,
  for a canister the dispatcher does not know: a clip becomes ready, a truncated one is
  rejected with the transcoder's reason, a video already ready or out of claims is
  skipped, an unreachable replica is retried;
* a server killed (SIGKILL) mid-transcode: after its restart the task runs again, claims
  the video a second time and completes it;
* the dispatcher's rules against a canister in this process and a real Celery broker
  with no worker: a sweep enqueues each listed job once, again only after its task ended.
"""

from __future__ import annotations

import functools
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import override_settings

from apps.video.clips import make_clip
from apps.video.jobs import Dispatcher, JobLedger
from apps.video.tasks import TASK_NAME, process_video, replica_caller
from apps.video.transcode import mp4_boxes
from icframework.agent import Actor, Agent, ManagementCanister
from icframework.candid import encode, parse_type
from icframework.compiler.app_build import build_app
from icframework.core import Principal
from icframework.deployments import save_canister_id
from icframework.identity import Ed25519Identity
from icframework.replica import pack_python_module
from icframework.workers import InProcessWorker, worker_identity
from tests.agent.live_replica import (
    ROOT,
    free_port,
    project_options,
    served_project,
    stop,
    wait_until_serving,
)
from tests.workers.conftest import make_app

from .world import APP_DIR, CHUNK, WORKER, As, fresh, mp4, upload

BUILD_CACHE = APP_DIR.parents[1] / ".build" / "apps"
DID = (APP_DIR / "video.did").read_text(encoding="utf-8")
INIT = parse_type("record { admins : vec principal; workers : vec principal; "
                  "ledger : opt principal }")
READY_SECONDS = 180  # a hang guard, not a performance bound


@dataclass
class Site:
    url: str
    root: Path
    worker: Principal
    wasm: bytes

    def install(self) -> Principal:
        """A new video canister that accepts this state directory's worker."""
        admin = ManagementCanister(Agent(self.url, identity=Ed25519Identity.generate(),
                                         fetch_root_key=True))
        canister = admin.provisional_create_canister_with_cycles()
        arg = encode([INIT], [{"admins": [], "workers": [self.worker], "ledger": None}])
        admin.install_code(canister, self.wasm, arg)
        return canister

    def actor(self, canister: Principal, identity: Any = None) -> Actor:
        agent = Agent(self.url, identity=identity or Ed25519Identity.generate(),
                      fetch_root_key=True)
        return Actor(agent, canister, DID)

    def get(self, canister: Principal, path: str) -> httpx.Response:
        port = self.url.rsplit(":", 1)[1]
        return httpx.get(f"{self.url}{path}", headers={"Host": f"{canister}.localhost:{port}"},
                         timeout=60)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("video-jobs")
    # the scratch project's Celery app (its settings module has no package)
    (root / "celery_app.py").write_text("from config.celery import app  # noqa: F401\n")
    worker = worker_identity(root / "state").principal  # runreplica reads the same key
    wasm = build_app(APP_DIR, pack_python_module, cache_dir=BUILD_CACHE, progress=None).wasm
    with served_project(root, demo=False) as served:
        assert "  hooks:     apps.video.jobs.start" in served.printed
        yield Site(served.url, root, worker, wasm)


def upload_clip(actor: Actor, data: bytes, caption: str) -> int:
    ticket = actor.begin_upload({"caption": caption, "size": len(data),
                                 "sha256": hashlib.sha256(data).digest(),
                                 "content_type": "video/mp4"})
    for index in range(ticket["chunks"]):
        actor.put_chunk(ticket["video_id"], index, data[index * CHUNK:(index + 1) * CHUNK])
    video = actor.finish_upload(ticket["video_id"])
    assert "processing" in video["status"], video
    return int(ticket["video_id"])


def wait_for(actor: Actor, video_id: int, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + READY_SECONDS
    while True:
        video = actor.video(video_id)
        assert video is not None
        if status in video["status"]:
            return dict(video)
        assert "processing" in video["status"], video
        assert time.monotonic() < deadline, f"video {video_id} still {video['status']}"
        time.sleep(0.1)


def check_served(site: Site, canister: Principal, video: dict[str, Any]) -> None:
    kinds = {next(iter(r["kind"])): r for r in video["renditions"]}
    assert set(kinds) == {"r720", "r360", "poster"}
    for kind, rendition in kinds.items():
        response = site.get(canister, rendition["path"])
        assert response.status_code == 200, (kind, response.status_code)
        body = response.content
        assert len(body) == rendition["size"]
        assert hashlib.sha256(body).digest() == bytes(rendition["sha256"])
        assert response.headers["content-type"] == rendition["content_type"]
        if kind == "poster":
            assert body[:3] == b"\xff\xd8\xff"  # a JPEG
        else:
            boxes = mp4_boxes(body)
            assert boxes.index("moov") < boxes.index("mdat"), boxes


def test_an_upload_is_transcoded_by_the_server_without_anyone_asking(site: Site) -> None:
    canister = site.install()
    with override_settings(BASE_DIR=site.root):
        save_canister_id("video", canister, site.url)  # what `manage.py deploy` records
    alice = site.actor(canister)
    data = make_clip(3, 1280, 720, label="through the dispatcher", seed=1)
    video_id = upload_clip(alice, data, "first #clip")
    video = wait_for(alice, video_id, "ready")
    assert (video["width"], video["height"]) == (1280, 720)
    assert 2900 <= video["duration_ms"] <= 3100
    check_served(site, canister, video)
    # enqueued once: the event and the sweeps agree
    with sqlite3.connect(site.root / "state" / "video-jobs.sqlite3") as db:
        rows = db.execute("SELECT video FROM enqueued WHERE canister = ?",
                          (canister.to_text(),)).fetchall()
    assert rows == [(video_id,)]


@pytest.fixture
def task_worker(site: Site, tmp_path: Path, restore_default_app: None
                ) -> Iterator[InProcessWorker]:
    """An in-process worker in this process, on a broker in ``tmp_path``, acting as the
    served state directory's worker identity."""
    worker = InProcessWorker(make_app(tmp_path))
    with override_settings(ICFRAMEWORK={"STATE_DIR": str(site.root / "state")}):
        worker.start()
        try:
            yield worker
        finally:
            assert worker.stop()


def test_the_task_makes_a_clip_ready_and_rejects_a_truncated_one(
    site: Site, task_worker: InProcessWorker
) -> None:
    canister = site.install()  # not recorded: the server's dispatcher leaves it alone
    bob = site.actor(canister)
    good = make_clip(2, 1080, 1920, label="vertical", seed=2)
    cut = make_clip(2, 640, 360, seed=3)
    cut = cut[:len(cut) // 2]
    good_id, cut_id = upload_clip(bob, good, "upright"), upload_clip(bob, cut, "cut")
    task = task_worker.app.tasks[TASK_NAME]
    answer = task.delay(canister.to_text(), good_id, site.url).get(timeout=READY_SECONDS)
    assert answer["status"] == "ready" and answer["attempt"] == 1
    video = bob.video(good_id)
    assert (video["width"], video["height"]) == (1080, 1920)
    sizes = {next(iter(r["kind"])): (r["width"], r["height"]) for r in video["renditions"]}
    assert sizes == {"r720": (720, 1280), "r360": (360, 640), "poster": (720, 1280)}
    check_served(site, canister, video)

    refused = task.delay(canister.to_text(), cut_id, site.url).get(timeout=READY_SECONDS)
    assert refused["status"] == "rejected"
    assert "truncated" in refused["reason"]
    rejected = bob.video(cut_id)
    assert "rejected" in rejected["status"] and "truncated" in rejected["reason"]
    assert rejected["renditions"] == []

    again = task.delay(canister.to_text(), good_id, site.url).get(timeout=READY_SECONDS)
    assert again["status"] == "skipped"
    assert "ready, not processing" in again["reason"]


def test_a_video_out_of_claims_is_left_to_the_canister_and_the_replica_unreachable_retried(
    site: Site, task_worker: InProcessWorker
) -> None:
    """A file that killed the worker three times (three claims, never completed) is not
    claimed a fourth time: the task ends and the canister rejects the video when the last
    lease ends. A replica that does not answer is a transient error: retried."""
    canister = site.install()
    carol = site.actor(canister)
    video_id = upload_clip(carol, make_clip(1, 320, 180, seed=4), "poison")
    as_worker = site.actor(canister, worker_identity(site.root / "state"))
    for attempt in (1, 2, 3):  # three deliveries that died after claiming
        assert as_worker.worker_claim(video_id)["attempt"] == attempt
    task = task_worker.app.tasks[TASK_NAME]
    answer = task.delay(canister.to_text(), video_id, site.url).get(timeout=READY_SECONDS)
    assert answer["status"] == "skipped"
    assert "already had 3 processing attempts" in answer["reason"]
    assert "processing" in carol.video(video_id)["status"]  # until the lease ends

    unreachable = f"http://127.0.0.1:{free_port()}"
    result = task.delay(canister.to_text(), video_id, unreachable)
    deadline = time.monotonic() + READY_SECONDS
    while result.state != "RETRY":
        assert result.state == "PENDING", result.state
        assert time.monotonic() < deadline, "the task was not retried"
        time.sleep(0.2)
    assert "did not answer" in str(result.info)


@contextmanager
def server(root: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``runreplica`` serving the scratch project under ``root`` on ``port``."""
    log = root / f"runreplica-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runreplica", "--port", str(port),
             *project_options(root)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_until_serving(process, f"http://127.0.0.1:{port}", log)
        yield process
    finally:
        if process.poll() is None:
            stop(process)


def test_a_server_killed_mid_transcode_finishes_the_video_after_its_restart(
    tmp_path: Path, restore_default_app: None
) -> None:
    """SIGKILL during a transcode (the video claimed, its renditions not sent): the next
    start queues the task again (acks_late and the broker's in-flight record), the same
    worker claims the video a second time and completes it; nothing is enqueued twice."""
    root = tmp_path
    (root / "celery_app.py").write_text("from config.celery import app  # noqa: F401\n")
    worker = worker_identity(root / "state").principal
    wasm = build_app(APP_DIR, pack_python_module, cache_dir=BUILD_CACHE, progress=None).wasm
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    site = Site(url, root, worker, wasm)
    data = make_clip(10, 1280, 720, seed=6, label="killed mid-way")  # ~6 s to transcode
    broker = root / "state" / "broker.sqlite3"
    with server(root, port) as first:
        canister = site.install()
        with override_settings(BASE_DIR=root):
            save_canister_id("video", canister, url)
        dave = site.actor(canister)
        video_id = upload_clip(dave, data, "long")
        as_worker = site.actor(canister, worker_identity(root / "state"))

        def claimed() -> bool:
            listed = {job["video_id"] for job in as_worker.worker_jobs()}
            return video_id not in listed and broker.exists() and \
                rows(broker, "icframework_inflight") == 1

        deadline = time.monotonic() + READY_SECONDS
        while not claimed():
            assert time.monotonic() < deadline, "the server's worker did not claim the video"
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    with sqlite3.connect(root / "state" / "video-jobs.sqlite3") as db:
        ((task_id,),) = db.execute("SELECT task_id FROM enqueued").fetchall()
    with server(root, port):
        video = wait_for(dave, video_id, "ready")  # its creator sees it while processing
        check_served(site, canister, video)
        with sqlite3.connect(root / "state" / "video-jobs.sqlite3") as db:
            assert db.execute("SELECT task_id FROM enqueued").fetchall() == [(task_id,)]
    results = make_app(root / "state")
    answer = results.AsyncResult(task_id).get(timeout=READY_SECONDS)
    assert answer["status"] == "ready" and answer["attempt"] == 2
    assert 9_900 <= video["duration_ms"] <= 10_100


def rows(broker: Path, table: str) -> int:
    with sqlite3.connect(broker) as db:
        (count,) = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    return int(count)


def test_a_sweep_enqueues_each_listed_job_once_until_its_task_ends(
    tmp_path: Path, restore_default_app: None
) -> None:
    c = fresh()
    videos = [upload(c, As(c, Principal.self_authenticating(b"dana")), mp4(2000)).id
              for _ in range(3)]
    app = make_app(tmp_path)  # a real broker; no worker yet, so the tasks stay queued
    canister = Principal.self_authenticating(b"the video canister")
    now = [1000.0]

    def list_jobs(_: Principal) -> list[int]:
        return [job.video_id for job in c.query("worker_jobs", caller=WORKER)]

    def send(canister_text: str, video_id: int, task_id: str) -> None:
        app.send_task("tests.workers.where", args=[video_id], task_id=task_id)

    def is_finished(task_id: str) -> bool:
        return bool(app.AsyncResult(task_id).ready())

    dispatcher = Dispatcher(JobLedger(tmp_path / "jobs.sqlite3"), lambda: canister,
                            list_jobs, send, is_finished=is_finished, lost_seconds=3600,
                            clock=lambda: now[0])
    first = dispatcher.sweep()
    assert sorted(job.video_id for job in first) == sorted(videos)
    assert dispatcher.sweep() == []  # queued: not again
    assert queued(tmp_path) == 3
    # a restart keeps the ledger: a new dispatcher does not enqueue them either
    again = Dispatcher(JobLedger(tmp_path / "jobs.sqlite3"), lambda: canister, list_jobs,
                       send, is_finished=is_finished, clock=lambda: now[0])
    assert again.sweep() == []
    # the tasks run (and end) while the videos stay listed: each is enqueued once more
    worker = InProcessWorker(app)
    worker.start()
    try:
        for job in first:
            app.AsyncResult(job.task_id).get(timeout=60)
    finally:
        assert worker.stop()
    second = again.sweep()
    assert sorted(job.video_id for job in second) == sorted(videos)
    assert {job.task_id for job in second}.isdisjoint({job.task_id for job in first})
    assert again.sweep() == []
    # a task queued longer than lost_seconds is presumed lost
    now[0] += 3601
    assert len(again.sweep()) == 3
    # a claimed video (leased to a worker) is not listed, so not enqueued
    As(c, WORKER).worker_claim(videos[0])
    now[0] += 3601
    assert sorted(job.video_id for job in again.sweep()) == sorted(videos[1:])
    # its record goes once it has not been listed for two hours; the others' stay
    ledger = again.ledger
    assert ledger.last(canister.to_text(), videos[0]) is not None
    now[0] += 3600
    assert len(again.sweep()) == 2
    assert ledger.last(canister.to_text(), videos[0]) is None
    assert all(ledger.last(canister.to_text(), v) is not None for v in videos[1:])


def queued(directory: Path) -> int:
    with sqlite3.connect(directory / "broker.sqlite3") as db:
        (count,) = db.execute("SELECT COUNT(*) FROM kombu_message WHERE visible = 1").fetchone()
    return int(count)


def test_the_event_listener_hands_on_only_videos_entering_processing(
    tmp_path: Path
) -> None:
    from icframework.replica import CanisterEvent

    progress = parse_type("record { video_id : nat64; status : variant { uploading; "
                          "processing; ready; rejected }; chunks : nat32; received : nat32; "
                          "reason : opt text }")
    canister = Principal.self_authenticating(b"video canister")

    def event(topic: str, video_id: int, status: str) -> CanisterEvent:
        value = encode([progress], [{"video_id": video_id, "status": {status: None},
                                     "chunks": 1, "received": 1, "reason": None}])
        return CanisterEvent(canister.raw, topic, value, 7, 0)

    sent: list[tuple[str, int]] = []
    dispatcher = Dispatcher(JobLedger(tmp_path / "jobs.sqlite3"), lambda: canister,
                            lambda _: [], lambda c, v, t: sent.append((c, v)),
                            is_finished=lambda _: False)
    dispatcher.on_events([event("uploads:abc", 1, "uploading"),
                          event("uploads:abc", 2, "processing"),
                          event("video:2", 3, "processing"),
                          CanisterEvent(canister.raw, "uploads:x", b"not candid", 7, 1),
                          event("uploads:abc", 4, "ready"),
                          event("uploads:abc", 2, "processing")])
    assert [job.video_id for job in dispatcher.dispatch()] == [2]
    assert sent == [(canister.to_text(), 2)]


@pytest.fixture
def restore_default_app() -> Iterator[None]:
    from celery import _state

    before = _state.default_app
    yield
    _state.set_default_app(before)


def test_a_seeder_can_process_a_video_on_the_replica_in_its_own_process(
    tmp_path: Path,
) -> None:
    """`process_video` through `replica_caller`: no HTTP, no queue (what a demo seeder
    running before the server opens can do)."""
    from icframework.compiler.runtime_build import load_runtime
    from icframework.replica import Replica, set_runtime_loader
    from tests.compiler.runtime_support import CACHE_DIR, runtime_component

    runtime_component()
    previous = set_runtime_loader(functools.partial(load_runtime, cache_dir=CACHE_DIR,
                                                    progress=None))
    replica = Replica.open(tmp_path / "state")
    try:
        owner = Principal.self_authenticating(b"seeder")
        worker = Principal.self_authenticating(b"seeder's worker")
        creator = Principal.self_authenticating(b"seeded creator")
        wasm = build_app(APP_DIR, pack_python_module, cache_dir=BUILD_CACHE,
                         progress=None).wasm
        canister = replica.create_canister(sender=owner)
        replica.install_code(canister, wasm, encode([INIT], [{
            "admins": [], "workers": [worker], "ledger": None}]), sender=owner)
        as_creator = replica_caller(replica, canister, creator)
        data = make_clip(2, 720, 1280, seed=7, label="seeded")
        ticket = as_creator("begin_upload", {"caption": "seeded #demo", "size": len(data),
                                             "sha256": hashlib.sha256(data).digest(),
                                             "content_type": "video/mp4"})
        for index in range(ticket["chunks"]):
            as_creator("put_chunk", ticket["video_id"], index,
                       data[index * CHUNK:(index + 1) * CHUNK])
        as_creator("finish_upload", ticket["video_id"])
        done = process_video(replica_caller(replica, canister, worker), ticket["video_id"])
        assert done["status"] == "ready" and done["attempt"] == 1
        video = as_creator("video", ticket["video_id"])
        assert "ready" in video["status"]
        assert (video["width"], video["height"]) == (720, 1280)
        assert {next(iter(r["kind"])) for r in video["renditions"]} == {"r720", "r360",
                                                                         "poster"}
        # a call the canister refuses ends the job quietly
        again = process_video(replica_caller(replica, canister, worker), ticket["video_id"])
        assert again["status"] == "skipped"
    finally:
        replica.close()
        set_runtime_loader(previous)
