"""The named identity store: creation, selection, dfx identities, PEM compatibility."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from icframework.agent import IdentityStore, IdentityStoreError
from icframework.agent.identities import default_dfx_home, default_home
from icframework.identity import AnonymousIdentity, Ed25519Identity, Secp256k1Identity, load_pem


@pytest.fixture
def store(tmp_path: Path) -> IdentityStore:
    return IdentityStore(home=tmp_path / "home", dfx_home=tmp_path / "dfx")


def test_default_is_created_on_first_use(store: IdentityStore) -> None:
    identity = store.get_identity()
    assert isinstance(identity, Ed25519Identity)
    path = store.home / "identity" / "default" / "identity.pem"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.get_identity("default").principal == identity.principal
    assert store.principal() == identity.principal


def test_new_use_list_export(store: IdentityStore) -> None:
    alice = store.new("alice")
    bob = store.new("bob", key_type="secp256k1")
    assert isinstance(bob, Secp256k1Identity)
    with pytest.raises(IdentityStoreError, match="already exists"):
        store.new("alice")
    assert store.selected() == "default"
    store.use("alice")
    assert store.selected() == "alice"
    assert store.get_identity().principal == alice.principal
    names = {info.name: info for info in store.list()}
    assert sorted(names) == ["alice", "anonymous", "bob", "default"]
    assert names["alice"].selected and names["alice"].source == "icframework"
    assert names["anonymous"].source == "builtin"
    pem = store.export("bob")
    assert pem.startswith("-----BEGIN EC PRIVATE KEY-----")
    assert load_pem(pem).principal == bob.principal


def test_anonymous_and_bad_names(store: IdentityStore) -> None:
    assert isinstance(store.get_identity("anonymous"), AnonymousIdentity)
    store.use("anonymous")
    assert store.principal().to_text() == "2vxsx-fae"
    with pytest.raises(IdentityStoreError, match="no key to export"):
        store.export("anonymous")
    with pytest.raises(IdentityStoreError, match="cannot be created"):
        store.new("anonymous")
    with pytest.raises(IdentityStoreError, match="invalid"):
        store.new("../escape")
    with pytest.raises(IdentityStoreError, match=r"no identity named 'ghost' \(known: anonymous"):
        store.get_identity("ghost")
    with pytest.raises(IdentityStoreError, match="no identity named"):
        store.use("ghost")


def test_dfx_identities_are_visible_unless_shadowed(store: IdentityStore) -> None:
    dfx_key = Ed25519Identity.generate()
    dfx_file = store.dfx_home / "identity" / "deployer" / "identity.pem"
    dfx_file.parent.mkdir(parents=True)
    dfx_file.write_text(dfx_key.to_pem())
    assert store.get_identity("deployer").principal == dfx_key.principal
    info = {i.name: i for i in store.list()}["deployer"]
    assert info.source == "dfx" and info.path == dfx_file
    own = store.new("deployer")
    assert store.get_identity("deployer").principal == own.principal
    assert {i.name: i for i in store.list()}["deployer"].source == "icframework"


def test_import_and_broken_files(store: IdentityStore) -> None:
    key = Ed25519Identity.generate()
    assert store.import_pem("imported", key.to_pem()).principal == key.principal
    with pytest.raises(IdentityStoreError, match="cannot import"):
        store.import_pem("junk", "not a pem")
    broken = store.home / "identity" / "broken" / "identity.pem"
    broken.parent.mkdir(parents=True)
    broken.write_text("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n")
    with pytest.raises(IdentityStoreError, match=r"'broken' .* is unusable"):
        store.get_identity("broken")


def test_homes_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICFRAMEWORK_HOME", str(tmp_path / "ic"))
    monkeypatch.setenv("DFX_CONFIG_ROOT", str(tmp_path / "root"))
    assert default_home() == tmp_path / "ic"
    assert default_dfx_home() == tmp_path / "root" / ".config" / "dfx"
    assert IdentityStore().home == tmp_path / "ic"
