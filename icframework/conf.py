"""The one accessor for framework settings: ``settings.ICFRAMEWORK`` merged over defaults.

Read lazily (call `get_setting` when the value is needed, never at import time), so
tests and commands can override settings before first use.

Defaults:

``STATE_DIR``
    Directory holding the replica's state (SQLite files, keys). Default ``.replica``
    under the project root.

``DEMO_SEEDERS``
    Dotted paths of the callables ``manage.py runreplica --demo`` runs before serving,
    in order: ``seeder(replica, base_url, state_dir, progress=...) -> list[str]`` (the
    lines to print). Default: none; the project settings name the reference apps'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "STATE_DIR": ".replica",
    "DEMO_SEEDERS": [],
}


class ConfigurationError(Exception):
    """A framework setting is missing or has the wrong type; the message names it."""


def get_setting(name: str) -> Any:
    """The value of ``ICFRAMEWORK[name]``, or its documented default."""
    from django.conf import settings

    if name not in DEFAULTS:
        known = ", ".join(sorted(DEFAULTS))
        raise ConfigurationError(f"unknown ICFRAMEWORK setting {name!r}; known: {known}")
    overrides = getattr(settings, "ICFRAMEWORK", {})
    return overrides.get(name, DEFAULTS[name])


def state_dir() -> Path:
    """The replica state directory as an absolute path (created on first use)."""
    from django.conf import settings

    path = Path(get_setting("STATE_DIR"))
    if not path.is_absolute():
        path = Path(settings.BASE_DIR) / path
    path.mkdir(parents=True, exist_ok=True)
    return path
