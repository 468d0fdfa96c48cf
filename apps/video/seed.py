"""Demo data for the short-video app: creators with profiles, real clips uploaded through
the upload API and transcoded by the real worker, follows, likes, comments with replies,
views, shares and hashtags — what ``runreplica --demo`` adds.

How it works (like the chat, marketplace and social seeders, `icframework.demo`): in the
server process, before the HTTP interface opens, it builds ``apps/video`` and installs it
(recorded as ``video``), deployed by, and controlled only by, the demo's admin identity
(``<state dir>/admin.pem``), which is also the canister's moderator. The install
argument names the state directory's worker identity (`icframework.workers.worker_identity`)
as the transcoding worker and the marketplace's token (recorded as ``marketplace_token``
by the marketplace seeder, which runs before) as the ledger tips are paid in.

Then, section by section, it adds what the canister does not have yet:

1. **people**: each `DEMO_CREATORS` entry registered with its name and bio;
2. **uploads**: each creator's clips (`DemoClip`), rendered by `apps.video.clips.make_clip`
   (moving test patterns with the clip's label, vertical, landscape or filmed "upright"
   with a rotation matrix, two or three seconds each) and uploaded with ``begin_upload``,
   ``put_chunk`` and ``finish_upload``, as the page uploads. Rendering takes about 0.3 s
   a clip, so the clips are kept in ``.build/video-clips`` keyed by the generating code
   (`clips_dir`): the next fresh state directory reads them back;
3. **follows** (`FOLLOWS`);
4. **engagement** of each *ready* video: views with watch times (`VIEWS`), comments and
   replies (`COMMENTS`), shares, super-likes and likes (`LIKES`).

Seeding does not wait for transcoding. Finished uploads are *processing*; the
dispatcher `apps.video.jobs` (a replica hook that starts after the seeders) finds them
with its first sweep and queues them for the in-process Celery worker, which makes them
ready over the next seconds (about 0.5 s of one core per clip). Likes, comments and
views need a ready video, so when videos are still processing and the seeder runs in a
replica service (``runreplica``), a daemon thread (`Finisher`) adds each video's
engagement as soon as it is ready, its calls going through the service as the HTTP
interface's do (`ServedCalls`); a seeding run without a service (tests) leaves it to
the next run. A second start adds nothing.

The demo people are the chat's (alice, bob, carol), the marketplace's (ana, ben, cleo)
— the same keys, so one demo user is one principal in every app — and the video app's
own creators (``<state dir>/demo/video-users.json``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from django.conf import settings

from icframework.candid import encode, parse_did, parse_values
from icframework.compiler.app_build import build_app
from icframework.core import ErrorCode, Principal
from icframework.demo import (
    TypedCaller,
    admin_identity,
    admin_pem_path,
    demo_keys,
    install_recorded,
    method_table,
)
from icframework.deployments import recorded_id
from icframework.identity import Ed25519Identity
from icframework.replica import (
    CanisterError,
    Replica,
    ReplicaError,
    ReplicaService,
    get_service,
    pack_python_module,
)
from icframework.workers import worker_identity

from .canister import records as R
from .canister.limits import CHUNK_BYTES

__all__ = ["APP_DIR", "APP_NAME", "CANISTER_MODULE", "COMMENTS", "DEMO_CREATORS", "FOLLOWS",
           "LIKES", "SHARES", "SUPER_LIKES", "VIEWS", "DemoClip", "DemoCreator",
           "DemoVideo", "Finisher", "ServedCalls", "clip_bytes", "clips_dir", "demo_identities",
           "run_demo", "seed_demo", "served_caller"]

APP_DIR = Path(__file__).resolve().parent
APP_NAME = "video"
CANISTER_MODULE = "apps.video.canister"
TOKEN_NAME = "marketplace_token"  # apps.marketplace.token.TOKEN_NAME
FIRST_SEED_SECONDS = 8.0
"""Seeding a new state directory with the clips already rendered (rendering them the
first time is announced on its own, about 0.3 s a clip)."""
RENDER_SECONDS = 0.3
FINISH_POLL_SECONDS = 2.0
CALL_TIMEOUT_SECONDS = 60.0
FINISH_TIMEOUT_SECONDS = 900.0
"""How long `Finisher` waits for the demo's videos to be ready before it gives up (the
next start adds what is missing)."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoClip:
    """One clip of a creator: ``key`` names it in the engagement tables; the picture is
    `apps.video.clips.make_clip` of these arguments."""

    key: str
    caption: str
    seconds: float
    width: int
    height: int
    seed: int
    label: str
    rotation: int = 0


@dataclass(frozen=True)
class DemoCreator:
    handle: str
    name: str
    bio: str
    clips: tuple[DemoClip, ...]


V, H = (360, 640), (640, 360)
"""Vertical (phone) and landscape sizes; a landscape picture with ``rotation=90`` is a
phone video filmed upright that stores its turn as a display matrix: it plays vertical.
Small, so the worker makes the 16 clips ready in seconds (about 0.5 s of one core each:
a transcode is never scaled up, so both renditions are at most this size) and an upload
made right after the start does not wait long behind them."""

DEMO_CREATORS: tuple[DemoCreator, ...] = (
    DemoCreator("alice", "Alice Martin", "Python canisters by day, sunsets by night.", (
        DemoClip("alice-sunset", "Sunset over the Tagus 🌅 #lisbon #sunset", 3, *V, 11,
                 "Tagus sunset"),
        DemoClip("alice-deploy", "Deploying a canister in one command #python #canisters "
                 "@bob try it", 3, *H, 12, "manage.py deploy"),
    )),
    DemoCreator("bob", "Bob Okafor", "Payments engineer. Running, coffee, ledgers.", (
        DemoClip("bob-run", "5 km before work #running #morning", 3, *V, 21, "5 km"),
    )),
    DemoCreator("carol", "Carol Nguyen", "Product lead. I film the city on foot.", (
        DemoClip("carol-tram", "The old tram up the hill #zurich #citywalk", 3, *H, 31,
                 "Tram 28"),
        DemoClip("carol-rain", "Rainy window, lo-fi mood #rain #lofi", 2, *H, 32,
                 "rainy day", rotation=90),
    )),
    DemoCreator("ana", "Ana Silva", "Ana's Bikes: repairs and city rides.", (
        DemoClip("ana-fix", "Fixing a flat in 60 seconds #bikes #diy @ben", 3, *V, 41,
                 "flat tyre fix"),
        DemoClip("ana-ride", "Sunday ride along the river #bikes #lisbon", 3, *H, 42,
                 "river ride"),
    )),
    DemoCreator("ben", "Ben Clarke", "Ben's Kitchen. Cast iron and slow food.", (
        DemoClip("ben-tea", "The teapot that keeps tea warm for an hour #kitchen #tea", 3,
                 *V, 51, "teapot"),
    )),
    DemoCreator("cleo", "Cleo Laurent", "Illustrator. Speed paintings and sketchbooks.", (
        DemoClip("cleo-sketch", "Speed sketch: a fox in 30 s #art #sketch", 3, *V, 61,
                 "fox sketch"),
        DemoClip("cleo-palette", "Mixing a palette for autumn #art #colour", 2, *H, 62,
                 "autumn palette"),
    )),
    DemoCreator("mika_moves", "Mika Sato", "Dancer and choreographer. New routine weekly.", (
        DemoClip("mika-routine", "New routine, learn it with me #dance #tutorial", 3, *V,
                 71, "routine #12"),
        DemoClip("mika-studio", "Studio warm-up #dance #morning", 2, *V, 72, "warm-up"),
        DemoClip("mika-duet", "Duet with @theo_cooks in the kitchen #dance #duet", 3, *H,
                 73, "kitchen duet", rotation=90),
    )),
    DemoCreator("theo_cooks", "Theo Brandt", "One-pan dinners in five minutes.", (
        DemoClip("theo-pasta", "One-pan pasta in five minutes #cooking #quick", 3, *V, 81,
                 "one-pan pasta"),
        DemoClip("theo-knife", "Knife skills: onions without tears #cooking #tips", 3, *H,
                 82, "knife skills"),
    )),
    DemoCreator("zara_trails", "Zara Okonkwo", "Trail runner. Mountains, maps and mud.", (
        DemoClip("zara-ridge", "Ridge run at dawn #running #mountains", 3, *H, 91,
                 "ridge run"),
    )),
)

CHAT_PEOPLE = ("alice", "bob", "carol")  # the chat demo's users (apps.chat.seed)
MARKET_PEOPLE = ("ana", "ben", "cleo")  # the marketplace demo's (apps.marketplace.seed)

FOLLOWS: tuple[tuple[str, str], ...] = (
    ("alice", "bob"), ("alice", "carol"), ("alice", "mika_moves"), ("bob", "alice"),
    ("bob", "zara_trails"), ("carol", "alice"), ("carol", "cleo"), ("ana", "alice"),
    ("ana", "ben"), ("ben", "ana"), ("ben", "theo_cooks"), ("cleo", "carol"),
    ("cleo", "mika_moves"), ("mika_moves", "theo_cooks"), ("theo_cooks", "mika_moves"),
    ("theo_cooks", "ben"), ("zara_trails", "bob"), ("zara_trails", "ana"),
)
"""(follower, followed)."""

LIKES: dict[str, tuple[str, ...]] = {
    "alice-sunset": ("bob", "carol", "ana", "mika_moves", "zara_trails"),
    "alice-deploy": ("bob", "carol"),
    "bob-run": ("alice", "zara_trails"),
    "carol-tram": ("alice", "cleo", "ana"),
    "carol-rain": ("cleo",),
    "ana-fix": ("ben", "alice", "bob", "zara_trails"),
    "ana-ride": ("alice",),
    "ben-tea": ("ana", "theo_cooks"),
    "cleo-sketch": ("carol", "mika_moves", "alice"),
    "cleo-palette": ("carol",),
    "mika-routine": ("alice", "cleo", "theo_cooks", "carol", "bob", "ana"),
    "mika-studio": ("theo_cooks",),
    "mika-duet": ("theo_cooks", "cleo", "alice"),
    "theo-pasta": ("ben", "mika_moves", "ana", "carol"),
    "theo-knife": ("ben",),
    "zara-ridge": ("bob", "ana"),
}
"""Who likes each clip (every clip has a liker: the first one's like marks the clip's
engagement as done, so it is added last)."""

SUPER_LIKES: dict[str, tuple[str, ...]] = {
    "mika-routine": ("cleo",), "alice-sunset": ("bob",), "theo-pasta": ("ben",),
}
SHARES: dict[str, tuple[str, ...]] = {
    "mika-routine": ("alice", "carol"), "ana-fix": ("ben",), "alice-deploy": ("bob",),
    "theo-pasta": ("mika_moves",),
}
def _viewers(likers: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """Every liker (two in three watch to the end, the rest half way) and the first two
    other creators (half way)."""
    others = [c.handle for c in DEMO_CREATORS if c.handle not in likers][:2]
    return (*((who, 1.0 if n % 3 else 0.5) for n, who in enumerate(likers)),
            *((who, 0.5) for who in others))


VIEWS: dict[str, tuple[tuple[str, float], ...]] = {
    key: _viewers(likers) for key, likers in LIKES.items()}
"""Who watched each clip and which share of it: every liker and two more people."""

COMMENTS: tuple[tuple[str, str, str, int | None], ...] = (
    # (clip, author, text, index of the parent comment in this table or None)
    ("alice-sunset", "bob", "That light! Where exactly is this?", None),
    ("alice-sunset", "alice", "Miradouro de Santa Catarina, around 8 pm", 0),
    ("alice-sunset", "ana", "My favourite spot too, I ride there on Sundays", 0),
    ("alice-deploy", "carol", "One command, really? Showing this to my team", None),
    ("alice-deploy", "alice", "Really: build, install, record the id. @carol ask me anything",
     3),
    ("ana-fix", "ben", "Saved me this morning, thanks!", None),
    ("ana-fix", "zara_trails", "Which tyre levers do you use?", None),
    ("ana-fix", "ana", "Plastic ones, they do not scratch the rim", 6),
    ("mika-routine", "cleo", "Learning this tonight #dance", None),
    ("mika-routine", "mika_moves", "Tag me when you post it!", 8),
    ("mika-routine", "theo_cooks", "My kitchen is now a dance floor", None),
    ("theo-pasta", "ben", "Tried it, the kids loved it", None),
    ("theo-pasta", "theo_cooks", "More salt in the water next time 😉", 11),
    ("cleo-sketch", "carol", "The tail! So quick", None),
    ("zara-ridge", "bob", "Which trail is this?", None),
    ("zara-ridge", "zara_trails", "The ridge above the lake, 12 km loop", 14),
)


def demo_identities(state_dir: Path) -> dict[str, Ed25519Identity]:
    """The demo creators' identities by handle (created and saved on first use): the
    chat's and the marketplace's own keys for the people those demos have, so a demo user
    is one principal in every app, and ``<state dir>/demo/video-users.json`` for the
    rest."""
    from apps.chat.seed import demo_identities as chat_identities
    from apps.marketplace.seed import demo_identities as market_identities

    chat = chat_identities(state_dir, create=True)
    market = market_identities(state_dir)
    own = demo_keys(state_dir / "demo" / "video-users.json",
                    [c.handle for c in DEMO_CREATORS
                     if c.handle not in CHAT_PEOPLE + MARKET_PEOPLE], create=True)
    return {c.handle: chat.get(c.handle) or market.get(c.handle) or own[c.handle]
            for c in DEMO_CREATORS}


def _init_arg(did: str, admin: Principal, worker: Principal, ledger: Principal | None) -> bytes:
    """The install and upgrade argument: the demo admin moderates, the state directory's
    worker identity transcodes, tips are paid in the marketplace's token (if deployed)."""
    service = parse_did(did)
    assert service.service_args is not None
    token = "null" if ledger is None else f'opt principal "{ledger.to_text()}"'
    text = (f'(opt record {{ admins = vec {{ principal "{admin.to_text()}" }}; '
            f'workers = vec {{ principal "{worker.to_text()}" }}; ledger = {token} }})')
    return encode(service.service_args, parse_values(text, service.service_args,
                                                     env=service.env))


# -- clips ----------------------------------------------------------------------------------


def clips_dir() -> Path:
    """Where rendered clips are cached: ``.build/video-clips`` (beside the app builds),
    keyed by a hash of `apps.video.clips`' source, so a change of the generator renders
    again."""
    return Path(settings.BASE_DIR) / ".build" / "video-clips"


@functools.cache
def _generator_hash() -> str:
    return hashlib.sha256((APP_DIR / "clips.py").read_bytes()).hexdigest()


def _clip_path(clip: DemoClip) -> Path:
    key = hashlib.sha256(
        f"{_generator_hash()} {clip.seconds} {clip.width} {clip.height} {clip.seed} "
        f"{clip.label!r} {clip.rotation}".encode()).hexdigest()
    return clips_dir() / f"{clip.key}-{key[:24]}.mp4"


def clip_bytes(clip: DemoClip) -> bytes:
    """The MP4 of ``clip``, rendered by `apps.video.clips.make_clip` or read from
    `clips_dir` when rendered before."""
    path = _clip_path(clip)
    try:
        return path.read_bytes()
    except OSError:
        pass
    from .clips import make_clip

    data = make_clip(clip.seconds, clip.width, clip.height, seed=clip.seed, label=clip.label,
                     rotation=clip.rotation)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        pass  # a read-only checkout: render again next time
    return data


# -- seeding --------------------------------------------------------------------------------


@dataclass
class DemoVideo:
    """What `seed_demo` found and did."""

    canister_id: Principal
    canister: str  # "created", "installed", "upgraded", "unchanged" or "kept (...)"
    users: dict[str, Principal]
    admin: Principal  # the canister's controller and moderator
    worker: Principal  # the transcoding worker it accepts
    ledger: Principal | None
    added: list[str] = field(default_factory=list)  # what this run created, for the log
    waiting: list[str] = field(default_factory=list)  # clip keys not ready yet
    finisher: Finisher | None = None  # adds their engagement when they are ready


class _Seeder:
    """One seeding run: typed calls as the demo creators, and the log of what was added."""

    def __init__(self, call: TypedCaller, users: dict[str, Principal],
                 progress: Callable[[str], None]) -> None:
        self.call, self.users, self.progress = call, users, progress
        self.added: list[str] = []

    def __call__(self, handle: str, method: str, *args: Any) -> Any:
        return self.call(self.users[handle], method, *args)

    def people(self) -> None:
        """Each creator without a profile: registered with name and bio."""
        from .canister.social_records import ProfileInput

        made = 0
        for creator in DEMO_CREATORS:
            if self(creator.handle, "me") is not None:
                continue
            self(creator.handle, "register", creator.handle, creator.name)
            self(creator.handle, "update_profile", ProfileInput(name=creator.name,
                                                                bio=creator.bio))
            made += 1
        if made:
            self.added.append(_count(made, "creator"))

    def uploads(self) -> None:
        """Each clip its creator has not uploaded (no video with its caption): rendered
        (or read from `clips_dir`) and uploaded through the upload API."""
        missing = [(creator, clip) for creator in DEMO_CREATORS
                   for clip in _missing(self(creator.handle, "my_videos"), creator)]
        if not missing:
            return
        unrendered = sum(1 for _creator, clip in missing if not _clip_path(clip).is_file())
        if unrendered:
            self.progress(f"video: rendering {unrendered} demo clips (about "
                          f"{max(1, round(unrendered * RENDER_SECONDS))} s, once: kept in "
                          f"{clips_dir()})")
        for creator, clip in missing:
            data = clip_bytes(clip)
            ticket = self(creator.handle, "begin_upload", R.UploadInput(
                caption=clip.caption, size=len(data), sha256=hashlib.sha256(data).digest(),
                content_type="video/mp4"))
            if not ticket.deduplicated:
                have = set(ticket.received)
                for index in range(int(ticket.chunks)):
                    if index not in have:
                        self(creator.handle, "put_chunk", ticket.video_id, index,
                             data[index * CHUNK_BYTES:(index + 1) * CHUNK_BYTES])
                self(creator.handle, "finish_upload", ticket.video_id)
        self.added.append(_count(len(missing), "upload"))

    def follows(self) -> None:
        made = 0
        for a, b in FOLLOWS:
            view = self(a, "profile", self.users[b])
            if view is not None and not view.followed_by_me:
                self(a, "follow", self.users[b])
                made += 1
        if made:
            self.added.append(_count(made, "follow"))

    def videos(self) -> dict[str, Any]:
        """The demo's videos by clip key (the newest with the clip's caption)."""
        found: dict[str, Any] = {}
        for creator in DEMO_CREATORS:
            mine = self(creator.handle, "my_videos")
            for clip in creator.clips:
                same = [v for v in mine if v.caption == clip.caption]
                if same:
                    found[clip.key] = max(same, key=lambda v: int(v.id))
        return found

    def to_engage(self) -> tuple[list[str], list[tuple[str, Any]]]:
        """The clip keys still waiting for the worker, and the ready demo videos whose
        first liker has not liked them yet (likes come last, so that like marks a video's
        engagement as done)."""
        waiting, ready = [], []
        for key, video in self.videos().items():
            if video.status in (R.VideoStatus.processing, R.VideoStatus.uploading):
                waiting.append(key)
                continue
            if video.status is not R.VideoStatus.ready:
                continue  # rejected: nothing to engage with (the page shows the reason)
            likers = LIKES.get(key, ())
            card = self(likers[0], "card", video.id) if likers else None
            if card is not None and not card.liked_by_me:
                ready.append((key, video))
        return waiting, ready

    def engagement(self) -> list[str]:
        """Views, comments with replies, shares, super-likes and likes of each ready demo
        video not engaged yet (`to_engage`); the clip keys still waiting for the worker."""
        waiting, ready = self.to_engage()
        for key, video in ready:
            self.engage(key, video)
        if ready:
            self.added.append(_engaged(len(ready)))
        return waiting

    def engage(self, key: str, video: Any) -> None:
        """One video's views, comments and replies, shares, super-likes and likes."""
        vid = int(video.id)
        for who, share in VIEWS.get(key, ()):
            if self.users[who] != video.creator:
                self(who, "record_view", vid, int(video.duration_ms * share))
        have = {(c.author.handle, c.text) for c in self("alice", "comments", vid, None).items}
        ids: dict[int, int] = {}
        for index, (clip, author, text, parent) in enumerate(COMMENTS):
            if clip != key:
                continue
            if parent is None and (author, text) in have:
                continue  # seeded before: its replies were too
            view = self(author, "comment", vid, None if parent is None else ids.get(parent),
                        text)
            ids[index] = int(view.id)
        for who in SHARES.get(key, ()):
            self(who, "share", vid)
        for who in SUPER_LIKES.get(key, ()):
            # refused when the rolling daily allowance is used up: a like still follows
            with contextlib.suppress(CanisterError):
                self(who, "super_like", vid)
        for who in reversed(LIKES.get(key, ())):
            self(who, "like", vid)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _engaged(count: int) -> str:
    return f"engagement of {_count(count, 'video')} (views, comments, likes)"


def _missing(mine: list[Any], creator: DemoCreator) -> list[DemoClip]:
    """The creator's clips with no finished upload: never begun, cut off mid-way (begun
    again, the upload resumes with the chunks it lacks) or rejected."""
    captions = {v.caption for v in mine
                if v.status in (R.VideoStatus.processing, R.VideoStatus.ready)}
    return [clip for clip in creator.clips if clip.caption not in captions]


class ServedCalls:
    """`Replica.update` and `Replica.query` made through a running `ReplicaService` the way
    the HTTP interface makes them, for `TypedCaller` (`served_caller`): an update is
    submitted and waited for (`ReplicaService.submit_and_wait_blocking`), so the
    service's thread runs and certifies the rounds; a query runs between two rounds.
    Work that runs rounds itself (`Replica.update` inside `ReplicaService.run`) must not
    run while the server answers requests: the certified state of a round would be
    missing."""

    def __init__(self, service: ReplicaService,
                 timeout_seconds: float = CALL_TIMEOUT_SECONDS) -> None:
        self.service, self.timeout_seconds = service, timeout_seconds

    def update(self, canister_id: Principal, method: str, arg: bytes, *,
               sender: Principal) -> bytes:
        outcome = self.service.submit_and_wait_blocking(
            lambda replica: replica.submit(canister_id, method, arg, sender=sender),
            timeout=self.timeout_seconds)
        status = outcome.status
        if status is None:
            raise ReplicaError(f"{method} on {canister_id.to_text()} was not answered within "
                               f"{self.timeout_seconds:.0f} s; is the replica running rounds?")
        if status.reply is not None:
            return status.reply
        if status.reject is None:
            raise ReplicaError(f"{method}: its answer was pruned from the ingress history")
        raise CanisterError(status.reject.error_code or ErrorCode.CANISTER_REJECTED_MESSAGE,
                            status.reject.message)

    def query(self, canister_id: Principal, method: str, arg: bytes, *,
              sender: Principal) -> bytes:
        return self.service.run(
            lambda replica: replica.query(canister_id, method, arg, sender=sender))


def served_caller(service: ReplicaService, canister: Principal) -> TypedCaller:
    """Typed calls to the video canister through ``service`` (`ServedCalls`)."""
    return TypedCaller(cast(Replica, ServedCalls(service)), canister,
                       method_table(CANISTER_MODULE))


class Finisher:
    """A daemon thread that adds the engagement of the demo videos as they become ready:
    every `FINISH_POLL_SECONDS`, `_Seeder.to_engage` and `_Seeder.engage` with calls made
    through the replica service like the HTTP interface's (`served_caller`), until none
    is processing or `FINISH_TIMEOUT_SECONDS` passed."""

    def __init__(self, service: ReplicaService, canister: Principal,
                 users: dict[str, Principal], *, poll_seconds: float = FINISH_POLL_SECONDS,
                 timeout_seconds: float = FINISH_TIMEOUT_SECONDS) -> None:
        self.seeder = _Seeder(served_caller(service, canister), users, lambda _line: None)
        self.poll_seconds, self.timeout_seconds = poll_seconds, timeout_seconds
        self.waiting: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="video-demo-finisher",
                                        daemon=True)

    @property
    def added(self) -> list[str]:
        """What the passes added, one entry per pass that engaged videos."""
        return self.seeder.added

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; whether it ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def round(self) -> list[str]:
        """One pass: engage what is ready; the clip keys still processing."""
        return self.seeder.engagement()

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout_seconds
        while not self._stop.wait(self.poll_seconds):
            try:
                self.waiting = self.round()
            except Exception:  # the server is stopping, or a call was refused
                logger.exception("video demo: adding engagement failed; the next start "
                                 "adds what is missing")
                return
            if not self.waiting:
                logger.info("video demo: every demo video is ready and engaged")
                return
            if time.monotonic() > deadline:
                logger.warning("video demo: %d videos still processing after %.0f s (is the "
                               "worker running?); the next start adds their likes, comments "
                               "and views", len(self.waiting), self.timeout_seconds)
                return


def seed_demo(replica: Replica, url: str, state_dir: Path,
              progress: Callable[[str], None] | None = None, *,
              finish_in_background: bool = True) -> DemoVideo:
    """Install the video canister on ``replica`` (served at ``url``) and seed the demo's
    missing parts; see the module docstring. With ``finish_in_background`` and a replica
    service running in this process, a `Finisher` adds the engagement of the videos still
    processing as they become ready (`DemoVideo.finisher`).

    Raises `icframework.compiler.app_build.BuildError` if the app does not build and
    `CanisterError` if a seeding call is rejected.
    """
    built = build_app(APP_DIR, pack_python_module,
                      cache_dir=Path(settings.BASE_DIR) / ".build" / "apps", progress=progress)
    admin = admin_identity(state_dir).principal
    worker = worker_identity(state_dir).principal
    ledger = recorded_id(TOKEN_NAME, url)
    arg = _init_arg(built.did, admin, worker, ledger)
    canister, done = install_recorded(replica, url, APP_NAME, built.wasm, admin=admin,
                                      init_arg=arg, upgrade_arg=arg)
    users = {handle: i.principal for handle, i in demo_identities(state_dir).items()}
    demo = DemoVideo(canister, done, users, admin, worker, ledger)
    seeder = _Seeder(TypedCaller(replica, canister, method_table(CANISTER_MODULE)), users,
                     progress or (lambda _line: None))
    seeder.people()
    seeder.uploads()
    seeder.follows()
    demo.waiting = seeder.engagement()
    demo.added = seeder.added
    service = get_service()
    if demo.waiting and finish_in_background and service is not None \
            and service.replica is replica:
        demo.finisher = Finisher(service, canister, users)
        demo.finisher.start()
    return demo


def run_demo(replica: Replica, url: str, state_dir: Path,
             progress: Callable[[str], None] | None = None) -> list[str]:
    """`seed_demo` as ``runreplica --demo`` runs it (``ICFRAMEWORK["DEMO_SEEDERS"]``)."""
    demo = seed_demo(replica, url, state_dir, progress)
    added = "; added " + ", ".join(demo.added) if demo.added else "; nothing new to seed"
    clips = sum(len(c.clips) for c in DEMO_CREATORS)
    lines = [
        f"  video:     {url}/video/",
        f"             canister {demo.canister_id.to_text()} ({demo.canister}{added})",
        f"             {len(DEMO_CREATORS)} creators (@alice, @bob, @carol as in the chat; "
        f"@ana, @ben, @cleo as in the market), {clips} clips",
    ]
    if demo.waiting:
        then = ("their likes, comments and views follow as each is ready"
                if demo.finisher is not None else
                "the next start adds their likes, comments and views")
        lines.append(f"             {len(demo.waiting)} videos are being transcoded by the "
                     f"worker and become ready over the next seconds; {then}")
    ledger = demo.ledger.to_text() if demo.ledger is not None else "none (no marketplace token)"
    lines += [
        f"             worker {demo.worker.to_text()}, tips ledger {ledger}",
        f"             controller and moderator: the demo admin {demo.admin.to_text()} "
        f"({admin_pem_path(state_dir)})",
    ]
    return lines
