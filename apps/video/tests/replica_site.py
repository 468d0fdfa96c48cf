"""What the built video canister's tests on an in-process replica share: the clock the
test moves, the Python runtime loader, the built module (from the app build cache under
``.build/apps``, so an unchanged canister is not packed again) and calls that move the
clock 5 s each, so no rate limit is reached."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from icframework.compiler.app_build import build_app
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.demo import TypedCaller
from icframework.replica import Replica, pack_python_module, set_runtime_loader
from icframework.sdk import Canister
from tests.compiler.runtime_support import CACHE_DIR, runtime_component

from .world import (
    APP,
    APP_DIR,
    SECOND,
    WORKER,
    chunks_of,
    mp4,
    records,
    rendition,
    rendition_bytes,
    upload_input,
)

BUILD_CACHE = APP_DIR.parents[1] / ".build" / "apps"


class Clock:
    """The replica's time, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_750_000_000 * SECOND

    def __call__(self) -> int:
        return self.now


@contextmanager
def python_runtime() -> Iterator[None]:
    """The shared Python runtime loaded from the test cache while the block runs."""
    runtime_component()
    previous = set_runtime_loader(functools.partial(load_runtime, cache_dir=CACHE_DIR,
                                                    progress=None))
    try:
        yield
    finally:
        set_runtime_loader(previous)


def built(app_dir: Any) -> bytes:
    """The app at ``app_dir`` built to a canister module (cached by source hash)."""
    return build_app(app_dir, pack_python_module, cache_dir=BUILD_CACHE, progress=None).wasm


class VideoSite:
    """The installed video canister and calls to it, the clock moved 5 s before each."""

    def __init__(self, replica: Replica, clock: Clock, canister: Principal) -> None:
        self.replica, self.clock, self.video_id = replica, clock, canister
        self.video = TypedCaller(replica, canister, Canister(APP.__name__).methods)

    def call(self, who: Principal, method: str, *args: Any) -> Any:
        self.clock.now += 5 * SECOND
        return self.video(who, method, *args)

    def ready_video(self, creator: Principal, caption: str = "on the replica", *,
                    size: int = 3000, duration_ms: int = 10_000) -> Any:
        """A ready video of ``creator``: uploaded, then completed as the worker."""
        data = mp4(size)
        ticket = self.call(creator, "begin_upload", upload_input(data, caption))
        for index, chunk in enumerate(chunks_of(data)):
            self.call(creator, "put_chunk", ticket.video_id, index, chunk)
        self.call(creator, "finish_upload", ticket.video_id)
        self.call(WORKER, "worker_claim", ticket.video_id)
        for kind in records.RenditionKind:
            part = rendition_bytes(ticket.video_id, kind)
            self.call(WORKER, "worker_put_rendition", ticket.video_id, rendition(kind, part))
        return self.call(WORKER, "worker_complete", ticket.video_id,
                         records.MediaInfo(duration_ms, 720, 1280))
