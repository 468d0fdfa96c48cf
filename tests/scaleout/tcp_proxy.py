"""A small real TCP proxy for fault tests: processes reach a service (Redis, RabbitMQ)
through it, and the test cuts their connections.

`TcpProxy(upstream_host, upstream_port)` listens on 127.0.0.1 (``port``; ``url(url)``
rewrites a service URL to go through it) and copies bytes both ways on a thread per
direction. ``cut()`` closes every open connection at once (both ends see the peer go
away, as when a network path or the service restarts); ``block()`` also makes new
connections fail until ``restore()``; ``close()`` stops it. ``connections`` counts
the connections taken so far (a test checks that its clients came back).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit

__all__ = ["TcpProxy"]


class TcpProxy:
    """A TCP proxy to ``upstream`` whose connections a test can cut (see the module)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._blocked = False
        self._closed = False
        self.connections = 0
        self.cuts = 0
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()

    @classmethod
    def to(cls, url: str, default_port: int) -> TcpProxy:
        """A proxy to the host and port of service ``url``."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or default_port)

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by this proxy's."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@" if credentials else ""
        return parts._replace(netloc=f"{netloc}127.0.0.1:{self.port}").geturl()

    def cut(self) -> int:
        """Close every open connection (both sides); the number of sockets closed."""
        with self._lock:
            sockets, self._open = self._open, set()
            self.cuts += 1
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        return len(sockets)

    def block(self) -> None:
        """Cut, and refuse new connections (accept and close them) until `restore`."""
        with self._lock:
            self._blocked = True
        self.cut()

    def restore(self) -> None:
        with self._lock:
            self._blocked = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._listener.close()
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self._listener.accept()
            except OSError:  # the listener closed
                return
            with self._lock:
                refuse = self._blocked or self._closed
            if refuse:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with self._lock:
                self._open.discard(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
