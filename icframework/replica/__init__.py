"""The bundled replica's public face: what the rest of the project may use.

Everything outside ``icframework/replica/`` (the HTTP adapters in ``config``, the
pages, the demo, the dashboard, the channels glue, the management commands and the
apps) imports from here and nowhere deeper; ``tests/test_layers.py`` enforces it.
Tests and benchmarks of the replica's internals are the exception.

* **The replica**: `Replica` (one subnet in this process, driven from Python),
  `ReplicaService` with `start_service` / `get_service` / `stop_service` (the replica
  of a server process: one thread runs its rounds and the work queued for it with
  `ReplicaService.run` / `call`; `submit_and_wait` gives a `CallOutcome`).
* **The IC HTTP interface**: `ApiApplication`, the ASGI application serving ``/api/``
  in front of Django; its requests as the canister WebSocket makes them,
  `submit_call_body` (submit, and for v3 wait for the certified outcome) and
  `query_body` (a signed query answer); and `error_status`, the one mapping of errors
  to HTTP statuses.
* **Modules**: `pack_python_module`, `load_canister_module`, `CanisterModule`, and the
  Python runtime's loader (`set_runtime_loader`, `shared_runtime`).
* **State seen from outside**: `CanisterState`, `CanisterChange`, `CanisterEvent`.
* **Keys kept in a state directory**: the admin identity (`admin_identity`,
  `admin_pem_path`), any other kept key (`kept_identity`), `write_private`.
* **Web glue**: `RequestLimits` (ASGI limits), `GatewayMiddleware`, `canister_origin`.
* **Errors**: `ReplicaError` and its subclasses.
* **What a scale-out deployment builds on** (``icframework.scaleout``: subnets run as
  processes over PostgreSQL and a broker): `SubnetDriver` (a writer runs its subnet's
  rounds, streams and request statuses itself), the registry (`Registry`,
  `MemoryRegistry`, `PostgresRegistry`, `RoutingTable`, `SubnetRecord`, `CanisterRange`,
  `subnet_range`), the stores and their changes (`PostgresStateStore`,
  `MemoryStateStore`, `RoundChanges`, `KV_MODULES`, `kv_namespace`,
  `canister_namespaces`), the writer's lease
  (`WriterLease`, `LeaseLost`), `SubnetIdentity` and `SubnetConfig`, XNet slices
  (`StreamSlice`, `StreamGapError`, `XNetError`), and the HTTP interface's steps a
  writer and a front end run apart (`decode_envelope`, `submit_call`,
  `non_replicated_rejection`, `call_certificate`, `cbor_response`, `ApiResponse`,
  `forward_call`, `ReplicaReader`, `CALL_WAIT_SECONDS`, `GatewayError`).

The PostgreSQL pieces of a scale-out deployment (`PostgresStateStore`, `LeaseLost`,
`WriterLease`, `PostgresRegistry`) load on first use, so importing the replica does not
load psycopg.
"""

import importlib
from typing import TYPE_CHECKING, Any

from icframework.replica.admin import (
    admin_identity,
    admin_pem_path,
    kept_identity,
    write_private,
)
from icframework.replica.asgi_limits import RequestLimits
from icframework.replica.canisters import KV_MODULES, canister_namespaces, kv_namespace
from icframework.replica.certification import SubnetIdentity
from icframework.replica.driver import SubnetDriver
from icframework.replica.embedded import Replica
from icframework.replica.errors import (
    CanisterError,
    InvalidModuleError,
    MemoryAccessError,
    ReplicaError,
    StateStoreError,
)
from icframework.replica.execution.component import set_runtime_loader, shared_runtime
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.wasm_module import CanisterModule, load_canister_module
from icframework.replica.gateway import GatewayError
from icframework.replica.gateway_middleware import (
    GatewayMiddleware,
    canister_origin,
    set_gateway_backend,
)
from icframework.replica.http.asgi import (
    CALL_WAIT_SECONDS,
    ApiApplication,
    ApiBackend,
    ReplicaReader,
    api_backend,
    forward_call,
    query_body,
    set_api_backend,
    submit_call_body,
)
from icframework.replica.http.endpoints import (
    ApiResponse,
    call_certificate,
    cbor_response,
    non_replicated_rejection,
    submit_call,
)
from icframework.replica.http.errors import HttpError, error_status
from icframework.replica.http.validation import decode_envelope
from icframework.replica.registry import (
    CanisterRange,
    MemoryRegistry,
    Registry,
    RegistryError,
    RoutingTable,
    SubnetRecord,
    subnet_range,
)
from icframework.replica.service import (
    CallOutcome,
    ReplicaService,
    get_service,
    start_service,
    stop_service,
)
from icframework.replica.state import CanisterChange, CanisterState, CanisterStatus, IngressState
from icframework.replica.store import MemoryStateStore, RoundChanges
from icframework.replica.subnet import CanisterEvent, SubnetConfig
from icframework.replica.xnet import StreamGapError, StreamSlice, XNetError

if TYPE_CHECKING:
    from icframework.replica.lease import WriterLease
    from icframework.replica.postgres_registry import PostgresRegistry
    from icframework.replica.postgres_store import LeaseLost, PostgresStateStore

_LOADED_ON_USE = {
    "LeaseLost": "icframework.replica.postgres_store",
    "PostgresStateStore": "icframework.replica.postgres_store",
    "PostgresRegistry": "icframework.replica.postgres_registry",
    "WriterLease": "icframework.replica.lease",
}
"""The PostgreSQL pieces, imported on first use: psycopg takes tens of milliseconds to
load, and only a scale-out deployment needs it."""


def __getattr__(name: str) -> Any:
    module = _LOADED_ON_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CALL_WAIT_SECONDS",
    "KV_MODULES",
    "ApiApplication",
    "ApiBackend",
    "ApiResponse",
    "CallOutcome",
    "CanisterChange",
    "CanisterError",
    "CanisterEvent",
    "CanisterModule",
    "CanisterRange",
    "CanisterState",
    "CanisterStatus",
    "GatewayError",
    "GatewayMiddleware",
    "HttpError",
    "IngressState",
    "InvalidModuleError",
    "LeaseLost",
    "MemoryAccessError",
    "MemoryRegistry",
    "MemoryStateStore",
    "PostgresRegistry",
    "PostgresStateStore",
    "Registry",
    "RegistryError",
    "Replica",
    "ReplicaError",
    "ReplicaReader",
    "ReplicaService",
    "RequestLimits",
    "RoundChanges",
    "RoutingTable",
    "StateStoreError",
    "StreamGapError",
    "StreamSlice",
    "SubnetConfig",
    "SubnetDriver",
    "SubnetIdentity",
    "SubnetRecord",
    "WriterLease",
    "XNetError",
    "admin_identity",
    "admin_pem_path",
    "api_backend",
    "call_certificate",
    "canister_namespaces",
    "canister_origin",
    "cbor_response",
    "decode_envelope",
    "error_status",
    "forward_call",
    "get_service",
    "kept_identity",
    "kv_namespace",
    "load_canister_module",
    "non_replicated_rejection",
    "pack_python_module",
    "query_body",
    "set_api_backend",
    "set_gateway_backend",
    "set_runtime_loader",
    "shared_runtime",
    "start_service",
    "stop_service",
    "submit_call",
    "submit_call_body",
    "subnet_range",
    "write_private",
]
