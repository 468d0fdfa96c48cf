"""The one accessor for framework settings: ``settings.ICFRAMEWORK`` merged over defaults.

Read lazily (call `get_setting` when the value is needed, never at import time), so
tests and commands can override settings before first use.

Defaults:

``STATE_DIR``
    Directory holding the replica's state (SQLite files, keys). Default ``.replica``
    under the project root.

``NETWORK``
    The replica the commands (``deploy``, ``canister``, ``call``, ``chat``, ...) talk to
    when neither ``--network`` nor the ``ICFRAMEWORK_NETWORK`` environment variable
    says: a URL, ``local`` (``http://127.0.0.1:4943``, where ``runreplica`` listens by
    default) or ``ic`` (mainnet). Default ``local``. See `icframework.deployments`.

``DEMO_SEEDERS``
    Dotted paths of the callables ``manage.py runreplica --demo`` runs before serving,
    in order: ``seeder(replica, base_url, state_dir, progress=...) -> list[str]`` (the
    lines to print). Default: none; the project settings name the reference apps'.

``MAX_CONCURRENT_REQUESTS``
    HTTP requests ``manage.py runreplica`` serves at once; past it a request waits for a
    place (`icframework.replica.asgi_limits`). Default 128.

``REQUEST_QUEUE_SECONDS``
    How long a request past ``MAX_CONCURRENT_REQUESTS`` waits for a place before it is
    answered 503 with ``Retry-After: 1``. Default 1.0.

``MAX_WEBSOCKETS``
    WebSockets open at once; past it an upgrade is answered 503 with ``Retry-After``.
    Default 1000.

``SOCKET_EVENT_BUFFER``
    Events a canister socket may fall behind before it is closed with a ``resync``
    frame and code 4410 (docs/events.md): the size of each socket's outbox. Queued
    frames are shared by every socket of the topic, so a full outbox holds references,
    not copies. Default 1000.

``GATEWAY_MAX_REQUEST_BYTES``
    Largest request body (bytes) the HTTP gateway accepts for a canister's
    ``http_request``; a larger one is answered 413 before it is read. Default 2 MiB
    (``/api/`` is fixed at 2 MiB, the IC's ingress limit).

``PAGE_MAX_REQUEST_BYTES``
    Largest request body (bytes) of every other request (app pages, dashboard, static
    files). Default 64 KiB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    "STATE_DIR": ".replica",
    "NETWORK": "local",
    "DEMO_SEEDERS": [],
    "MAX_CONCURRENT_REQUESTS": 128,
    "REQUEST_QUEUE_SECONDS": 1.0,
    "MAX_WEBSOCKETS": 1000,
    "SOCKET_EVENT_BUFFER": 1000,
    "GATEWAY_MAX_REQUEST_BYTES": 2 * 1024 * 1024,
    "PAGE_MAX_REQUEST_BYTES": 64 * 1024,
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
