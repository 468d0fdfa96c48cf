"""Build a Python canister app into a standard IC module (core wasm importing only ``ic0``).

The public face of the IC target: `build_ic_module` turns an app directory into an
`IcBuild` (the uncompressed module with ``candid:service`` and ``icframework:*``
metadata custom sections, its deterministic gzip and its SHA-256). See docs/ic-target.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from icframework.compiler.ic_target.builder import IcTargetError, build
from icframework.compiler.ic_target.toolchain import CPYTHON_VERSION

__all__ = ["CPYTHON_VERSION", "DEFAULT_CACHE_DIR", "IcBuild", "IcTargetError", "build_ic_module"]

Progress = Callable[[str], None]
DEFAULT_CACHE_DIR = Path(".build/ic")
"""Where the toolchain, the shared base module and built apps are cached."""


@dataclass(frozen=True, slots=True)
class IcBuild:
    """An app built for the IC target.

    ``wasm``: the uncompressed module (custom sections ``candid:service`` and
    ``icframework:*``); ``gzipped``: its deterministic gzip (mtime 0), what an install
    uploads; ``module_hash``: SHA-256 hex of ``wasm`` (the IC's module hash);
    ``did``: the service's Candid text; ``cached``: whether it came from the cache.
    """

    name: str
    wasm: bytes
    gzipped: bytes
    did: str
    cached: bool
    seconds: float

    @property
    def module_hash(self) -> str:
        return hashlib.sha256(self.wasm).hexdigest()


def build_ic_module(
    app_dir: Path,
    *,
    cache_dir: Path,
    progress: Progress | None = None,
) -> IcBuild:
    """Build the app in ``app_dir`` into an IC module (see `icframework.compiler.ic_target.build`).

    Raises `IcTargetError` for a missing or failing toolchain and
    `icframework.compiler.app_build.BuildError` for a problem in the app (``file:line``).
    """
    name, wasm, gzipped, did, cached, seconds = build(Path(app_dir), Path(cache_dir), progress)
    return IcBuild(name, wasm, gzipped, did, cached, seconds)
