"""Layer 3: the Python agent, a client of the IC HTTP interface (blocking and asyncio).

* `Agent` / `AsyncAgent` — status, query, update (v3 call with read_state polling),
  read_state, with certificates and query node signatures verified.
* `Actor` — a canister's methods as Python methods, typed by its Candid interface.
* `ManagementCanister` / `AsyncManagementCanister` — typed calls to ``aaaaa-aa``.
* `IdentityStore` — named identities on disk, compatible with dfx.

Never imports Django, the replica or the compiler: it talks to any replica over HTTP.
"""

from icframework.agent.actor import Actor
from icframework.agent.client import (
    DEFAULT_URL,
    IC_ROOT_KEY,
    MAINNET_URL,
    Agent,
    AsyncAgent,
    PollingStrategy,
    RequestStatus,
    request_status_from_certificate,
)
from icframework.agent.errors import (
    AgentError,
    CertificateVerificationError,
    HttpError,
    RejectError,
    RequestStatusError,
    ResponseFormatError,
)
from icframework.agent.identities import (
    IdentityInfo,
    IdentityStore,
    IdentityStoreError,
    get_identity,
)
from icframework.agent.management import (
    MANAGEMENT_CANISTER,
    AsyncManagementCanister,
    CanisterSettings,
    CanisterStatus,
    ManagementCanister,
)

__all__ = [
    "DEFAULT_URL",
    "IC_ROOT_KEY",
    "MAINNET_URL",
    "MANAGEMENT_CANISTER",
    "Actor",
    "Agent",
    "AgentError",
    "AsyncAgent",
    "AsyncManagementCanister",
    "CanisterSettings",
    "CanisterStatus",
    "CertificateVerificationError",
    "HttpError",
    "IdentityInfo",
    "IdentityStore",
    "IdentityStoreError",
    "ManagementCanister",
    "PollingStrategy",
    "RejectError",
    "RequestStatus",
    "RequestStatusError",
    "ResponseFormatError",
    "get_identity",
    "request_status_from_certificate",
]
