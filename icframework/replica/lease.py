"""The writer lease: at most one process writes a subnet's state, and a standby takes over.

A `WriterLease` is one row of ``ic_leases`` (created with the state store's tables, see
``postgres_store.py``): the subnet, the holder's name, the *epoch* and the expiry time.
Every acquisition increments the epoch; the epoch is the fencing token the writer
hands to its `PostgresStateStore` (``epoch=lease.epoch``), whose commits check it in
their own transaction. So even a writer that was paused (GC, swapped out, a network
partition) past its lease and then resumes cannot commit: the standby's acquisition
moved the epoch and the old writer's next commit raises `LeaseLost`.

- `acquire` takes the lease when nobody holds it, when the holder released it, when
  its time to live ran out without a renewal, or when the row names this same holder
  (a restarted process with the same name fences its previous incarnation). All
  times are the database's clock, so the machines' clocks need not agree.
- `renew` extends the lease by ``ttl_s``; it raises `LeaseLost` if the epoch moved. A
  lease whose time ran out but that nobody took is still this holder's: renewing it
  succeeds, and its commits were never refused (the epoch is the authority, expiry
  only allows a takeover). `keep_renewed` renews from a daemon thread.
- `release` gives the lease up at once (the standby need not wait for the expiry).

Holder names should be unique per process (e.g. ``host:pid``); ``ttl_s`` should be a
few renewal intervals (renew every ``ttl_s / 3``). A writer whose store raised `LeaseLost`
calls `release` (which then touches nothing: the row is the new holder's) and, to stand
by again, `acquire`.

Typical writer::

    lease = WriterLease(url, "app1", f"{socket.gethostname()}:{os.getpid()}", ttl_s=10)
    lease.acquire()                      # blocks while another writer holds it
    lease.keep_renewed(on_lost=stop_the_subnet)
    store = PostgresStateStore(url, "app1", epoch=lease.epoch)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, LiteralString

import psycopg

from icframework.replica.errors import StateStoreError
from icframework.replica.postgres_store import LeaseLost, connect, describe_url
from icframework.replica.registry import check_subnet_name

__all__ = ["LeaseLost", "WriterLease"]

_ACQUIRE: LiteralString = """
INSERT INTO ic_leases AS l (subnet, holder, epoch, expires_at)
VALUES (%(subnet)s, %(holder)s, 1, clock_timestamp() + %(ttl)s * interval '1 second')
ON CONFLICT (subnet) DO UPDATE
SET holder = excluded.holder, epoch = l.epoch + 1, expires_at = excluded.expires_at
WHERE l.holder IS NULL OR l.holder = excluded.holder OR l.expires_at <= clock_timestamp()
RETURNING epoch
"""


class WriterLease:
    """The writer lease of subnet ``subnet`` in the database at ``url``, for ``holder``.

    Not held until `acquire` returns True; ``epoch`` is then the fencing token (None
    while not held). One object per holder; its methods are safe to call from threads.
    """

    def __init__(self, url: str, subnet: str, holder: str, ttl_s: float) -> None:
        self.subnet = check_subnet_name(subnet)
        if not isinstance(holder, str) or not holder:
            raise StateStoreError(f"lease holder {holder!r} is invalid; name it, e.g. 'host:pid'")
        if not ttl_s > 0:
            raise StateStoreError(f"lease ttl_s is {ttl_s!r}; expected seconds > 0")
        self.holder = holder
        self.ttl_s = float(ttl_s)
        self.epoch: int | None = None
        self._where = f"the writer lease of subnet {subnet!r} at {describe_url(url)}"
        self._url = url
        self._mutex = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = connect(url, self._where)
        self._renewer: threading.Thread | None = None
        self._stop_renewing = threading.Event()

    @property
    def held(self) -> bool:
        """Whether this object acquired the lease and has not released or lost it."""
        return self.epoch is not None

    def _execute(self, query: LiteralString, params: dict[str, object]) -> tuple[Any, ...] | None:
        with self._mutex:
            if self._conn is None:
                raise StateStoreError(f"{self._where} is closed")
            if self._conn.broken or self._conn.closed:  # the database restarted: reconnect
                self._conn.close()
                self._conn = connect(self._url, self._where)
            try:
                return self._conn.execute(query, params).fetchone()
            except psycopg.Error as exc:
                raise StateStoreError(f"cannot reach {self._where}: {exc}") from exc

    def try_acquire(self) -> bool:
        """Take the lease if it is free, released, expired or already ours; one attempt."""
        if self.held:
            raise StateStoreError(
                f"{self._where} is already held by {self.holder!r} (epoch {self.epoch}); "
                "renew it instead of acquiring it again"
            )
        row = self._execute(
            _ACQUIRE, {"subnet": self.subnet, "holder": self.holder, "ttl": self.ttl_s}
        )
        if row is None:
            return False
        self.epoch = int(row[0])
        return True

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lease; return whether it was taken (as `threading.Lock.acquire`).

        Blocking, retry every ``min(ttl_s / 4, 0.5)`` s until taken or ``timeout``
        seconds passed (forever when None). On success ``epoch`` is the new fencing token.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = min(self.ttl_s / 4, 0.5)
        while True:
            if self.try_acquire():
                return True
            if not blocking:
                return False
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                time.sleep(min(pause, left))
            else:
                time.sleep(pause)

    def renew(self) -> None:
        """Extend the lease by ``ttl_s`` from now; raise `LeaseLost` if another took it."""
        epoch = self._require_held("renew")
        row = self._execute(
            "UPDATE ic_leases SET expires_at = clock_timestamp() + %(ttl)s * interval '1 second' "
            "WHERE subnet = %(subnet)s AND holder = %(holder)s AND epoch = %(epoch)s "
            "RETURNING epoch",
            {"subnet": self.subnet, "holder": self.holder, "epoch": epoch, "ttl": self.ttl_s},
        )
        if row is None:
            self.epoch = None
            raise LeaseLost(
                f"{self._where} was taken from {self.holder!r} after epoch {epoch}; "
                "this writer must stop"
            )

    def release(self) -> None:
        """Give the lease up now; a no-op if not held or already taken by another."""
        self._stop_renewer()
        epoch, self.epoch = self.epoch, None
        if epoch is None:
            return
        self._execute(
            "UPDATE ic_leases SET holder = NULL, expires_at = clock_timestamp() "
            "WHERE subnet = %(subnet)s AND holder = %(holder)s AND epoch = %(epoch)s "
            "RETURNING epoch",
            {"subnet": self.subnet, "holder": self.holder, "epoch": epoch},
        )

    def keep_renewed(
        self, interval_s: float | None = None, on_lost: Callable[[Exception], None] | None = None
    ) -> None:
        """Renew every ``interval_s`` (default ``ttl_s / 3``) from a daemon thread.

        The thread stops at `release`/`close`, or after the first failure, which it passes
        to ``on_lost`` (`LeaseLost`, or `StateStoreError` if the database is unreachable:
        the writer should stop committing in both cases).
        """
        self._require_held("keep_renewed")
        if self._renewer is not None:
            raise StateStoreError(f"{self._where} is already renewed by a thread")
        interval = self.ttl_s / 3 if interval_s is None else interval_s
        self._stop_renewing.clear()

        def renew_until_stopped() -> None:
            while not self._stop_renewing.wait(interval):
                try:
                    self.renew()
                except StateStoreError as exc:
                    if on_lost is not None:
                        on_lost(exc)
                    return

        self._renewer = threading.Thread(
            target=renew_until_stopped, name=f"lease-{self.subnet}", daemon=True
        )
        self._renewer.start()

    def _stop_renewer(self) -> None:
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            self._stop_renewing.set()
            if renewer is not threading.current_thread():
                renewer.join()

    def _require_held(self, action: str) -> int:
        if self.epoch is None:
            raise LeaseLost(f"cannot {action} {self._where}: {self.holder!r} does not hold it")
        return self.epoch

    def current(self) -> tuple[str | None, int, float] | None:
        """The lease row as the database has it: (holder, epoch, seconds left), or None."""
        row = self._execute(
            "SELECT holder, epoch, EXTRACT(EPOCH FROM expires_at - clock_timestamp()) "
            "FROM ic_leases WHERE subnet = %(subnet)s",
            {"subnet": self.subnet},
        )
        return None if row is None else (row[0], int(row[1]), float(row[2]))

    def close(self) -> None:
        """Release the lease (if held) and the connection; closing twice is allowed."""
        if self._conn is not None:
            try:
                self.release()
            finally:
                with self._mutex:
                    conn, self._conn = self._conn, None
                    if conn is not None:
                        conn.close()

    def __enter__(self) -> WriterLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
