"""The demo faucet (``POST /market/faucet``) against a replica with the demo deployed: only
a call the claimant signed pays, only to the signer, and only within the limits.

The attack it answers: the faucet was an unauthenticated, CSRF-exempt view that minted
to any principal named in a JSON body, as often as asked, including cross-site
``text/plain`` posts any web page can send. Every test below sends such a request and
sees it refused, or a real signed claim paid.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from django.test import Client, override_settings

from apps.marketplace.faucet import (
    CLAIMS_PER_PRINCIPAL,
    DB_NAME,
    Claim,
    ClaimBook,
    FaucetError,
)
from apps.marketplace.seed import seed_demo
from apps.marketplace.views import FAUCET_AMOUNT
from icframework.candid import NAT, decode, encode, parse_did
from icframework.core import Principal
from icframework.deployments import recorded_id
from icframework.identity import DelegationIdentity, Ed25519Identity, P256Identity
from icframework.protocol import CallContent, Envelope, sign_envelope
from icframework.protocol.delegation import create_delegation_chain
from icframework.protocol.request_id import REQUEST_DOMAIN, request_id
from icframework.replica.service import ReplicaService, start_service, stop_service

URL = "http://127.0.0.1:4943"
HOST = "127.0.0.1:4943"
ROOT = Path(__file__).resolve().parents[3]
MINUTE_NS = 60 * 10**9
EMPTY_ARGS = b"DIDL\x00\x00"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReplicaService, Path]]:
    """A replica serving the demo marketplace and its token (state under a scratch root)."""
    root = tmp_path_factory.mktemp("faucet")
    state = root / "state"
    with override_settings(BASE_DIR=root, ICFRAMEWORK={"STATE_DIR": str(state)}):
        service = start_service(state)
        try:
            service.run(lambda replica: seed_demo(replica, URL, state))
            yield service, state
        finally:
            stop_service()


@pytest.fixture
def ledger(demo: tuple[ReplicaService, Path]) -> Principal:
    token = recorded_id("marketplace_token", URL)
    assert token is not None
    return token


def balance(service: ReplicaService, ledger: Principal, owner: Principal) -> int:
    did = parse_did((ROOT / "apps" / "marketplace" / "icrc.did").read_text("utf-8"))
    arg = encode([did.env["Account"]], [{"owner": owner, "subaccount": None}])
    reply = service.run(lambda replica: replica.query(ledger, "icrc1_balance_of", arg))
    return int(decode(reply, [NAT])[0])


def claim_content(ledger: Principal, sender: Principal, **changes: object) -> CallContent:
    content = CallContent(canister_id=ledger, method_name="faucet", arg=EMPTY_ARGS,
                          sender=sender, ingress_expiry=time.time_ns() + 4 * MINUTE_NS,
                          nonce=time.time_ns().to_bytes(16, "big"))
    return replace(content, **changes)  # type: ignore[arg-type]


def signed(identity: Ed25519Identity | P256Identity | DelegationIdentity, ledger: Principal,
           **changes: object) -> bytes:
    return sign_envelope(claim_content(ledger, identity.principal, **changes),
                         identity).to_cbor()


def post(body: bytes, content_type: str = "application/cbor", **extra: str) -> object:
    return Client().post("/market/faucet", body, content_type=content_type, HTTP_HOST=HOST,
                         **extra)


def test_a_signed_claim_pays_the_signer(demo: tuple[ReplicaService, Path],
                                        ledger: Principal) -> None:
    service, _ = demo
    user = P256Identity.generate()  # the kind of key the browser makes
    response = post(signed(user, ledger))
    assert response.status_code == 200, response.content  # type: ignore[attr-defined]
    assert response.json()["to"] == user.principal.to_text()  # type: ignore[attr-defined]
    assert balance(service, ledger, user.principal) == FAUCET_AMOUNT


def test_a_cross_site_text_plain_post_is_refused(demo: tuple[ReplicaService, Path],
                                                 ledger: Principal) -> None:
    # What any web page can send without a preflight: the old faucet paid it.
    service, _ = demo
    victim = Principal.self_authenticating(b"someone the attacker names")
    for content_type in ("text/plain", "application/json",
                         "application/x-www-form-urlencoded"):
        response = post(json.dumps({"principal": victim.to_text()}).encode(), content_type,
                        HTTP_ORIGIN="http://evil.example")
        assert response.status_code == 415  # type: ignore[attr-defined]
        assert response.content.decode() == (  # type: ignore[attr-defined]
            f"the faucet takes a signed call envelope as application/cbor, not {content_type}: "
            "use the page's button (it signs a faucet call with your key)\n")
        assert "Access-Control-Allow-Origin" not in response  # type: ignore[operator]
    assert balance(service, ledger, victim) == 0


def test_an_unsigned_anonymous_claim_is_refused(ledger: Principal) -> None:
    anonymous = Envelope(claim_content(ledger, Principal.anonymous())).to_cbor()
    response = post(anonymous)
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert response.content.decode() == (  # type: ignore[attr-defined]
        "the anonymous principal (2vxsx-fae) gets no tokens: sign the claim with your own key\n")


def test_a_forged_signature_is_refused(demo: tuple[ReplicaService, Path],
                                       ledger: Principal) -> None:
    service, _ = demo
    user = Ed25519Identity.generate()
    envelope = sign_envelope(claim_content(ledger, user.principal), user)
    assert envelope.sender_sig is not None
    forged = replace(envelope, sender_sig=bytes([envelope.sender_sig[0] ^ 1])
                     + envelope.sender_sig[1:]).to_cbor()
    response = post(forged)
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert response.content.decode().startswith(  # type: ignore[attr-defined]
        "the claim's signature does not check out: Invalid signature: sender_sig does not verify")
    assert balance(service, ledger, user.principal) == 0


def test_a_claim_for_someone_elses_principal_is_refused(demo: tuple[ReplicaService, Path],
                                                        ledger: Principal) -> None:
    # Signed with the attacker's key but naming the victim as sender.
    service, _ = demo
    attacker, victim = Ed25519Identity.generate(), Ed25519Identity.generate()
    content = claim_content(ledger, victim.principal)
    signature = attacker.sign(REQUEST_DOMAIN + request_id(content.to_map()))
    response = post(Envelope(content, attacker.der_public_key, signature).to_cbor())
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert f"sender {victim.principal} does not match sender_pubkey" in (
        response.content.decode())  # type: ignore[attr-defined]
    assert balance(service, ledger, victim.principal) == 0


def test_an_expired_claim_is_refused(ledger: Principal) -> None:
    user = Ed25519Identity.generate()
    response = post(signed(user, ledger, ingress_expiry=time.time_ns() - MINUTE_NS))
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.content.decode().startswith(  # type: ignore[attr-defined]
        "the claim is not a valid signed call envelope: Invalid request expiry: ")


def test_a_claim_signed_for_another_call_is_refused(ledger: Principal) -> None:
    user = Ed25519Identity.generate()
    other = Principal.from_canister_index(0x8000000000000001)
    cases: list[tuple[dict[str, object], str]] = [
        ({"method_name": "icrc1_transfer"}, f"'icrc1_transfer' on canister {ledger}"),
        ({"canister_id": other}, f"'faucet' on canister {other}")]
    for changes, shown in cases:
        response = post(signed(user, ledger, **changes))
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert response.content.decode() == (  # type: ignore[attr-defined]
            f"the claim signs {shown}; sign 'faucet' on the token ledger {ledger}\n")


def test_a_delegation_that_excludes_the_ledger_is_refused(ledger: Principal) -> None:
    user, session = Ed25519Identity.generate(), Ed25519Identity.generate()
    elsewhere = Principal.from_canister_index(0x8000000000000001)
    chain = create_delegation_chain(user, session.der_public_key,
                                    time.time_ns() + 10 * MINUTE_NS, targets=[elsewhere])
    response = post(signed(DelegationIdentity(session, chain), ledger))
    assert response.status_code == 403  # type: ignore[attr-defined]
    assert f"canister {ledger} is not among the delegation targets" in (
        response.content.decode())  # type: ignore[attr-defined]


def test_each_principal_has_a_daily_limit_and_a_claim_pays_once(
        demo: tuple[ReplicaService, Path], ledger: Principal) -> None:
    service, state = demo
    user = P256Identity.generate()
    first = signed(user, ledger)
    assert post(first).status_code == 200  # type: ignore[attr-defined]
    replayed = post(first)
    assert replayed.status_code == 409  # type: ignore[attr-defined]
    assert replayed.content.decode() == (  # type: ignore[attr-defined]
        "this signed claim was already paid; press the button again to sign a new one\n")
    for _ in range(CLAIMS_PER_PRINCIPAL - 1):
        assert post(signed(user, ledger)).status_code == 200  # type: ignore[attr-defined]
    refused = post(signed(user, ledger))
    assert refused.status_code == 429  # type: ignore[attr-defined]
    text = refused.content.decode()  # type: ignore[attr-defined]
    assert text.startswith(f"principal {user.principal} has had its {CLAIMS_PER_PRINCIPAL} "
                           "claims in the last 24 h; try again in ")
    assert 0 < int(refused["Retry-After"]) <= 86_400  # type: ignore[index]
    assert balance(service, ledger, user.principal) == CLAIMS_PER_PRINCIPAL * FAUCET_AMOUNT
    # The record is durable: a new book on the state directory's file still knows.
    assert ClaimBook(state / DB_NAME).count(user.principal) == CLAIMS_PER_PRINCIPAL


def test_the_global_rate_limit_and_the_windows(tmp_path: Path) -> None:
    book = ClaimBook(tmp_path / DB_NAME, per_principal=2, principal_window_ns=3600 * 10**9,
                     global_claims=3, global_window_ns=MINUTE_NS)
    now = 10**18
    people = [Principal.self_authenticating(bytes([n])) for n in range(5)]
    for n in range(3):
        book.reserve(Claim(people[n], bytes([n]) * 32), now + n)
    with pytest.raises(FaucetError) as refused:
        book.reserve(Claim(people[3], b"\x03" * 32), now + 10**9)
    assert (refused.value.status, refused.value.message, refused.value.retry_after_seconds) == (
        429, "the faucet pays at most 3 claims in 1 min; try again in 59 s", 59)
    book.reserve(Claim(people[3], b"\x03" * 32), now + MINUTE_NS)  # the window moved on
    book.release(Claim(people[3], b"\x03" * 32))
    assert book.count(people[3]) == 0
    book.reserve(Claim(people[0], b"\x10" * 32), now + 2 * MINUTE_NS)
    with pytest.raises(FaucetError, match=r"has had its 2 claims in the last 1 h; try again"):
        book.reserve(Claim(people[0], b"\x11" * 32), now + 3 * MINUTE_NS)
    book.reserve(Claim(people[0], b"\x11" * 32), now + 3600 * 10**9 + 1)  # an hour later


def test_an_oversized_body_is_refused_before_it_is_read(ledger: Principal) -> None:
    response = post(b"\xa0" * 5000)
    assert response.status_code == 413  # type: ignore[attr-defined]
    text = response.content.decode()  # type: ignore[attr-defined]
    assert text == "a claim is at most 4096 bytes, not 5000\n"
