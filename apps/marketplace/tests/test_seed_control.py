"""Who controls the seeded marketplace and its token: only the demo's admin identity; the
anonymous principal is refused every controller call, and canisters an older version
left under anonymous control are handed to the admin on the next seeding."""

from __future__ import annotations

from pathlib import Path

from django.test import override_settings

from apps.chat.tests.test_seed_control import assert_anonymous_is_refused, controllers
from apps.marketplace.seed import seed_demo
from apps.marketplace.token import TOKEN_NAME
from icframework.core import Principal
from icframework.demo import REPAIRED, admin_identity
from icframework.deployments import recorded_id
from icframework.replica.embedded import Replica

URL = "http://127.0.0.1:4943"
ANONYMOUS = Principal.anonymous()


def test_marketplace_and_token_are_the_admins_alone(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with override_settings(BASE_DIR=tmp_path), Replica.open(state) as replica:
        lines = seed_demo(replica, URL, state)
        admin = admin_identity(state).principal
        for name in ("marketplace", TOKEN_NAME):
            canister = recorded_id(name, URL)
            assert canister is not None
            assert controllers(replica, canister) == [admin], name
            assert_anonymous_is_refused(replica, canister)
    assert lines[-1] == (f"             controller: the demo admin {admin.to_text()} "
                         f"({state / 'admin.pem'})")


def test_anonymous_controlled_marketplace_and_token_are_handed_to_the_admin(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    with override_settings(BASE_DIR=tmp_path):
        with Replica.open(state) as replica:
            seed_demo(replica, URL, state)
            admin = admin_identity(state).principal
            names = ("marketplace", TOKEN_NAME)
            ids = {name: recorded_id(name, URL) for name in names}
            for canister in ids.values():
                assert canister is not None
                # what older versions left: anonymous as the only controller
                replica.update_settings(canister, {"controllers": [ANONYMOUS]}, sender=admin)
                assert controllers(replica, canister) == [ANONYMOUS]
        with Replica.open(state) as replica:
            lines = seed_demo(replica, URL, state)
            for canister in ids.values():
                assert canister is not None
                assert controllers(replica, canister) == [admin]
                assert_anonymous_is_refused(replica, canister)
            again = seed_demo(replica, URL, state)
    market, token = ids["marketplace"], ids[TOKEN_NAME]
    assert market is not None and token is not None
    assert lines[1] == (f"             canister {market.to_text()} (unchanged; {REPAIRED}), "
                        f"token {TOKEN_NAME} {token.to_text()} (unchanged; {REPAIRED})")
    assert again[1] == (f"             canister {market.to_text()} (unchanged), "
                        f"token {TOKEN_NAME} {token.to_text()} (unchanged)")
