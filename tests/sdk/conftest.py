"""Every SDK test starts with a fresh `LocalBackend`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from icframework.sdk import LocalBackend, set_backend


@pytest.fixture(autouse=True)
def backend() -> Iterator[LocalBackend]:
    fresh = LocalBackend()
    previous = set_backend(fresh)
    yield fresh
    set_backend(previous)
