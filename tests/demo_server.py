"""The served demo the browser tests share, and the build caches every demo start reuses.

Starting ``runreplica --demo`` in a scratch project used to cost a minute or more:
each new project built every app's module again, drew the social network's 30 portraits
and banners and rendered the video demo's 16 clips. All three are kept under the
project's ``.build`` (``apps``, ``social-pictures``, ``video-clips``), each file named by
a hash of what made it (the sources, the drawing or the generating code), so a scratch
project can share the checkout's: `share_build_caches` links them, and a changed source
still builds, draws or renders anew.

`served_demo` serves a scratch project with ``--demo`` and its in-process Celery worker
(the transcoder the video pages wait for). The root ``conftest.py`` serves one for the
whole session as the ``demo_project`` fixture: the browser modules that only add users
and content of their own (each test with fresh keys and handles) use it instead of a
server each. Tests about the demo's start itself (``tests/management``) start their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.agent.live_replica import ROOT, ServedProject, served_project

__all__ = ["SHARED_CACHES", "STARTUP_SECONDS", "served_demo", "share_build_caches"]

#: the checkout's caches of `.build` a scratch project links to: app modules, social
#: pictures, video clips (each file keyed by a hash of what made it)
SHARED_CACHES = ("apps", "social-pictures", "video-clips")
#: an upper bound on a demo start, in seconds, for a loaded machine; nothing is timed
STARTUP_SECONDS = 600.0


def share_build_caches(root: Path, caches: tuple[str, ...] = SHARED_CACHES) -> None:
    """Link ``root/.build/<cache>`` to the checkout's ``.build/<cache>`` for each of
    ``caches`` (some of `SHARED_CACHES`), creating the checkout's when missing; a cache
    already in ``root`` is left as it is. Raises ``ValueError`` for a name not in
    `SHARED_CACHES`."""
    unknown = set(caches) - set(SHARED_CACHES)
    if unknown:
        raise ValueError(f"not a shared build cache: {sorted(unknown)}; "
                         f"choose from {SHARED_CACHES}")
    build = root / ".build"
    build.mkdir(parents=True, exist_ok=True)
    for name in caches:
        shared = ROOT / ".build" / name
        shared.mkdir(parents=True, exist_ok=True)
        link = build / name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(shared, target_is_directory=True)


@contextmanager
def served_demo(root: Path) -> Iterator[ServedProject]:
    """``runreplica --demo`` serving a scratch project under ``root`` with the shared
    build caches and its worker: the scratch settings module has no package, so its
    Celery app is ``celery_app`` (`icframework.workers.project_app`), the project's own.

    Raises ``RuntimeError`` with the server's output if it does not answer within
    `STARTUP_SECONDS`.
    """
    share_build_caches(root)
    (root / "celery_app.py").write_text("from config.celery import app  # noqa: F401\n")
    with served_project(root, demo=True, startup_seconds=STARTUP_SECONDS) as project:
        yield project
