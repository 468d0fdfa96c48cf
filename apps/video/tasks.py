"""The Celery task that processes one uploaded video: `transcode_video`.

It acts on the video canister through the agent as the state directory's worker
identity (`icframework.workers.worker_identity`, a principal the canister was installed
with in ``InitArgs.workers``), and keeps the canister the source of truth:

1. ``worker_claim(video_id)``: the canister counts an attempt and leases the job to this
   worker. A refused claim (the video is ready, rejected, deleted, held by another
   worker, or out of attempts) ends the task: there is nothing to do;
2. the original, chunk by chunk (``worker_original_chunk``), into a temporary
   directory, checked against the job's size and SHA-256;
3. `apps.video.transcode.transcode` there;
4. each rendition in chunks of the job's ``chunk_bytes`` (``worker_put_rendition``,
   idempotent), then ``worker_complete`` with the duration and size. An original the
   transcoder refuses (`TranscodeError`) is ``worker_reject``-ed with its reason.

`process_video` is these steps over any transport (`Call`): the task's is the agent over
HTTP (`actor_caller`); a demo seeder that runs inside the server process before its HTTP
interface opens can process its videos on the replica directly (`replica_caller`).

Delivery. The task acknowledges its message late (``acks_late``): a worker that dies
mid-job leaves the message to be delivered again (docs/workers.md says when, per
broker), and the next run claims the video again. The canister counts claims
(``MAX_ATTEMPTS``) and rejects a video whose last attempt's lease ends unfinished, so a
file that kills the worker every time ends rejected, never stuck. Errors that say
nothing about the video (the replica unreachable or busy, a transient reject) are
`TransientError` and retried with exponential backoff; a video that stops being
processing while the task runs (deleted, rejected by a moderator) ends it quietly.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from celery import shared_task

from icframework.agent import Actor, Agent, AgentError, HttpError, RejectError
from icframework.candid import Func, Service, TypeRef, decode, encode, parse_did
from icframework.conf import state_dir
from icframework.core import Principal
from icframework.replica import CanisterError, Replica
from icframework.workers import worker_identity

from .transcode import RenditionFile, TranscodeError, transcode

__all__ = ["TASK_NAME", "Call", "TransientError", "actor_caller", "process_video",
           "replica_caller", "transcode_video"]

TASK_NAME = "apps.video.transcode_video"
DID_PATH = Path(__file__).resolve().parent / "video.did"
MAX_RETRIES = 8
"""Retries of transient errors: backoff 2, 4, 8 ... 120 s, about 8 minutes in all."""
SYS_TRANSIENT = 2  # the IC's reject code for "try again later"

logger = logging.getLogger(__name__)


class TransientError(Exception):
    """The replica could not be reached or asked to try later; the task is retried."""


class _Gone(Exception):
    """The video stopped being processing by this worker (a refused claim or call)."""


Call = Callable[..., Any]
"""``call(method, *args)``: one call to the video canister with Candid-shaped Python values
(records as dicts, variants as one-key dicts), its decoded reply; raises `_Gone` for a
reject about the video and `TransientError` for a replica that cannot answer now."""


@shared_task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(TransientError,), max_retries=MAX_RETRIES, retry_backoff=2,
             retry_backoff_max=120, retry_jitter=True)
def transcode_video(self: Any, canister_id: str, video_id: int,
                    replica_url: str) -> dict[str, Any]:
    """Process video ``video_id`` of the video canister ``canister_id`` on the replica at
    ``replica_url`` (see the module docstring). Returns what happened:
    ``{"video_id", "status": "ready" | "rejected" | "skipped", ...}``."""
    return process_video(actor_caller(_actor(replica_url, canister_id)), video_id)


def process_video(call: Call, video_id: int) -> dict[str, Any]:
    """Claim, transcode and complete (or reject) ``video_id`` through ``call``: what
    `transcode_video` returns. The task calls over HTTP (`actor_caller`); a demo seeder
    in the server process can call the replica directly (`replica_caller`)."""
    try:
        job = call("worker_claim", video_id)
    except _Gone as gone:
        logger.info("video %s: not processed (%s)", video_id, gone)
        return {"video_id": video_id, "status": "skipped", "reason": str(gone)}
    try:
        with tempfile.TemporaryDirectory(prefix=f"video-{video_id}-") as directory:
            work = Path(directory)
            source = _download(call, job, work / "original")
            try:
                made = transcode(source, work / "out")
            except TranscodeError as refused:
                video = call("worker_reject", video_id, refused.reason)
                logger.info("video %s rejected: %s", video_id, refused.reason)
                return {"video_id": video_id, "status": _status(video),
                        "reason": refused.reason}
            for file in made.renditions:
                _upload(call, video_id, file, int(job["chunk_bytes"]))
            video = call("worker_complete", video_id, {
                "duration_ms": made.duration_ms, "width": made.width,
                "height": made.height})
    except _Gone as gone:
        logger.info("video %s: stopped (%s)", video_id, gone)
        return {"video_id": video_id, "status": "skipped", "reason": str(gone)}
    return {"video_id": video_id, "status": _status(video), "attempt": int(job["attempt"]),
            "renditions": [r["path"] for r in video["renditions"]],
            "duration_ms": made.duration_ms}


def _actor(replica_url: str, canister_id: str) -> Actor:
    agent = Agent(replica_url, identity=worker_identity(state_dir()), fetch_root_key=True)
    try:
        return Actor.from_canister(agent, canister_id)
    except AgentError as exc:
        if isinstance(exc, HttpError) or isinstance(exc.__cause__, httpx.TransportError):
            raise TransientError(f"the replica at {replica_url} did not answer: {exc}") \
                from exc
        # a canister without the metadata: the interface committed beside this module
        return Actor(agent, canister_id, DID_PATH.read_text(encoding="utf-8"))
    except httpx.TransportError as exc:
        raise TransientError(f"the replica at {replica_url} did not answer: {exc}") from exc


def actor_caller(actor: Actor) -> Call:
    """`Call` over the agent: a reject is `_Gone` unless transient (``SYS_TRANSIENT``); an
    unreachable replica or an HTTP error is `TransientError`."""

    def call(method: str, *args: Any) -> Any:
        try:
            return actor.call(method, *args)
        except RejectError as exc:
            if exc.reject_code == SYS_TRANSIENT:
                raise TransientError(f"{method}: {exc}") from exc
            raise _Gone(f"{method} refused: {exc.reject_message}") from None
        except (HttpError, httpx.TransportError) as exc:
            raise TransientError(f"{method}: {exc}") from exc

    return call


def replica_caller(replica: Replica, canister: Principal, sender: Principal) -> Call:
    """`Call` on an embedded replica in this process (in its thread: e.g. inside
    ``ReplicaService.run``) as ``sender``, typed by ``video.did``; a reject is `_Gone`."""
    did = parse_did(DID_PATH.read_text(encoding="utf-8"))
    service = did.service.resolve() if isinstance(did.service, TypeRef) else did.service
    if not isinstance(service, Service):
        raise ValueError(f"{DID_PATH.name} declares no service")
    methods = {name: kind.resolve() if isinstance(kind, TypeRef) else kind
               for name, kind in service.methods}

    def call(method: str, *args: Any) -> Any:
        func = methods[method]
        assert isinstance(func, Func)
        arg = encode(func.args, args)
        try:
            if "query" in func.modes:
                reply = replica.query(canister, method, arg, sender=sender)
            else:
                reply = replica.update(canister, method, arg, sender=sender)
        except CanisterError as exc:
            raise _Gone(f"{method} refused: {exc}") from None
        values = decode(reply, func.results)
        return values[0] if values else None

    return call


def _download(call: Call, job: dict[str, Any], path: Path) -> Path:
    """The job's original written to ``path``, checked against its size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as file:
        for index in range(int(job["chunks"])):
            chunk = call("worker_original_chunk", job["video_id"], index)
            digest.update(chunk)
            size += len(chunk)
            file.write(chunk)
    if size != job["size"] or digest.digest() != bytes(job["sha256"]):
        # the canister checked the upload's SHA-256, so this is a broken transfer
        raise TransientError(f"the original of video {job['video_id']} arrived as {size} "
                             f"bytes with SHA-256 {digest.hexdigest()}, not the job's "
                             f"{job['size']} bytes")
    return path


def _upload(call: Call, video_id: int, file: RenditionFile, chunk_bytes: int) -> None:
    """Send ``file`` in ``chunk_bytes`` pieces (every piece repeats its description)."""
    data = file.path.read_bytes()
    pieces = max(1, -(-len(data) // chunk_bytes))
    for index in range(pieces):
        call("worker_put_rendition", video_id, {
            "kind": {file.kind: None}, "content_type": file.content_type,
            "size": file.size, "width": file.width, "height": file.height,
            "sha256": file.sha256, "index": index,
            "data": data[index * chunk_bytes:(index + 1) * chunk_bytes]})


def _status(video: dict[str, Any]) -> str:
    status: dict[str, Any] = video["status"]
    return next(iter(status))
