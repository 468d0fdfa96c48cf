"""The agent against a live ``manage.py runreplica``: the whole canister life cycle over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from icframework.agent import (
    Actor,
    Agent,
    AsyncAgent,
    AsyncManagementCanister,
    CanisterSettings,
    CertificateVerificationError,
    ManagementCanister,
    RejectError,
)
from icframework.candid import NAT64, decode, encode
from icframework.core import Principal
from icframework.identity import Ed25519Identity, Secp256k1Identity
from icframework.protocol import BlsKeyPair
from tests.agent.live_replica import running_replica
from tests.replica.corpus import motoko_candid, motoko_wasm
from tests.replica.wat_counter import counter_wasm

NO_ARGS = encode([], [])
WAT_DID = "service : { inc : () -> (nat64); get : () -> (nat64) query; refuse : () -> () }"


@pytest.fixture(scope="module")
def replica_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_replica(tmp_path_factory.mktemp("replica") / "state") as url:
        yield url


@pytest.fixture(scope="module")
def agent(replica_url: str) -> Iterator[Agent]:
    with Agent(replica_url, identity=Ed25519Identity.generate(), fetch_root_key=True) as client:
        yield client


@pytest.fixture(scope="module")
def counter(agent: Agent) -> Principal:
    management = ManagementCanister(agent)
    canister = management.provisional_create_canister_with_cycles()
    management.install_code(canister, counter_wasm())
    return canister


def nat64(data: bytes) -> int:
    value: int = decode(data, [NAT64])[0]
    return value


def test_status_root_key_and_subnet(agent: Agent) -> None:
    status = agent.status()
    assert status["replica_health_status"] == "healthy"
    assert agent.fetch_root_key() == status["root_key"]
    assert len(status["root_key"]) == 133


def test_update_and_signed_query(agent: Agent, counter: Principal) -> None:
    before = nat64(agent.query(counter, "get", NO_ARGS))
    assert nat64(agent.update(counter, "inc", NO_ARGS)) == before + 1
    assert nat64(agent.query(counter, "get", NO_ARGS)) == before + 1
    keys = agent.node_keys(counter)
    assert keys and all(len(key) == 44 for key in keys.values())


def test_rejects_carry_codes(agent: Agent, counter: Principal) -> None:
    with pytest.raises(RejectError) as refused:
        agent.update(counter, "refuse", NO_ARGS)
    assert (refused.value.reject_code, refused.value.error_code) == (4, "IC0406")
    assert refused.value.reject_message == "no thanks" and refused.value.certified
    with pytest.raises(RejectError, match="IC0536") as missing:
        agent.query(counter, "nope", NO_ARGS)
    assert missing.value.reject_code == 5


def test_actor_over_the_live_replica(agent: Agent, counter: Principal) -> None:
    actor = Actor(agent, counter, WAT_DID)
    value = actor.inc()
    assert actor.get() == value
    assert actor.call_text("get") == f"({value} : nat64)"


def test_status_settings_topup_and_upgrade(agent: Agent, counter: Principal) -> None:
    management = ManagementCanister(agent)
    status = management.canister_status(counter)
    assert status.status == "running"
    assert status.controllers == (agent.identity.principal,)
    assert status.module_hash is not None and len(status.module_hash) == 32
    management.provisional_top_up_canister(counter, 10**12)
    assert management.canister_status(counter).cycles > status.cycles
    management.update_settings(counter, CanisterSettings(freezing_threshold=1234))
    assert management.canister_status(counter).freezing_threshold == 1234
    management.install_code(counter, counter_wasm(), mode="reinstall")
    assert nat64(agent.query(counter, "get", NO_ARGS)) == 0


def test_motoko_upgrade_keeps_state(agent: Agent) -> None:
    management = ManagementCanister(agent)
    canister = management.provisional_create_canister_with_cycles()
    management.install_code(canister, motoko_wasm("counter"))
    actor = Actor(agent, canister, motoko_candid("counter"))
    assert actor.add(41) == 41
    # The module declares enhanced orthogonal persistence, so the upgrade keeps the heap.
    management.install_code(canister, motoko_wasm("counter"), mode="upgrade")
    assert actor.inc() == 42
    metadata = agent.canister_metadata(canister, "candid:service")
    assert metadata is not None and b"inc: () -> (nat)" in metadata
    assert Actor.from_canister(agent, canister).get() == 42


def test_stop_start_delete(agent: Agent) -> None:
    management = ManagementCanister(agent)
    canister = management.provisional_create_canister_with_cycles(10**13)
    management.install_code(canister, counter_wasm())
    management.stop_canister(canister)
    assert management.canister_status(canister).status == "stopped"
    with pytest.raises(RejectError) as stopped:
        agent.update(canister, "inc", NO_ARGS)
    assert stopped.value.error_code == "IC0508"
    management.start_canister(canister)
    assert nat64(agent.update(canister, "inc", NO_ARGS)) == 1
    management.stop_canister(canister)
    management.delete_canister(canister)
    with pytest.raises(RejectError, match="IC0301"):
        management.canister_status(canister)


def test_non_controllers_are_refused(replica_url: str, counter: Principal) -> None:
    stranger = Agent(replica_url, identity=Secp256k1Identity.generate(), fetch_root_key=True)
    with pytest.raises(RejectError) as caught:
        ManagementCanister(stranger).canister_status(counter)
    assert caught.value.reject_code == 5 and caught.value.error_code == "IC0512"


def test_wrong_root_key_is_refused(replica_url: str, counter: Principal) -> None:
    impostor = Agent(replica_url, root_key=BlsKeyPair.generate().public_key_der)
    with pytest.raises(CertificateVerificationError, match="certificate signature is invalid"):
        impostor.update(counter, "inc", NO_ARGS)
    with pytest.raises(CertificateVerificationError, match="wrong root key"):
        impostor.query(counter, "get", NO_ARGS)
    mainnet = Agent(replica_url)
    with pytest.raises(CertificateVerificationError):
        mainnet.read_state(counter, [["time"]])


def test_async_agent(replica_url: str) -> None:
    async def scenario() -> tuple[int, int, str]:
        async with AsyncAgent(
            replica_url, identity=Ed25519Identity.generate(), fetch_root_key=True
        ) as agent:
            management = AsyncManagementCanister(agent)
            canister = await management.provisional_create_canister_with_cycles()
            await management.install_code(canister, counter_wasm())
            first = nat64(await agent.update(canister, "inc", NO_ARGS))
            queried = nat64(await agent.query(canister, "get", NO_ARGS))
            status = await management.canister_status(canister)
            return first, queried, status.status

    assert asyncio.run(scenario()) == (1, 1, "running")


def test_anonymous_identity_can_create_and_call(replica_url: str) -> None:
    agent = Agent(replica_url, fetch_root_key=True)
    management = ManagementCanister(agent)
    canister = management.provisional_create_canister_with_cycles()
    management.install_code(canister, counter_wasm())
    assert nat64(agent.update(canister, "inc", NO_ARGS)) == 1
    assert management.canister_status(canister).controllers == (Principal.anonymous(),)
