"""`events.supported()`: True on every backend that delivers events, False on the IC target's."""

from __future__ import annotations

from icframework.sdk import LocalBackend, events, set_backend
from icframework.sdk.backend import current_backend
from icframework.sdk.ic0_backend import Ic0Backend


def test_events_are_supported_everywhere_but_on_the_ic_target() -> None:
    previous = current_backend()
    try:
        set_backend(LocalBackend())
        assert events.supported()
        # No _ic0 call is made, and the canister's random source stays uninstalled here.
        set_backend(Ic0Backend(object(), guard_randomness=False))
        assert not events.supported()
    finally:
        set_backend(previous)
