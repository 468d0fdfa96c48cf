"""Replica hooks the runreplica tests name: one that records its calls, one that fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

calls: list[tuple[str, Any, str, Path]] = []


def recording(service: Any, base_url: str, state_dir: Path) -> Callable[[], None]:
    """Record the call; the stop function records the stop."""
    calls.append(("start", service, base_url, state_dir))
    return lambda: calls.append(("stop", service, base_url, state_dir))


def failing(service: Any, base_url: str, state_dir: Path) -> None:
    raise RuntimeError("this hook cannot start: no listener configured")
