"""Who controls the seeded chat canister: only the demo's admin identity, whose key is
``<state dir>/admin.pem``; the anonymous principal (anyone) can neither stop, upgrade,
reinstall, uninstall nor delete it, and a state an older version left under anonymous
control is handed to the admin on the next seeding."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.test import override_settings

from apps.chat.seed import APP_DIR, run_demo, seed_demo
from icframework.compiler.app_build import build_app
from icframework.core import ErrorCode, Principal
from icframework.demo import REPAIRED, admin_identity, admin_pem_path
from icframework.deployments import save_canister_id
from icframework.identity import Ed25519Identity, load_pem
from icframework.replica import CanisterError, CanisterState, Replica, pack_python_module
from tests.replica.wat_counter import counter_wasm

URL = "http://127.0.0.1:4943"
ANONYMOUS = Principal.anonymous()


def record(replica: Replica, canister: Principal) -> CanisterState:
    state = replica.canister_record(canister)
    assert state is not None, f"no canister {canister}"
    return state


def controllers(replica: Replica, canister: Principal) -> list[Principal]:
    return [Principal(c) for c in record(replica, canister).settings.controllers]


def assert_anonymous_is_refused(replica: Replica, canister: Principal) -> None:
    """Every controller-only management call made as anonymous is refused (IC0512) and
    leaves the canister running its module."""
    module_hash = record(replica, canister).module_hash
    attempts = {
        "stop_canister": lambda: replica.stop_canister(canister, sender=ANONYMOUS),
        "install_code": lambda: replica.install_code(
            canister, counter_wasm(), mode="reinstall", sender=ANONYMOUS),
        "upgrade": lambda: replica.install_code(
            canister, counter_wasm(), mode="upgrade", sender=ANONYMOUS),
        "uninstall_code": lambda: replica.uninstall_code(canister, sender=ANONYMOUS),
        "delete_canister": lambda: replica.delete_canister(canister, sender=ANONYMOUS),
        "update_settings": lambda: replica.update_settings(
            canister, {"controllers": [ANONYMOUS]}, sender=ANONYMOUS),
    }
    for name, attempt in attempts.items():
        with pytest.raises(CanisterError) as info:
            attempt()
        assert info.value.error_code is ErrorCode.CANISTER_INVALID_CONTROLLER, name
        assert f"sender: {ANONYMOUS.to_text()}" in info.value.message
    state = record(replica, canister)
    assert (state.status.value, state.module_hash) == ("running", module_hash)


def test_the_admin_is_the_only_controller_and_anonymous_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with override_settings(BASE_DIR=tmp_path), Replica.open(state) as replica:
        demo = seed_demo(replica, URL, state, progress=None)
        lines = run_demo(replica, URL, state)
        admin = admin_identity(state).principal
        assert demo.admin == admin
        assert controllers(replica, demo.canister_id) == [admin]
        assert_anonymous_is_refused(replica, demo.canister_id)
    assert lines[3] == (f"             controller: the demo admin {admin.to_text()} "
                       f"({state / 'admin.pem'})")
    assert not admin.is_anonymous and admin.is_self_authenticating


def test_the_admin_key_is_a_private_dfx_pem_made_once(tmp_path: Path) -> None:
    path = admin_pem_path(tmp_path)
    first = admin_identity(tmp_path)
    assert path == tmp_path / "admin.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----\n")
    assert isinstance(load_pem(path.read_text()), Ed25519Identity)
    assert admin_identity(tmp_path).principal == first.principal


def test_a_shared_or_damaged_admin_key_names_the_fix(tmp_path: Path) -> None:
    path = admin_pem_path(tmp_path)
    admin_identity(tmp_path)
    path.chmod(0o644)
    with pytest.raises(ValueError) as info:
        admin_identity(tmp_path)
    assert str(info.value) == (f"{path} holds the demo canisters' admin key but other users "
                               f"may read or change it (mode 644); run: chmod 600 {path}")
    path.write_text("not a key")
    path.chmod(0o600)
    with pytest.raises(ValueError, match=r"admin.pem is not a PEM identity \(no 'BEGIN PRIVATE "
                                         r"KEY'.*delete the state directory to start afresh"):
        admin_identity(tmp_path)


def old_style_chat(replica: Replica, url: str) -> Principal:
    """The chat canister as older versions deployed it: created, installed and recorded
    by the anonymous sender, which is its only controller."""
    built = build_app(APP_DIR, pack_python_module, cache_dir=None, progress=None)
    canister = replica.create_canister(sender=ANONYMOUS)
    replica.install_code(canister, built.wasm, sender=ANONYMOUS)
    save_canister_id("chat", canister, url)
    assert controllers(replica, canister) == [ANONYMOUS]
    assert hashlib.sha256(built.wasm).digest() == record(replica, canister).module_hash
    return canister


def test_an_anonymous_controlled_chat_is_handed_to_the_admin(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with override_settings(BASE_DIR=tmp_path):
        with Replica.open(state) as replica:
            canister = old_style_chat(replica, URL)
            lines = run_demo(replica, URL, state)
        with Replica.open(state) as replica:
            admin = admin_identity(state).principal
            assert controllers(replica, canister) == [admin]
            assert_anonymous_is_refused(replica, canister)
            again = seed_demo(replica, URL, state, progress=None)
    assert lines[1].startswith(f"             canister {canister.to_text()} (unchanged; "
                               f"{REPAIRED}; added user @alice")
    assert REPAIRED == ("repaired: the anonymous principal (anyone) controlled it, now the "
                        "admin identity does")
    assert (again.canister_id, again.canister) == (canister, "unchanged")


def test_a_developers_canister_is_kept_as_it_is(tmp_path: Path) -> None:
    developer = Principal.self_authenticating(b"a developer's key")
    state = tmp_path / "state"
    with override_settings(BASE_DIR=tmp_path), Replica.open(state) as replica:
        built = build_app(APP_DIR, pack_python_module, cache_dir=None, progress=None)
        canister = replica.create_canister(sender=developer)
        replica.install_code(canister, built.wasm, sender=developer)
        save_canister_id("chat", canister, URL)
        demo = seed_demo(replica, URL, state, progress=None)
        assert demo.canister == "kept (deployed by a developer identity)"
        assert controllers(replica, canister) == [developer]
