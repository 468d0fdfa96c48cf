"""Named identities on disk, in dfx's layout, so the CLI can sign as ``--identity NAME``.

Own identities live in ``$ICFRAMEWORK_HOME/identity/<name>/identity.pem`` (default
home ``~/.config/icframework``), as unencrypted PEM files that dfx also reads
(``dfx identity import``). The selected identity is recorded in
``$ICFRAMEWORK_HOME/identity.json`` (``{"default": "<name>"}``, dfx's format).
``default`` is created (Ed25519) the first time it is needed. dfx's own plaintext
identities (``~/.config/dfx/identity/<name>/identity.pem``, or under
``$DFX_CONFIG_ROOT/.config/dfx``) are usable too unless an own identity of the same
name shadows them; encrypted or keyring-backed dfx identities are not. ``anonymous``
always exists and signs nothing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from icframework.agent.errors import AgentError
from icframework.core import Principal
from icframework.identity import (
    AnonymousIdentity,
    Ed25519Identity,
    Identity,
    IdentityError,
    Secp256k1Identity,
    load_pem,
)

HOME_ENV = "ICFRAMEWORK_HOME"
DFX_ROOT_ENV = "DFX_CONFIG_ROOT"
DEFAULT = "default"
ANONYMOUS = "anonymous"
PEM_NAME = "identity.pem"
KeyType = Literal["ed25519", "secp256k1"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")


class IdentityStoreError(AgentError):
    """An identity name is invalid, unknown or already taken, or its PEM file is unusable."""


@dataclass(frozen=True, slots=True)
class IdentityInfo:
    """One entry of `IdentityStore.list`: where an identity comes from and who it is."""

    name: str
    source: Literal["icframework", "dfx", "builtin"]
    path: Path | None
    selected: bool


def default_home() -> Path:
    """``$ICFRAMEWORK_HOME``, else ``~/.config/icframework``."""
    override = os.environ.get(HOME_ENV)
    return Path(override) if override else Path.home() / ".config" / "icframework"


def default_dfx_home() -> Path:
    """dfx's configuration directory: ``$DFX_CONFIG_ROOT/.config/dfx`` or ``~/.config/dfx``."""
    root = os.environ.get(DFX_ROOT_ENV)
    return (Path(root) if root else Path.home()) / ".config" / "dfx"


class IdentityStore:
    """The identities under ``home`` (and, read-only, dfx's under ``dfx_home``)."""

    def __init__(self, home: Path | None = None, dfx_home: Path | None = None) -> None:
        self.home = home if home is not None else default_home()
        self.dfx_home = dfx_home if dfx_home is not None else default_dfx_home()

    # -- paths

    def _own_path(self, name: str) -> Path:
        return self.home / "identity" / name / PEM_NAME

    def _dfx_path(self, name: str) -> Path:
        return self.dfx_home / "identity" / name / PEM_NAME

    def pem_path(self, name: str) -> Path | None:
        """The PEM file behind ``name`` (own first, then dfx's), or None."""
        _check_name(name)
        for path in (self._own_path(name), self._dfx_path(name)):
            if path.is_file():
                return path
        return None

    # -- operations

    def new(self, name: str, *, key_type: KeyType = "ed25519", force: bool = False) -> Identity:
        """Create identity ``name`` with a fresh key and store its PEM file.

        Raises `IdentityStoreError` if it exists (unless ``force``) or the name is invalid.
        """
        _check_name(name)
        if name == ANONYMOUS:
            raise IdentityStoreError("'anonymous' is built in and cannot be created")
        path = self._own_path(name)
        if path.exists() and not force:
            raise IdentityStoreError(
                f"identity {name!r} already exists at {path}; pick another name"
            )
        if key_type == "ed25519":
            identity: Ed25519Identity | Secp256k1Identity = Ed25519Identity.generate()
        elif key_type == "secp256k1":
            identity = Secp256k1Identity.generate()
        else:
            raise IdentityStoreError(f"key type {key_type!r} is not ed25519 or secp256k1")
        _write_private(path, identity.to_pem())
        return identity

    def import_pem(self, name: str, pem: str, *, force: bool = False) -> Identity:
        """Store an existing PEM key (as dfx exports it) under ``name``."""
        _check_name(name)
        try:
            identity = load_pem(pem)
        except IdentityError as exc:
            raise IdentityStoreError(f"cannot import {name!r}: {exc}") from exc
        path = self._own_path(name)
        if path.exists() and not force:
            raise IdentityStoreError(f"identity {name!r} already exists at {path}")
        _write_private(path, pem if pem.endswith("\n") else pem + "\n")
        return identity

    def list(self) -> list[IdentityInfo]:
        """Every usable identity, own ones shadowing dfx's of the same name, sorted by name."""
        selected = self.selected()
        found: dict[str, IdentityInfo] = {
            ANONYMOUS: IdentityInfo(ANONYMOUS, "builtin", None, selected == ANONYMOUS)
        }
        sources: tuple[tuple[Literal["dfx", "icframework"], Path], ...] = (
            ("dfx", self.dfx_home),
            ("icframework", self.home),
        )
        for source, base in sources:
            directory = base / "identity"
            if not directory.is_dir():
                continue
            for entry in directory.iterdir():
                pem = entry / PEM_NAME
                if pem.is_file() and _NAME.match(entry.name):
                    found[entry.name] = IdentityInfo(
                        entry.name, source, pem, selected == entry.name
                    )
        if DEFAULT not in found:
            found[DEFAULT] = IdentityInfo(
                DEFAULT, "icframework", self._own_path(DEFAULT), selected == DEFAULT
            )
        return [found[name] for name in sorted(found)]

    def get_identity(self, name: str | None = None) -> Identity:
        """The identity called ``name`` (default: the selected one), creating ``default``.

        Raises `IdentityStoreError` naming the known identities if there is none by that name.
        """
        name = self.selected() if name is None else name
        _check_name(name)
        if name == ANONYMOUS:
            return AnonymousIdentity()
        path = self.pem_path(name)
        if path is None:
            if name == DEFAULT:
                return self.new(DEFAULT)
            known = ", ".join(info.name for info in self.list())
            raise IdentityStoreError(
                f"no identity named {name!r} (known: {known}); create it with "
                f"`python manage.py identity new {name}`"
            )
        try:
            return load_pem(path.read_text(encoding="ascii", errors="replace"))
        except IdentityError as exc:
            raise IdentityStoreError(f"identity {name!r} ({path}) is unusable: {exc}") from exc

    def principal(self, name: str | None = None) -> Principal:
        """The principal of identity ``name`` (default: the selected one)."""
        return self.get_identity(name).principal

    def export(self, name: str | None = None) -> str:
        """The PEM text of identity ``name`` (default: the selected one)."""
        name = self.selected() if name is None else name
        if name == ANONYMOUS:
            raise IdentityStoreError("the anonymous identity has no key to export")
        self.get_identity(name)
        path = self.pem_path(name)
        assert path is not None
        return path.read_text(encoding="ascii")

    def selected(self) -> str:
        """The name recorded by `use`, else ``default``."""
        try:
            recorded = json.loads((self.home / "identity.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return DEFAULT
        name = recorded.get("default") if isinstance(recorded, dict) else None
        return name if isinstance(name, str) and _NAME.match(name) else DEFAULT

    def use(self, name: str) -> None:
        """Select identity ``name`` for later commands; it must exist."""
        self.get_identity(name)
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "identity.json").write_text(
            json.dumps({"default": name}) + "\n", encoding="utf-8"
        )


def get_identity(name: str | None = None) -> Identity:
    """`IdentityStore.get_identity` on the default store."""
    return IdentityStore().get_identity(name)


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise IdentityStoreError(
            f"identity name {name!r} is invalid: use letters, digits, '.', '_', '-' and '@', "
            "starting with a letter or digit"
        )


def _write_private(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text)
