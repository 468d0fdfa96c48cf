"""What the IC-target test modules share: the build cache, the principals they call as,
an app built from its source, a replica per module, an installed canister, a typed call.

The IC builds go to ``<repo>/.build/ic`` (the shared base is built once, each app in
about 10-30 s); a replica compiles an IC module once per test module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from icframework.candid import CandidType
from icframework.candid.binary import decode, encode
from icframework.compiler.ic_target import IcBuild, build_ic_module
from icframework.core import Principal
from icframework.replica.embedded import Replica

CACHE = Path(__file__).resolve().parents[2] / ".build" / "ic"
CONTROLLER = Principal.self_authenticating(b"ic target test controller")
USER = Principal.self_authenticating(b"ic target test user")
EMPTY = b"DIDL\x00\x00"


def write_app(directory: Path, source: str, name: str = "icapp") -> Path:
    """``directory/name/canister.py`` holding ``source``: an app directory."""
    app = directory / name
    app.mkdir(parents=True, exist_ok=True)
    (app / "canister.py").write_text(source, encoding="utf-8")
    return app


def build_app(tmp_path_factory: pytest.TempPathFactory, source: str,
              name: str = "icapp") -> IcBuild:
    """The app of one ``canister.py`` built for the IC target (shared cache)."""
    app = write_app(tmp_path_factory.mktemp(f"{name}-src"), source, name)
    return build_ic_module(app, cache_dir=CACHE, progress=None)


def open_replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    """A fresh replica for a module-scoped fixture (``yield from open_replica(...)``)."""
    with Replica.open(tmp_path_factory.mktemp("ic-replica")) as opened:
        yield opened


def install(replica: Replica, built: IcBuild, arg: bytes = EMPTY,
            sender: Principal = CONTROLLER) -> Principal:
    """A new canister running ``built``, installed with ``arg`` by ``sender``."""
    created = replica.create_canister(sender=sender)
    replica.install_code(created, built.gzipped, arg, sender=sender)
    return created


def call(replica: Replica, canister: Principal, method: str, types: list[CandidType],
         values: list[Any], result: CandidType | None, *, query: bool = False,
         sender: Principal = CONTROLLER) -> Any:
    """Call ``method`` with typed arguments; the decoded result (None for no result)."""
    run = replica.query if query else replica.update
    raw = run(canister, method, encode(types, values), sender=sender)
    return decode(raw, [result])[0] if result is not None else None
