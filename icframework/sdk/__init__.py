"""The Python canister SDK: entry points, ``ic`` System API, types, durable storage,
HTTP gateway records, chunked uploads.

Pure Python (standard library, `icframework.core` and `icframework.candid` only): it
runs inside the canister's WebAssembly CPython and, unchanged, in plain CPython for
unit tests, where a `LocalBackend` stands in for the replica. See docs/sdk.md.
"""

from icframework.core import Principal
from icframework.sdk import http, ic, vetkd
from icframework.sdk.backend import Backend, LocalBackend, current_backend, set_backend
from icframework.sdk.calls import Call, Service
from icframework.sdk.dispatch import Canister, Rejected, Reply, dispatch, load_canister
from icframework.sdk.errors import (
    CallError,
    CallRejected,
    CanisterError,
    DoesNotExist,
    IntegrityError,
    ModelError,
    MultipleObjectsReturned,
    RegistrationError,
    Reject,
    ReplyDecodeError,
    SdkError,
    StorageError,
    TimerError,
    Trapped,
    TypeHintError,
)
from icframework.sdk.http import HttpRequest, HttpResponse
from icframework.sdk.interface import did_file, service_did
from icframework.sdk.local import InFlight, LocalCanister
from icframework.sdk.methods import (
    heartbeat,
    init,
    inspect_message,
    post_upgrade,
    pre_upgrade,
    query,
    update,
)
from icframework.sdk.models import Field, Model, Page
from icframework.sdk.stable import StableBTreeMap, StableCell, StableVec
from icframework.sdk.timers import clear_timer, set_timer, set_timer_interval
from icframework.sdk.types import (
    FuncRef,
    candid_type_of,
    float32,
    float64,
    func_type,
    int8,
    int16,
    int32,
    int64,
    nat,
    nat8,
    nat16,
    nat32,
    nat64,
    variant,
)
from icframework.sdk.uploads import ChunkedUploads

__all__ = [
    "Backend",
    "Call",
    "CallError",
    "CallRejected",
    "Canister",
    "CanisterError",
    "ChunkedUploads",
    "DoesNotExist",
    "Field",
    "FuncRef",
    "HttpRequest",
    "HttpResponse",
    "InFlight",
    "IntegrityError",
    "LocalBackend",
    "LocalCanister",
    "Model",
    "ModelError",
    "MultipleObjectsReturned",
    "Page",
    "Principal",
    "RegistrationError",
    "Reject",
    "Rejected",
    "Reply",
    "ReplyDecodeError",
    "SdkError",
    "Service",
    "StableBTreeMap",
    "StableCell",
    "StableVec",
    "StorageError",
    "TimerError",
    "Trapped",
    "TypeHintError",
    "candid_type_of",
    "clear_timer",
    "current_backend",
    "did_file",
    "dispatch",
    "float32",
    "float64",
    "func_type",
    "heartbeat",
    "http",
    "ic",
    "init",
    "inspect_message",
    "int8",
    "int16",
    "int32",
    "int64",
    "load_canister",
    "nat",
    "nat8",
    "nat16",
    "nat32",
    "nat64",
    "post_upgrade",
    "pre_upgrade",
    "query",
    "service_did",
    "set_backend",
    "set_timer",
    "set_timer_interval",
    "update",
    "variant",
    "vetkd",
]
