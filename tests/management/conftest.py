"""The replica the command tests share: one ``runreplica`` for the package.

The modules that run ``canister``, ``call`` and ``deploy`` against a live replica each
work in projects and identity homes of their own and create their own canisters, so one
server serves them all (``replica_url``) instead of one per module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent.live_replica import running_replica


@pytest.fixture(scope="package")
def replica_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a ``runreplica`` with its state in a scratch directory, stopped after
    the package's last test."""
    with running_replica(tmp_path_factory.mktemp("replica") / "state") as url:
        yield url
