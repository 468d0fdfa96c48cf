"""The demo faucet's rules: who may claim test tokens (a signed call) and how often.

How it works: the page signs an IC call envelope, as @dfinity/agent does, for a notional
``faucet`` method on the token ledger, and POSTs it as ``application/cbor`` (a content
type a cross-site page cannot send without a CORS preflight, which this server never
grants). `verify_claim` checks it with `icframework.protocol.decode_request` (CBOR
shape, sender against ``sender_pubkey``, signature, delegation chain, ingress expiry)
and refuses the anonymous principal, so a claim pays only the principal whose key
signed it. `ClaimBook` then keeps the claims in an SQLite file in the replica's state
directory (so the limits outlive restarts) and admits a claim only within
`CLAIMS_PER_PRINCIPAL` per principal per `PRINCIPAL_WINDOW_NS` and `GLOBAL_CLAIMS` for
everyone per `GLOBAL_WINDOW_NS`, and only once per signed envelope (request id).
Every refusal is a `FaucetError` carrying its HTTP status and a message that says why
and what to do.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from icframework.core import Principal
from icframework.protocol import AuthenticationError, CallContent, ProtocolError, decode_request

__all__ = [
    "CLAIMS_PER_PRINCIPAL",
    "CLAIM_CONTENT_TYPE",
    "FAUCET_METHOD",
    "GLOBAL_CLAIMS",
    "GLOBAL_WINDOW_NS",
    "MAX_CLAIM_BYTES",
    "PRINCIPAL_WINDOW_NS",
    "Claim",
    "ClaimBook",
    "FaucetError",
    "verify_claim",
]

NANOS_PER_SECOND = 1_000_000_000
CLAIMS_PER_PRINCIPAL = 3
PRINCIPAL_WINDOW_NS = 24 * 3600 * NANOS_PER_SECOND
GLOBAL_CLAIMS = 30
GLOBAL_WINDOW_NS = 60 * NANOS_PER_SECOND
MAX_CLAIM_BYTES = 4096  # a signed envelope with a P-256 or Ed25519 key is about 300 bytes
CLAIM_CONTENT_TYPE = "application/cbor"
FAUCET_METHOD = "faucet"
DB_NAME = "faucet_claims.sqlite3"


class FaucetError(Exception):
    """A refused claim: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, *, retry_after_seconds: int | None = None
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True, slots=True)
class Claim:
    """A verified claim: who signed it and the request id of the signed envelope."""

    principal: Principal
    request_id: bytes


def verify_claim(body: bytes, content_type: str, ledger: Principal, now_ns: int) -> Claim:
    """The claim a request body carries, checked at ``now_ns`` (nanoseconds since the
    epoch); raises `FaucetError` (415, 413, 400 or 403) naming what is wrong."""
    if content_type != CLAIM_CONTENT_TYPE:
        raise FaucetError(
            415, f"the faucet takes a signed call envelope as {CLAIM_CONTENT_TYPE}, not "
            f"{content_type or 'a body without a content type'}: use the page's button "
            "(it signs a faucet call with your key)")
    if len(body) > MAX_CLAIM_BYTES:
        raise FaucetError(413, f"a claim is at most {MAX_CLAIM_BYTES} bytes, not {len(body)}")
    try:
        envelope = decode_request(body, now_ns=now_ns)
    except AuthenticationError as exc:
        raise FaucetError(403, f"the claim's signature does not check out: {exc}") from exc
    except ProtocolError as exc:
        raise FaucetError(400, f"the claim is not a valid signed call envelope: {exc}") from exc
    content = envelope.content
    if not isinstance(content, CallContent):
        raise FaucetError(400, f"the claim must be a call envelope, not {content.request_type}")
    if content.canister_id != ledger or content.method_name != FAUCET_METHOD:
        raise FaucetError(
            400, f"the claim signs {content.method_name!r} on canister {content.canister_id}; "
            f"sign {FAUCET_METHOD!r} on the token ledger {ledger}")
    if content.sender.is_anonymous:
        raise FaucetError(
            403, "the anonymous principal (2vxsx-fae) gets no tokens: sign the claim with "
            "your own key")
    return Claim(content.sender, envelope.request_id)


class ClaimBook:
    """The claims paid, in SQLite at ``path``: per-principal and global limits, no replays.

    Limits: at most ``per_principal`` claims per principal in any ``principal_window_ns``
    and ``global_claims`` claims in any ``global_window_ns`` (both in nanoseconds).
    """

    def __init__(self, path: Path, *, per_principal: int = CLAIMS_PER_PRINCIPAL,
                 principal_window_ns: int = PRINCIPAL_WINDOW_NS,
                 global_claims: int = GLOBAL_CLAIMS,
                 global_window_ns: int = GLOBAL_WINDOW_NS) -> None:
        self.path = path
        self.per_principal = per_principal
        self.principal_window_ns = principal_window_ns
        self.global_claims = global_claims
        self.global_window_ns = global_window_ns
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS claims (request_id BLOB PRIMARY KEY, "
                       "principal TEXT NOT NULL, at_ns INTEGER NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS claims_by_principal "
                       "ON claims (principal, at_ns)")
            db.execute("CREATE INDEX IF NOT EXISTS claims_by_time ON claims (at_ns)")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    def reserve(self, claim: Claim, now_ns: int) -> None:
        """Count ``claim`` as paid at ``now_ns`` if the limits allow it; otherwise raise
        `FaucetError` (409 for a replayed envelope, 429 with a retry time for a limit)."""
        principal = claim.principal.to_text()
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                self._check(db, claim, principal, now_ns)
                db.execute("INSERT INTO claims VALUES (?, ?, ?)",
                           (claim.request_id, principal, now_ns))
                oldest = now_ns - max(self.principal_window_ns, self.global_window_ns)
                db.execute("DELETE FROM claims WHERE at_ns <= ?", (oldest,))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _check(self, db: sqlite3.Connection, claim: Claim, principal: str, now_ns: int) -> None:
        if db.execute("SELECT 1 FROM claims WHERE request_id = ?",
                      (claim.request_id,)).fetchone():
            raise FaucetError(409, "this signed claim was already paid; press the button "
                                   "again to sign a new one")
        since = now_ns - self.principal_window_ns
        mine = [at for (at,) in db.execute(
            "SELECT at_ns FROM claims WHERE principal = ? AND at_ns > ? ORDER BY at_ns",
            (principal, since))]
        if len(mine) >= self.per_principal:
            wait = _seconds_until(mine[-self.per_principal] + self.principal_window_ns, now_ns)
            raise FaucetError(
                429, f"principal {principal} has had its {self.per_principal} claims in the "
                f"last {_span(self.principal_window_ns)}; try again in {_span_s(wait)}",
                retry_after_seconds=wait)
        recent = [at for (at,) in db.execute(
            "SELECT at_ns FROM claims WHERE at_ns > ? ORDER BY at_ns",
            (now_ns - self.global_window_ns,))]
        if len(recent) >= self.global_claims:
            wait = _seconds_until(recent[-self.global_claims] + self.global_window_ns, now_ns)
            raise FaucetError(
                429, f"the faucet pays at most {self.global_claims} claims in "
                f"{_span(self.global_window_ns)}; try again in {_span_s(wait)}",
                retry_after_seconds=wait)

    def release(self, claim: Claim) -> None:
        """Forget a reserved claim whose payment failed, so it does not count."""
        with self._lock, self._connect() as db:
            db.execute("DELETE FROM claims WHERE request_id = ?", (claim.request_id,))

    def count(self, principal: Principal) -> int:
        """The claims of ``principal`` on record (within the longest window)."""
        with self._connect() as db:
            (found,) = db.execute("SELECT COUNT(*) FROM claims WHERE principal = ?",
                                  (principal.to_text(),)).fetchone()
        return int(found)


def _seconds_until(at_ns: int, now_ns: int) -> int:
    return max(1, -(-(at_ns - now_ns) // NANOS_PER_SECOND))


def _span(ns: int) -> str:
    return _span_s(ns // NANOS_PER_SECOND)


def _span_s(seconds: int) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    return f"{seconds} s"
