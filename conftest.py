"""Fixtures every test directory (``tests`` and ``apps``) may use.

``demo_project``: one ``runreplica --demo`` for the whole session (`tests.demo_server`),
started when a test first asks for it and stopped at the end. Tests that use it add
users and content of their own and assert only about those, so they hold in any order
and next to each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.agent.live_replica import ServedProject


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProject]:
    """The session's served demo: every app deployed and seeded, the worker running."""
    from tests.demo_server import served_demo

    with served_demo(tmp_path_factory.mktemp("demo_project")) as project:
        yield project
