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

__all__ = ["IcBuild", "IcTargetError", "build_ic_module"]

Progress = Callable[[str], None]


class IcTargetError(Exception):
    """The IC-target module cannot be built (missing toolchain, failed link, bad app)."""


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
    """Build the app in ``app_dir`` into an IC module; raises `IcTargetError`."""
    raise NotImplementedError("the IC target is being built")
