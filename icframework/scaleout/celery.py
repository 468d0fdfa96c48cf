"""The scale-out Celery app and the two tasks a subnet's writer executes.

``app`` takes its broker from the environment (`config.ClusterConfig`) when it is first
configured, or from `configure`. Settings: JSON only, ``acks_late`` with prefetch 1 (a
task whose worker dies is delivered again; both tasks are idempotent), a short Redis
visibility timeout (`VISIBILITY_TIMEOUT_S`) so a message taken by a killed writer is
delivered to its standby within seconds rather than an hour, and no result backend
(answers travel on Redis pub/sub, see ``writer.py``).

Tasks (queue ``subnet.<name>``, consumed only by the writer holding that subnet's lease):

- ``icframework.subnet.submit(subnet, kind, canister_id_text, body_b64)``: a signed call
  envelope (``kind`` ``"call"`` for v2, ``"call_v3"``) for the effective canister id;
- ``icframework.subnet.xnet(subnet, slice_b64)``: an XNet stream slice (CBOR of
  ``StreamSlice.to_data``), inducted exactly once by stream index.

Both hand their work to the `TaskHandler` the writer of this process registered with
`set_handler`; senders use `send_submit` / `send_xnet`.
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

from celery import Celery

from icframework.scaleout.config import ClusterConfig, ScaleoutError, queue_name

__all__ = [
    "SUBMIT_TASK",
    "VISIBILITY_TIMEOUT_S",
    "XNET_EXPIRES_S",
    "XNET_TASK",
    "TaskHandler",
    "app",
    "configure",
    "send_submit",
    "send_xnet",
    "set_handler",
]

SUBMIT_TASK = "icframework.subnet.submit"
XNET_TASK = "icframework.subnet.xnet"
VISIBILITY_TIMEOUT_S = 10
"""Seconds after which Redis hands an unacknowledged message to another consumer."""
XNET_EXPIRES_S = 30
"""An XNet slice not executed within this many seconds is discarded: its source resends
what stays unacknowledged every second, so slices for a subnet whose writer is down do
not pile up in its queue."""

app = Celery("icframework.scaleout")
_configured: ClusterConfig | None = None


def configure(config: ClusterConfig | None = None) -> Celery:
    """Point ``app`` at ``config``'s broker (default: the environment's); return it."""
    global _configured
    config = config or ClusterConfig.from_env()
    if _configured == config:
        return app
    if _configured is not None and _configured.broker_url != config.broker_url:
        # Connections and producers made for the old broker must not be reused (they
        # stay in kombu's pools, keyed by broker, for a later switch back).
        app._pool = None
        app.amqp._producer_pool = None
    app.conf.update(
        broker_url=config.broker_url,
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        worker_hijack_root_logger=False,
        task_default_queue="subnet.unrouted",
    )
    _configured = config
    return app


class TaskHandler(Protocol):
    """What executes the tasks in a writer process (`writer.SubnetWriter`)."""

    subnet_name: str

    def submit(self, kind: str, canister_id_text: str, body: bytes) -> None: ...

    def xnet(self, slice_bytes: bytes) -> None: ...


_handler: TaskHandler | None = None


def set_handler(handler: TaskHandler | None) -> None:
    """Register the writer that executes this process's tasks (None: none)."""
    global _handler
    _handler = handler


def _handler_for(subnet: str) -> TaskHandler:
    handler = _handler
    if handler is None or handler.subnet_name != subnet:
        here = "no subnet" if handler is None else f"subnet {handler.subnet_name!r}"
        raise ScaleoutError(f"a task for subnet {subnet!r} reached a worker of {here}; only "
                            f"the writer of {subnet!r} may consume queue {queue_name(subnet)}")
    return handler


@app.task(name=SUBMIT_TASK, acks_late=True)
def submit_task(subnet: str, kind: str, canister_id_text: str, body_b64: str) -> None:
    _handler_for(subnet).submit(kind, canister_id_text, base64.b64decode(body_b64))


@app.task(name=XNET_TASK, acks_late=True)
def xnet_task(subnet: str, slice_b64: str) -> None:
    _handler_for(subnet).xnet(base64.b64decode(slice_b64))


def send_submit(subnet: str, kind: str, canister_id_text: str, body: bytes) -> Any:
    """Queue a call envelope for subnet ``subnet``'s writer (``kind``: call / call_v3)."""
    if kind not in ("call", "call_v3"):
        raise ScaleoutError(f"submission kind {kind!r}: expected 'call' or 'call_v3'")
    return app.send_task(SUBMIT_TASK, args=[subnet, kind, canister_id_text,
                                            base64.b64encode(body).decode()],
                         queue=queue_name(subnet))


def send_xnet(subnet: str, slice_bytes: bytes) -> Any:
    """Queue an XNet slice (CBOR) for subnet ``subnet``'s writer."""
    return app.send_task(XNET_TASK, args=[subnet, base64.b64encode(slice_bytes).decode()],
                         queue=queue_name(subnet), expires=XNET_EXPIRES_S)
