"""The scale-out deployment: subnets as Celery workers over a broker, state in PostgreSQL.

Its public face (everything outside this package imports these names only):

* **Configuration**: `ClusterConfig` (``ICFRAMEWORK_DATABASE_URL``, ``_BROKER_URL``,
  ``_REDIS_URL``), the Redis names `answers_channel`, `height_key`, `rounds_channel`
  and the Celery queue of a subnet, `queue_name`.
* **Celery**: `app` (configured by `configure_celery`), `send_submit` and `send_xnet`
  (the ``icframework.subnet.submit`` / ``.xnet`` tasks on a subnet's queue).
* **Subnet keys** (``ic_subnet_keys``): `SubnetKeys`, `ensure_keys`, `load_keys`.
* **Bootstrap**: `init_cluster`, `cluster_status`, `SubnetStatus`, `writer_identity`
  (record, keys and `SubnetIdentity` of a subnet), `migrate_canister`.
* **The writer**: `SubnetWriter` (``manage.py runsubnet``), `EXIT_LEASE_LOST`.
* **XNet over the broker**: `SlicePusher`, `encode_slice`, `decode_slice`.
* **Errors**: `ScaleoutError` and its subclasses `ConfigError`, `KeysError`,
  `BootstrapError`.
"""

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
from icframework.scaleout.keys import KeysError, SubnetKeys, ensure_keys, load_keys
from icframework.scaleout.writer import EXIT_LEASE_LOST, SubnetWriter
from icframework.scaleout.xnet_transport import SlicePusher, decode_slice, encode_slice

__all__ = [
    "EXIT_LEASE_LOST",
    "BootstrapError",
    "ClusterConfig",
    "ConfigError",
    "KeysError",
    "ScaleoutError",
    "SlicePusher",
    "SubnetKeys",
    "SubnetStatus",
    "SubnetWriter",
    "answers_channel",
    "app",
    "cluster_status",
    "configure_celery",
    "decode_slice",
    "encode_slice",
    "ensure_keys",
    "height_key",
    "init_cluster",
    "load_keys",
    "migrate_canister",
    "queue_name",
    "rounds_channel",
    "send_submit",
    "send_xnet",
    "writer_identity",
]
