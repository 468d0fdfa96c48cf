"""The HTTP interface's error type and the one place exceptions become HTTP statuses.

The ``/api/`` application raises `HttpError` for what the IC answers with a plain-text
4xx/5xx body; the HTTP gateway raises `GatewayError` (which carries its status too);
`icframework.protocol` raises `ProtocolError` for malformed, expired or wrongly signed
requests. `error_status` maps all of them (and any other `ReplicaError`) to a status
code and a readable text body, for the ``/api/`` application, the gateway middleware and
the canister WebSocket alike. Canister rejects are not errors here: they become CBOR
reject bodies (see `endpoints`).
"""

from __future__ import annotations

from icframework.protocol import ProtocolError
from icframework.replica.errors import ReplicaError
from icframework.replica.gateway import GatewayError

BAD_REQUEST = 400
FORBIDDEN = 403
NOT_FOUND = 404
METHOD_NOT_ALLOWED = 405
PAYLOAD_TOO_LARGE = 413
INTERNAL_SERVER_ERROR = 500
SERVICE_UNAVAILABLE = 503


class HttpError(ReplicaError):
    """A request the HTTP interface refuses with ``status`` and the text ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_status(exc: Exception) -> tuple[int, str]:
    """The HTTP status and text body for ``exc``.

    `HttpError` and `GatewayError` carry their own status. Every `ProtocolError` (malformed CBOR or
    envelope, ``Invalid request expiry: …``, bad signature, sender or delegation) is a
    400, as the IC's current replica answers. Other replica errors are 500s.
    """
    if isinstance(exc, HttpError | GatewayError):
        return exc.status, exc.message
    if isinstance(exc, ProtocolError):
        return BAD_REQUEST, str(exc)
    return INTERNAL_SERVER_ERROR, f"Internal error of the replica: {exc}"
