"""Real processes of a scale-out cluster for tests: subnet writers (and front ends) as
subprocesses against PostgreSQL, the broker and Redis, and a client that submits
signed calls as Celery tasks and reads the answers from the Redis channels.

- `ClusterProcesses(tmp_path, config)`: ``init(names)`` runs ``manage.py cluster init``;
  ``start_writer(subnet, holder)`` runs ``manage.py runsubnet``; ``spawn(args, name)``
  any other ``manage.py`` command (``runfrontend``); ``close()`` (or the context
  manager) stops them all (SIGTERM, then SIGKILL after a grace period).
- `Proc`: one process with its log file; ``wait_for(text)`` until a line appears.
- `Answers`: a subscription to ``icframework:answers:<subnet>`` of some subnets.
- `Client`: signs calls as its own identity, sends them with ``send_submit`` and
  waits for their answers (certificates verified under the cluster's root key).

`counter_value(reply)` reads the count a test counter canister (``wat_wasm("counter")``)
replied. Unique subnet names per test (`unique_names`) keep tests apart on the shared Redis
and broker. Timeouts here only bound a wait for a failure; nothing asserts on time.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cbor2
import kombu
import redis

from icframework.agent import RejectError
from icframework.agent.client import request_status_from_certificate
from icframework.candid import NAT64
from icframework.candid.binary import decode, encode
from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import CallContent, sign_envelope, verify_certificate
from icframework.replica.management import (
    CREATE_RESULT,
    INSTALL_CODE_ARGS,
    PROVISIONAL_CREATE_ARGS,
)
from icframework.replica.registry import subnet_range
from icframework.scaleout import (
    ClusterConfig,
    answers_channel,
    configure_celery,
    queue_name,
    send_submit,
)
from icframework.scaleout.bootstrap import root_key_der

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
"""The longest any helper waits for something that should happen (a failure guard)."""


def counter_value(reply: bytes) -> int:
    """The count in a test counter canister's ``inc`` or ``get`` reply (a Candid nat64)."""
    (value,) = decode(reply, [NAT64])
    return int(value)


def unique_names(count: int) -> list[str]:
    """``count`` subnet names of this test alone (the first for the root subnet)."""
    tag = uuid.uuid4().hex[:6]
    return [f"r{tag}"] + [f"a{number}{tag}" for number in range(1, count)]


class Proc:
    """A ``manage.py`` subprocess and its log (stdout and stderr)."""

    def __init__(self, args: Sequence[str], log: Path, env: dict[str, str]) -> None:
        self.args = list(args)
        self.log = log
        self.handle = log.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env,
            stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = WAIT_S) -> None:
        """Until ``needle`` is in the log; raises with the log if the process ended first."""
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.popen.poll() is not None and needle not in self.text():
                raise AssertionError(f"{self.args} exited ({self.popen.returncode}) before "
                                     f"printing {needle!r}:\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.args} did not print {needle!r} within "
                                     f"{timeout} s:\n{self.text()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, grace: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after ``grace`` seconds; the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
        self.handle.close()
        return int(self.popen.returncode)


class ClusterProcesses:
    """The processes of one test's cluster (see the module docstring)."""

    def __init__(self, tmp_path: Path, config: ClusterConfig) -> None:
        self.tmp_path = tmp_path
        self.config = config
        self.procs: list[Proc] = []
        self.names: list[str] = []
        self.env = {**os.environ, **config.env(), "PYTHONUNBUFFERED": "1"}

    def manage(self, *args: str) -> str:
        """Run a ``manage.py`` command to its end; its output (raises if it failed)."""
        done = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=WAIT_S * 2)
        if done.returncode:
            raise AssertionError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done.stdout

    def init(self, names: Sequence[str]) -> str:
        self.names.extend(name for name in names if name not in self.names)
        return self.manage("cluster", "init", "--subnets", ",".join(names))

    def spawn(self, args: Sequence[str], name: str) -> Proc:
        proc = Proc(args, self.tmp_path / f"{name}.log", self.env)
        self.procs.append(proc)
        return proc

    def start_writer(self, subnet: str, holder: str, *, wait: bool = True,
                     ttl: float = 3.0) -> Proc:
        """``runsubnet`` for ``subnet``; with ``wait``, until it consumes its queue."""
        proc = self.spawn(["runsubnet", "--subnet", subnet, "--holder", holder,
                           "--ttl", str(ttl)], f"{subnet}-{holder}")
        if wait:
            proc.wait_for("consuming queue")
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.drop_queues()

    def drop_queues(self) -> None:
        """Delete the test's subnet queues from the broker (what the writers left)."""
        if not self.names:
            return
        with kombu.Connection(self.config.broker_url, connect_timeout=5) as conn:
            channel = conn.default_channel
            for name in self.names:
                try:
                    channel.queue_delete(queue_name(name))
                except Exception:  # never declared (the subnet got no task): nothing to drop
                    channel = conn.channel()

    def __enter__(self) -> ClusterProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Answers:
    """Every message on the answers channels of ``subnets``, by request id (a thread)."""

    def __init__(self, redis_url: str, subnets: Sequence[str]) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(*[answers_channel(name) for name in subnets])
        self.by_id: dict[str, list[dict[str, Any]]] = {}
        self.condition = threading.Condition()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message is None:
                continue
            answer = json.loads(message["data"])
            with self.condition:
                self.by_id.setdefault(answer["request_id"], []).append(answer)
                self.condition.notify_all()

    def wait(self, request_id: bytes, timeout: float = WAIT_S) -> dict[str, Any]:
        """The first answer for ``request_id``."""
        key = request_id.hex()
        with self.condition:
            if not self.condition.wait_for(lambda: key in self.by_id, timeout):
                raise AssertionError(f"no answer for request {key} within {timeout} s")
            return self.by_id[key][0]

    def answered(self) -> set[str]:
        with self.condition:
            return {key for key, answers in self.by_id.items()
                    if answers[0]["outcome"] in ("replied", "rejected")}

    def close(self) -> None:
        self._stop.set()
        self.thread.join()
        self.pubsub.close()
        self.client.close()


class Client:
    """Signed calls to the cluster as Celery tasks; answers from `Answers`."""

    def __init__(self, config: ClusterConfig, answers: Answers) -> None:
        configure_celery(config)
        self.config = config
        self.answers = answers
        self.identity = Ed25519Identity.generate()
        self.root_key = root_key_der(config.database_url)

    def envelope(self, canister: Principal, method: str, arg: bytes) -> tuple[bytes, bytes]:
        """A signed call envelope and its request id."""
        content = CallContent(canister, method, arg, self.identity.principal,
                              time.time_ns() + 240 * 10**9, os.urandom(8))
        envelope = sign_envelope(content, self.identity)
        return envelope.to_cbor(), envelope.request_id

    def send(self, subnet: str, canister: Principal, method: str, arg: bytes, *,
             ecid: Principal | None = None, kind: str = "call_v3") -> tuple[bytes, bytes]:
        body, request_id = self.envelope(canister, method, arg)
        send_submit(subnet, kind, (ecid or canister).to_text(), body)
        return body, request_id

    def reply(self, request_id: bytes, canister: Principal | None = None) -> bytes:
        """The verified reply of a v3 call (raises on a reject or refusal)."""
        answer = self.answers.wait(request_id)
        if answer["outcome"] == "refused":
            raise AssertionError(f"call refused: {answer['status']} "
                                 f"{base64.b64decode(answer['body_b64'])!r}")
        body = cbor2.loads(base64.b64decode(answer["body_b64"]))
        body = body.value if isinstance(body, cbor2.CBORTag) else body
        certificate = verify_certificate(body["certificate"], self.root_key,
                                         canister_id=canister)
        status = request_status_from_certificate(certificate, request_id)
        if status.status != "replied" or status.reply is None:
            raise AssertionError(f"call {status.status}: {status.reject_message}")
        return bytes(status.reply)

    def update(self, subnet: str, canister: Principal, method: str, arg: bytes = b"DIDL\x00\x00",
               *, ecid: Principal | None = None) -> bytes:
        _body, request_id = self.send(subnet, canister, method, arg, ecid=ecid)
        target = ecid or canister
        return self.reply(request_id, None if target.is_management_canister else target)

    def create_canister(self, subnet: str, number: int) -> Principal:
        """A new canister on ``subnet`` (the ``number``-th subnet of the cluster)."""
        arg = encode([PROVISIONAL_CREATE_ARGS], [{
            "amount": None, "settings": None, "specified_id": None,
            "sender_canister_version": None}])
        first = Principal.from_canister_index(subnet_range(number).first)
        reply = self.update(subnet, Principal.management_canister(),
                            "provisional_create_canister_with_cycles", arg, ecid=first)
        (result,) = decode(reply, [CREATE_RESULT])
        canister: Principal = result["canister_id"]
        return canister

    def install(self, subnet: str, canister: Principal, wasm: bytes,
                arg: bytes = b"DIDL\x00\x00") -> None:
        payload = encode([INSTALL_CODE_ARGS], [{
            "mode": {"install": None}, "canister_id": canister, "wasm_module": wasm,
            "arg": arg, "sender_canister_version": None}])
        self.update(subnet, Principal.management_canister(), "install_code", payload,
                    ecid=canister)


def cluster_config(database_url: str, broker_url: str, redis_url: str) -> ClusterConfig:
    return ClusterConfig(database_url, broker_url, redis_url)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a front end to listen on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def agreed_reply(read_a: Callable[[], bytes], read_b: Callable[[], bytes], what: str) -> bytes:
    """Front end A's reply once front end B's equals it: read-your-writes holds on A, while
    B's copy may lag its staleness bound (a reject on B counts as not caught up yet); the
    timeout only guards against a hang."""
    deadline = time.monotonic() + WAIT_S
    while True:
        mine = read_a()
        try:
            other: bytes | None = read_b()
        except RejectError:
            other = None
        if other == mine:
            return mine
        assert time.monotonic() < deadline, f"front end B never caught up on {what}"
        time.sleep(0.02)
