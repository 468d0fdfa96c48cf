"""``ICFRAMEWORK["REPLICA_HOOKS"]``: runreplica calls each with (service, base URL, state
directory) and keeps their stop functions; a hook that fails stops runreplica with its
path and message, after stopping the hooks started before it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management.base import CommandError
from django.test import override_settings

from icframework.management.commands.runreplica import Command
from icframework.replica import ReplicaService, get_service, start_service, stop_service
from tests.workers import hooks

RECORDING = "tests.workers.hooks.recording"
FAILING = "tests.workers.hooks.failing"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ReplicaService]:
    hooks.calls.clear()
    with override_settings(ICFRAMEWORK={"STATE_DIR": str(tmp_path)}):
        running = start_service(tmp_path)
        try:
            yield running
        finally:
            stop_service()


def test_hooks_are_called_with_the_service_url_and_state_and_give_their_stops(
    service: ReplicaService, tmp_path: Path
) -> None:
    command = Command()
    with override_settings(ICFRAMEWORK={"STATE_DIR": str(tmp_path),
                                        "REPLICA_HOOKS": [RECORDING, RECORDING]}):
        stops = command.start_hooks(service, "http://127.0.0.1:4943")
    started = ("start", service, "http://127.0.0.1:4943", tmp_path)
    assert hooks.calls == [started, started]
    assert len(stops) == 2
    stops[0]()
    assert hooks.calls[-1] == ("stop", service, "http://127.0.0.1:4943", tmp_path)


def test_a_failing_hook_stops_runreplica_naming_it(service: ReplicaService,
                                                   tmp_path: Path) -> None:
    command = Command()
    with override_settings(ICFRAMEWORK={"STATE_DIR": str(tmp_path),
                                        "REPLICA_HOOKS": [RECORDING, FAILING]}), \
            pytest.raises(CommandError, match=r"'tests\.workers\.hooks\.failing', which failed "
                                              r"to start: this hook cannot start"):
        command.start_hooks(service, "http://127.0.0.1:4943")
    assert [call[0] for call in hooks.calls] == ["start", "stop"]  # the first is stopped
    assert get_service() is None  # and the replica with it


def test_without_hooks_nothing_is_called(service: ReplicaService, tmp_path: Path) -> None:
    with override_settings(ICFRAMEWORK={"STATE_DIR": str(tmp_path)}):
        assert Command().start_hooks(service, "http://127.0.0.1:4943") == []
    assert hooks.calls == []
