"""The state directory's admin identity: the key in ``<state dir>/admin.pem``.

The local admin deploys and controls what is made on a replica's state directory, as
dfx's default identity does for ``dfx deploy``: the demo's canisters
(`icframework.demo`) and what ``manage.py replica`` creates and installs. It is an
Ed25519 key in a dfx-compatible PEM file, owner-only (mode 0600), made on first use.
Never the anonymous principal, which anyone can send as: a canister it controls can be
stopped, upgraded, reinstalled or deleted by anyone.

`kept_identity` is how any such key of the state directory is kept (the admin's here,
the off-chain worker's in `icframework.workers`).
"""

from __future__ import annotations

import os
from pathlib import Path

from icframework.identity import Ed25519Identity, Identity, IdentityError, load_pem


def admin_pem_path(state_dir: Path) -> Path:
    """Where the state directory's admin identity is kept: ``<state_dir>/admin.pem``."""
    return state_dir / "admin.pem"


def admin_identity(state_dir: Path) -> Identity:
    """The local admin identity of ``state_dir`` (see the module docstring).

    Created on first use (Ed25519, written owner-only); any PEM key dfx can use works
    if put there instead. Raises `ValueError` naming the file and the fix if it is
    readable or writable by other users or is not a plaintext PEM key.
    """
    return kept_identity(
        admin_pem_path(state_dir), holds="the demo canisters' admin key",
        if_lost="make a new admin (which will not control the existing demo canisters: "
                "delete the state directory to start afresh)")


def kept_identity(path: Path, *, holds: str, if_lost: str) -> Identity:
    """The identity whose key is kept at ``path``, made on first use (Ed25519, written
    owner-only); any PEM key dfx can use works if put there instead.

    Raises `ValueError` naming the file and the fix if other users may read or change it
    or it is not a plaintext PEM key; ``holds`` says what the key is for and ``if_lost``
    what deleting it would do, for those messages.
    """
    if not path.exists():
        identity = Ed25519Identity.generate()
        try:
            write_private(path, identity.to_pem(), exclusive=True)
        except FileExistsError:
            pass  # made meanwhile by another process: use that one
        else:
            return identity
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ValueError(f"{path} holds {holds} but other users may read or change it "
                         f"(mode {mode:o}); run: chmod 600 {path}")
    try:
        return load_pem(path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError, IdentityError) as exc:
        raise ValueError(f"{path} is not a PEM identity ({exc}); restore it, or delete it "
                         f"to {if_lost}") from None


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write a secret file that is owner-only from its first byte (mode 0600);
    ``exclusive`` raises `FileExistsError` instead of replacing one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    descriptor = os.open(path, flags, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
