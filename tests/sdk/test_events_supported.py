"""`events.supported()`: True on every backend that delivers events, False on the IC target's."""

from __future__ import annotations

from icframework.sdk import LocalBackend, events, set_backend
from icframework.sdk.backend import current_backend
from icframework.sdk.ic0_backend import Ic0Backend


class _NoEvents(LocalBackend):
    """A backend that declares, as the IC target's does, that it delivers no events."""

    publishes_events = False


def test_events_are_supported_everywhere_but_on_the_ic_target() -> None:
    # Ic0Backend itself is not built here: it installs the canister's random source
    # in the process (tests/compiler/test_ic_target_random.py runs it in a canister).
    assert Ic0Backend.publishes_events is False
    previous = current_backend()
    try:
        set_backend(LocalBackend())
        assert events.supported()
        set_backend(_NoEvents())
        assert not events.supported()
    finally:
        set_backend(previous)
