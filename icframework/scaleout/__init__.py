"""The scale-out deployment: subnets as Celery workers over a broker, state in PostgreSQL.

Its public face (everything outside this package imports these names only):

* **Configuration**: `ClusterConfig` (``ICFRAMEWORK_DATABASE_URL``, ``_BROKER_URL``,
  ``_REDIS_URL``), the Redis names `answers_channel`, `height_key`, `rounds_channel`
  and the Celery queue of a subnet, `queue_name`.
* **Celery**: `app` (configured by `configure_celery`), `send_submit` and `send_xnet`
  (the ``icframework.subnet.submit`` / ``.xnet`` tasks on a subnet's queue).
* **Subnet keys** (``ic_subnet_keys``): `SubnetKeys`, `ensure_keys`, `load_keys`.
* **Bootstrap**: `init_cluster`, `cluster_status`, `SubnetStatus`, `writer_identity`
  (record, keys and `SubnetIdentity` of a subnet), `migrate_canister` (stopped
  subnets); `migrate_online` and `MIGRATE_TIMEOUT_S` (running ones, `migration`).
* **The writer**: `SubnetWriter` (``manage.py runsubnet``), `EXIT_LEASE_LOST`.
* **XNet over the broker**: `SlicePusher`, `encode_slice`, `decode_slice`.
* **Front ends** (``manage.py runfrontend``): `FrontendBackend` / `serve_frontend_backend`
  (the IC HTTP interface routed by the registry), `ReadOnlyCopy` (a subnet's state for
  reads, refreshed every `REFRESH_MS`), `Answers` (call answers over Redis),
  `GatewayCanisters` (the HTTP gateway's canister backend on a front end).
* **Events across processes**: `publish_round_events` (the writer's event listener),
  `EventPublisher`, `channel_layers_setting` (``CHANNEL_LAYERS`` on Redis).
* **Errors**: `ScaleoutError` and its subclasses `ConfigError`, `KeysError`,
  `BootstrapError`.
"""

from icframework.scaleout.answers import Answers, AnswersError
from icframework.scaleout.bootstrap import (
    BootstrapError,
    SubnetStatus,
    cluster_status,
    init_cluster,
    migrate_canister,
    writer_identity,
)
from icframework.scaleout.celery import app, send_submit, send_xnet
from icframework.scaleout.celery import configure as configure_celery
from icframework.scaleout.config import (
    ClusterConfig,
    ConfigError,
    ScaleoutError,
    answers_channel,
    height_key,
    queue_name,
    rounds_channel,
)
from icframework.scaleout.copies import REFRESH_MS, CopyError, ReadOnlyCopy
from icframework.scaleout.events_bridge import (
    EventPublisher,
    channel_layers_setting,
    publish_round_events,
)
from icframework.scaleout.frontend import (
    FrontendBackend,
    GatewayCanisters,
    serve_frontend_backend,
)
from icframework.scaleout.keys import KeysError, SubnetKeys, ensure_keys, load_keys
from icframework.scaleout.migration import MIGRATE_TIMEOUT_S, migrate_online
from icframework.scaleout.writer import EXIT_LEASE_LOST, SubnetWriter
from icframework.scaleout.xnet_transport import SlicePusher, decode_slice, encode_slice

__all__ = [
    "EXIT_LEASE_LOST",
    "MIGRATE_TIMEOUT_S",
    "REFRESH_MS",
    "Answers",
    "AnswersError",
    "BootstrapError",
    "ClusterConfig",
    "ConfigError",
    "CopyError",
    "EventPublisher",
    "FrontendBackend",
    "GatewayCanisters",
    "KeysError",
    "ReadOnlyCopy",
    "ScaleoutError",
    "SlicePusher",
    "SubnetKeys",
    "SubnetStatus",
    "SubnetWriter",
    "answers_channel",
    "app",
    "channel_layers_setting",
    "cluster_status",
    "configure_celery",
    "decode_slice",
    "encode_slice",
    "ensure_keys",
    "height_key",
    "init_cluster",
    "load_keys",
    "migrate_canister",
    "migrate_online",
    "publish_round_events",
    "queue_name",
    "rounds_channel",
    "send_submit",
    "send_xnet",
    "serve_frontend_backend",
    "writer_identity",
]
