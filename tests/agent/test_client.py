"""The agent against an in-process fake replica: calls, fallbacks, polling and verification."""

from __future__ import annotations

import asyncio
import time

import pytest

from icframework.agent import (
    Agent,
    AsyncAgent,
    CertificateVerificationError,
    HttpError,
    PollingStrategy,
    RejectError,
    RequestStatusError,
    ResponseFormatError,
)
from icframework.candid import NAT64, decode, encode
from icframework.identity import Ed25519Identity
from icframework.protocol import BlsKeyPair
from tests.agent.fake_replica import COUNTER_ID, FakeReplica

NO_ARGS = encode([], [])
FAST = PollingStrategy(initial_delay=0.001, factor=2.0, max_delay=0.01, timeout=5.0)


def make_agent(fake: FakeReplica, **options: object) -> Agent:
    options.setdefault("fetch_root_key", True)
    options.setdefault("polling", FAST)
    return Agent("http://fake", transport=fake.transport(), **options)  # type: ignore[arg-type]


def nat64(data: bytes) -> int:
    value: int = decode(data, [NAT64])[0]
    return value


def test_status_and_root_key() -> None:
    fake = FakeReplica()
    agent = make_agent(fake)
    assert agent.root_key is None
    assert agent.status()["replica_health_status"] == "healthy"
    assert agent.fetch_root_key() == fake.root.public_key_der
    assert agent.root_key == fake.root.public_key_der


def test_update_via_v3_returns_certified_reply() -> None:
    fake = FakeReplica()
    agent = make_agent(fake, identity=Ed25519Identity.generate())
    assert nat64(agent.update(COUNTER_ID, "inc", NO_ARGS)) == 1
    assert nat64(agent.update(COUNTER_ID.to_text(), "inc", NO_ARGS)) == 2
    calls = [path for method, path in fake.requests if path.endswith("/call")]
    assert calls == [f"/api/v3/canister/{COUNTER_ID}/call"] * 2
    assert fake.polls == 0


def test_update_falls_back_to_v2_and_polls_when_v3_is_missing() -> None:
    fake = FakeReplica(v3=False)
    agent = make_agent(fake)
    assert nat64(agent.update(COUNTER_ID, "inc", NO_ARGS)) == 1
    paths = [path for _, path in fake.requests]
    assert f"/api/v3/canister/{COUNTER_ID}/call" in paths
    assert f"/api/v2/canister/{COUNTER_ID}/call" in paths
    assert fake.polls == 1


def test_update_polls_after_202_from_v3() -> None:
    fake = FakeReplica(v3_pending=True)
    agent = make_agent(fake)
    assert nat64(agent.update(COUNTER_ID, "inc", NO_ARGS)) == 1
    assert fake.polls == 1
    assert not any(
        path.startswith("/api/v2/canister") and path.endswith("call") for _, path in fake.requests
    )


def test_certified_reject_carries_codes() -> None:
    fake = FakeReplica()
    agent = make_agent(fake)
    with pytest.raises(RejectError) as caught:
        agent.update(COUNTER_ID, "refuse", NO_ARGS)
    error = caught.value
    assert (error.reject_code, error.reject_message, error.error_code) == (4, "no thanks", "IC0406")
    assert error.certified
    assert str(error) == (f"{COUNTER_ID}.refuse: rejected (reject code 4, IC0406): no thanks")


def test_polled_reject_and_non_replicated_rejection() -> None:
    fake = FakeReplica(v3=False)
    agent = make_agent(fake)
    with pytest.raises(RejectError, match="no thanks") as caught:
        agent.update(COUNTER_ID, "refuse", NO_ARGS)
    assert caught.value.certified
    with pytest.raises(RejectError, match=r"reject code 5, IC0516\): inspect_message") as other:
        make_agent(FakeReplica()).update(COUNTER_ID, "blocked", NO_ARGS)
    assert not other.value.certified


def test_query_with_verified_node_signatures() -> None:
    fake = FakeReplica()
    agent = make_agent(fake, identity=Ed25519Identity.generate())
    agent.update(COUNTER_ID, "inc", NO_ARGS)
    assert nat64(agent.query(COUNTER_ID, "get", NO_ARGS)) == 1
    assert nat64(agent.query(COUNTER_ID, "get", NO_ARGS)) == 1
    subnet_reads = [p for _, p in fake.requests if p.endswith("/read_state")]
    assert len(subnet_reads) == 1, "node keys are cached"
    assert agent.node_keys(COUNTER_ID) == {fake.node.principal: fake.node.der_public_key}


def test_query_reject_is_verified_then_raised() -> None:
    agent = make_agent(FakeReplica())
    with pytest.raises(RejectError, match="IC0536") as caught:
        agent.query(COUNTER_ID, "nope", NO_ARGS)
    assert caught.value.reject_code == 3 and not caught.value.certified


def test_unsigned_query_is_refused_unless_verification_is_off() -> None:
    fake = FakeReplica(sign_queries=False)
    with pytest.raises(CertificateVerificationError, match="no node signatures"):
        make_agent(fake).query(COUNTER_ID, "get", NO_ARGS)
    relaxed = make_agent(fake, verify_query_signatures=False)
    assert nat64(relaxed.query(COUNTER_ID, "get", NO_ARGS)) == 0


def test_tampered_query_signature_is_refused_after_refetching_keys() -> None:
    fake = FakeReplica(tamper_query_signature=True)
    with pytest.raises(CertificateVerificationError, match=r"signature by node .* is invalid"):
        make_agent(fake).query(COUNTER_ID, "get", NO_ARGS)
    assert len([p for _, p in fake.requests if p.endswith("/read_state")]) == 2


def test_certificate_under_the_wrong_root_key_is_refused() -> None:
    fake = FakeReplica()
    agent = make_agent(fake, fetch_root_key=False, root_key=BlsKeyPair.generate().public_key_der)
    with pytest.raises(CertificateVerificationError, match="certificate signature is invalid"):
        agent.update(COUNTER_ID, "inc", NO_ARGS)
    with pytest.raises(CertificateVerificationError, match="wrong root key"):
        agent.read_state(COUNTER_ID, [["time"]])


def test_mainnet_key_is_the_default() -> None:
    fake = FakeReplica()
    agent = Agent("http://fake", transport=fake.transport())
    with pytest.raises(CertificateVerificationError):
        agent.read_state(COUNTER_ID, [["time"]])


def test_stale_and_future_certificates_are_refused() -> None:
    fake = FakeReplica(time_offset_ns=-10 * 60 * 10**9)
    with pytest.raises(CertificateVerificationError, match="stale"):
        make_agent(fake).read_state(COUNTER_ID, [["time"]])
    fake.time_offset_ns = 10 * 60 * 10**9
    with pytest.raises(CertificateVerificationError, match="future"):
        make_agent(fake).read_state(COUNTER_ID, [["time"]])


def test_clock_is_injectable() -> None:
    fake = FakeReplica(time_offset_ns=-10 * 60 * 10**9)
    behind = make_agent(
        fake, clock=lambda: time.time_ns() - 10 * 60 * 10**9, verify_query_signatures=False
    )
    # The request itself expires in the past for the replica: a clear HTTP 400.
    with pytest.raises(HttpError, match="Invalid request expiry"):
        behind.read_state(COUNTER_ID, [["time"]])


def test_read_state_metadata_and_request_status() -> None:
    fake = FakeReplica(v3=False)
    fake.metadata["candid:service"] = b"service : {}"
    agent = make_agent(fake)
    assert agent.canister_metadata(COUNTER_ID, "candid:service") == b"service : {}"
    assert agent.canister_metadata(COUNTER_ID, "other") is None
    request_id = agent.submit(COUNTER_ID, "inc", NO_ARGS)
    status = agent.request_status(COUNTER_ID, request_id)
    assert status.status == "replied" and status.reply is not None
    assert nat64(agent.poll(COUNTER_ID, request_id)) == 1
    unknown = agent.request_status(COUNTER_ID, bytes(32))
    assert unknown.status == "unknown" and not unknown.is_terminal


def test_polling_gives_up_at_its_timeout() -> None:
    fake = FakeReplica(v3=False)
    agent = make_agent(fake, polling=PollingStrategy(0.001, 1.0, 0.001, timeout=0.02))
    with pytest.raises(RequestStatusError, match="still 'unknown' after"):
        agent.poll(COUNTER_ID, bytes(32), "inc")


def test_http_errors_and_unreachable_replica() -> None:
    fake = FakeReplica()
    agent = make_agent(fake)
    with pytest.raises(HttpError, match="404") as caught:
        agent.read_state(COUNTER_ID, [["nonsense"]])
    assert caught.value.status == 404 and "not allowed" in caught.value.body
    dead = Agent("http://127.0.0.1:9", fetch_root_key=True, timeout=2)
    with pytest.raises(Exception, match=r"cannot reach the replica at http://127\.0\.0\.1:9"):
        dead.status()


def test_malformed_response_body() -> None:
    import httpx

    agent = Agent(
        "http://x",
        fetch_root_key=True,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=b"\xff")),
    )
    with pytest.raises(ResponseFormatError, match="not valid CBOR"):
        agent.status()


def test_both_root_key_options_are_refused() -> None:
    with pytest.raises(Exception, match="either root_key or fetch_root_key"):
        Agent(root_key=b"x", fetch_root_key=True)


def test_async_agent_does_the_same() -> None:
    fake = FakeReplica(v3_pending=True)

    async def scenario() -> tuple[int, int]:
        import httpx

        transport = httpx.MockTransport(fake.handle)
        async with AsyncAgent(
            "http://fake", fetch_root_key=True, polling=FAST, transport=transport
        ) as agent:
            updated = nat64(await agent.update(COUNTER_ID, "inc", NO_ARGS))
            queried = nat64(await agent.query(COUNTER_ID, "get", NO_ARGS))
            with pytest.raises(RejectError, match="no thanks"):
                await agent.update(COUNTER_ID, "refuse", NO_ARGS)
            return updated, queried

    assert asyncio.run(scenario()) == (1, 1)
