"""A non-root subnet served in this process: the replica service started on a state made
with a `SubnetIdentity`, and agents talking to it through the project's ASGI application
(no socket)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

from icframework.agent import AsyncAgent
from icframework.core import Principal
from icframework.replica import Replica, ReplicaService, start_service, stop_service
from icframework.replica.certification import SubnetIdentity
from tests.replica.http.conftest import data_certificate_wasm

T = TypeVar("T")
URL = "http://replica.test"


@contextmanager
def serving(state_dir: Path, identity: SubnetIdentity,
            canisters: int = 1) -> Iterator[tuple[ReplicaService, list[Principal]]]:
    """Make ``canisters`` certifying canisters on a subnet with ``identity``, then serve it."""
    with Replica.open(state_dir, identity=identity) as replica:
        created = [replica.create_canister() for _ in range(canisters)]
        for canister in created:
            replica.install_code(canister, data_certificate_wasm())
    service = start_service(state_dir)  # the stored identity: the same subnet again
    try:
        deadline = time.monotonic() + 10
        while service.run(lambda replica: replica.subnet.height) == 0:
            assert time.monotonic() < deadline, "the round loop did not run a first round"
            time.sleep(0.01)
        yield service, created
    finally:
        stop_service()


def with_agent(root_key: bytes, work: Callable[[AsyncAgent], Awaitable[T]]) -> T:
    """``work(agent)`` on a fresh event loop, the agent trusting ``root_key`` only."""
    from config.asgi import application

    async def run() -> T:
        transport = httpx.ASGITransport(app=application)
        async with AsyncAgent(URL, root_key=root_key, transport=transport) as agent:
            return await work(agent)

    return asyncio.run(run())


def status() -> dict[str, object]:
    """``/api/v2/status`` as an agent that fetches the root key sees it."""
    from config.asgi import application

    async def run() -> dict[str, object]:
        transport = httpx.ASGITransport(app=application)
        async with AsyncAgent(URL, fetch_root_key=True, transport=transport) as agent:
            return dict(await agent.status())

    return asyncio.run(run())
