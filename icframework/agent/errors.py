"""The exception hierarchy of `icframework.agent`: every failure is an `AgentError`."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error raised by `icframework.agent`."""


class HttpError(AgentError):
    """The replica answered with an unexpected HTTP status; ``body`` is its text (decoded)."""

    def __init__(self, status: int, body: str, *, url: str = "") -> None:
        self.status = status
        self.body = body
        self.url = url
        where = f" from {url}" if url else ""
        shown = body if len(body) <= 500 else body[:500] + "…"
        super().__init__(f"HTTP {status}{where}: {shown or '(empty body)'}")


class RejectError(AgentError):
    """A call or query was rejected (by the canister, the replica or the system).

    ``reject_code`` is the protocol's reject class (1–6), ``error_code`` the IC's
    ``IC0xxx`` text when the replica sent one, and ``certified`` whether the reject came
    from a verified certificate (an update's final status) rather than an uncertified
    reply (queries, non-replicated rejections).
    """

    def __init__(
        self,
        reject_code: int,
        reject_message: str,
        error_code: str | None = None,
        *,
        canister_id: str = "",
        method: str = "",
        certified: bool = False,
    ) -> None:
        self.reject_code = reject_code
        self.reject_message = reject_message
        self.error_code = error_code
        self.canister_id = canister_id
        self.method = method
        self.certified = certified
        target = f"{canister_id}.{method}: " if canister_id and method else ""
        code = f", {error_code}" if error_code else ""
        super().__init__(f"{target}rejected (reject code {reject_code}{code}): {reject_message}")


class CertificateVerificationError(AgentError):
    """A certificate or a query's node signature failed verification, or was stale."""


class RequestStatusError(AgentError):
    """Polling a request's status ended without a reply: ``done`` (reply gone) or timed out."""


class ResponseFormatError(AgentError):
    """The replica's response body is not what the HTTP interface specifies."""
