"""``manage.py identity``: new, list, use, whoami, principal, export, import."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from icframework.identity import Ed25519Identity, load_pem


@pytest.fixture(autouse=True)
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ICFRAMEWORK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DFX_CONFIG_ROOT", str(tmp_path / "dfxroot"))
    return tmp_path


def run(*args: str) -> str:
    out = StringIO()
    call_command("identity", *args, stdout=out)
    return out.getvalue()


def test_new_use_whoami_principal(homes: Path) -> None:
    created = run("new", "alice")
    assert created.startswith("Created identity alice (ed25519): ")
    principal = created.strip().rsplit(" ", 1)[1]
    assert run("whoami").strip() == "default"
    assert run("use", "alice").strip() == "Using identity alice"
    assert run("whoami").strip() == "alice"
    assert run("principal").strip() == principal
    assert run("principal", "anonymous").strip() == "2vxsx-fae"
    assert run("list").splitlines() == ["* alice", "  anonymous  (builtin)", "  default"]


def test_export_is_dfx_compatible_pem(homes: Path) -> None:
    run("new", "bob", "--type", "secp256k1")
    pem = run("export", "bob")
    assert pem.startswith("-----BEGIN EC PRIVATE KEY-----") and pem.endswith("-----\n")
    assert load_pem(pem).principal.to_text() == run("principal", "bob").strip()
    path = homes / "home" / "identity" / "bob" / "identity.pem"
    assert path.read_text() == pem


def test_import_and_dfx_identities(homes: Path) -> None:
    key = Ed25519Identity.generate()
    pem_file = homes / "key.pem"
    pem_file.write_text(key.to_pem())
    assert run("import", "carol", str(pem_file)).strip() == (
        f"Imported identity carol: {key.principal.to_text()}"
    )
    dfx_key = Ed25519Identity.generate()
    dfx_pem = homes / "dfxroot" / ".config" / "dfx" / "identity" / "dfxuser" / "identity.pem"
    dfx_pem.parent.mkdir(parents=True)
    dfx_pem.write_text(dfx_key.to_pem())
    assert "  dfxuser  (dfx)" in run("list").splitlines()
    assert run("principal", "dfxuser").strip() == dfx_key.principal.to_text()


def test_errors(homes: Path) -> None:
    run("new", "dave")
    with pytest.raises(CommandError, match="already exists"):
        run("new", "dave")
    with pytest.raises(CommandError, match=r"no identity named 'ghost' \(known: anonymous, dave"):
        run("use", "ghost")
    with pytest.raises(CommandError, match="invalid"):
        run("new", "bad/name")
    with pytest.raises(CommandError, match="no key to export"):
        run("export", "anonymous")
    with pytest.raises(CommandError, match="cannot read"):
        run("import", "eve", str(homes / "missing.pem"))
