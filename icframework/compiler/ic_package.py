"""IC-target packages: a module ready to install on the Internet Computer, checked and written.

`package_ic_module` builds an app with the IC target (`icframework.compiler.ic_target`),
checks the module against the IC's limits (`icframework.compiler.ic_limits`) and writes
``<name>.wasm`` (the module), ``<name>.wasm.gz`` (its deterministic gzip, what an install
uploads) and ``<name>.did`` into an output directory. `load_ic_module` does the same
checks for a module built elsewhere (raw or gzipped), reading its interface from its
``candid:service`` custom section. Either way the result is an `IcPackage`, whose
``module_hash`` is the SHA-256 of the bytes installed (the gzip), as ``canister_status``
and ``/canister/<id>/module_hash`` report it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from icframework.compiler.ic_limits import IcLimitError, ModuleFacts, check_ic_limits

__all__ = ["IcPackage", "IcPackageError", "load_ic_module", "package_ic_module"]

Progress = Callable[[str], None]
CANDID_SECTIONS = ("icp:public candid:service", "icp:private candid:service")


class IcPackageError(Exception):
    """The module cannot be built, read or shipped; the message names the cause."""


@dataclass(frozen=True, slots=True)
class IcPackage:
    """A checked IC module: ``installed`` is what an install uploads (gzipped unless the
    module was given raw), ``did`` its Candid service text ("" if it has none),
    ``facts`` what `check_ic_limits` counted; ``paths`` the files written (if any)."""

    name: str
    installed: bytes
    did: str
    facts: ModuleFacts
    cached: bool = False
    seconds: float = 0.0
    wasm_path: Path | None = None
    gzipped_path: Path | None = None
    did_path: Path | None = None

    @property
    def module_hash(self) -> bytes:
        """SHA-256 of `installed`, the module hash the IC reports once it is installed."""
        return hashlib.sha256(self.installed).digest()


def _checked(name: str, module: bytes, progress: Progress | None) -> ModuleFacts:
    if progress is not None:
        progress(f"checking {name} against the IC's module limits")
    try:
        return check_ic_limits(module)
    except IcLimitError as exc:
        raise IcPackageError(f"{name}: {exc}") from None


def package_ic_module(app_dir: Path, *, cache_dir: Path, out_dir: Path,
                      progress: Progress | None = None) -> IcPackage:
    """Build ``app_dir`` for the IC, check it and write it to ``out_dir``.

    Raises `IcPackageError` for a missing toolchain, a failed build or a broken limit, and
    `icframework.compiler.app_build.BuildError` for a problem in the app's code.
    """
    # The IC target pulls in its toolchain; only IC builds should pay for importing it.
    from icframework.compiler.ic_target import IcTargetError, build_ic_module

    try:
        built = build_ic_module(app_dir, cache_dir=cache_dir, progress=progress)
    except IcTargetError as exc:
        raise IcPackageError(f"{app_dir.name}: {exc}") from None
    facts = _checked(built.name, built.gzipped, progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    wasm_path = out_dir / f"{built.name}.wasm"
    gzipped_path = out_dir / f"{built.name}.wasm.gz"
    did_path = out_dir / f"{built.name}.did"
    for path, data in ((wasm_path, built.wasm), (gzipped_path, built.gzipped),
                       (did_path, built.did.encode())):
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    return IcPackage(built.name, built.gzipped, built.did, facts, built.cached, built.seconds,
                     wasm_path, gzipped_path, did_path)


def load_ic_module(name: str, path: Path, *, out_dir: Path | None = None,
                   progress: Progress | None = None) -> IcPackage:
    """The module at ``path`` (raw or gzipped) as the package ``name``, checked.

    Its interface comes from its ``candid:service`` section and is written to
    ``out_dir/<name>.did`` when ``out_dir`` is given. Raises `IcPackageError` if the
    file cannot be read or breaks a limit.
    """
    try:
        module = path.read_bytes()
    except OSError as exc:
        raise IcPackageError(f"cannot read the module {path}: {exc.strerror}") from None
    facts = _checked(name, module, progress)
    did = next((facts.icp_sections[s] for s in CANDID_SECTIONS if s in facts.icp_sections),
               b"").decode("utf-8", errors="replace")
    did_path = None
    if out_dir is not None and did:
        out_dir.mkdir(parents=True, exist_ok=True)
        did_path = out_dir / f"{name}.did"
        did_path.write_text(did, encoding="utf-8")
    return IcPackage(name, module, did, facts, did_path=did_path)
