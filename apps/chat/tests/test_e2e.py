"""End-to-end-encrypted direct messages in the chat canister (plain CPython).

The management canister is the replica's own vetKD code (real BLS12-381 on blst), so the
keys are real: both members, and a member's second device, recover the same vetKey, and
the messages are AES-GCM ciphertext made with it. The stored state (every key and value
of the canister's key-value store) is then searched for the plaintext.
"""

from __future__ import annotations

import hashlib
import secrets

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyblst import BlstP1Element

from apps.chat.tests import test_canister as base
from apps.chat.tests.test_canister import BOB, As, room_topic
from icframework.core import Principal
from icframework.replica.errors import CanisterError
from icframework.replica.messages import CallOrigin, OriginKind, Request
from icframework.replica.vetkd import CURVE_ORDER, decrypt_vetkey, verify_vetkey
from icframework.replica.vetkd.methods import vetkd_derive_key, vetkd_public_key
from icframework.sdk import CallRejected, LocalCanister, Reject

c, alice, bob, carol = base.c, base.alice, base.bob, base.carol
SUBNET_SEED = b"chat e2e test subnet"
G1 = BlstP1Element.uncompress(bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
))
"""The generator of G1 (a transport key is secret × G1, as the browser makes it)."""
PLAINTEXT = "meet me at the old oak at seven, bring the map"


def management(method: str, arg: bytes, caller: Principal, cycles: int) -> bytes:
    """The management canister's vetKD methods, as the replica answers them."""
    request = Request(caller.raw, b"", method, arg, CallOrigin(OriginKind.CANISTER), cycles)
    answer = {"vetkd_public_key": vetkd_public_key, "vetkd_derive_key": vetkd_derive_key}
    if method not in answer:
        raise CallRejected("aaaaa-aa", method, 3, "not served in this test")
    try:
        reply, _refund = answer[method](request, SUBNET_SEED)
    except CanisterError as rejected:
        raise CallRejected("aaaaa-aa", method, int(rejected.reject_code), rejected.message
                           ) from None
    return reply


@pytest.fixture(autouse=True)
def connected(c: LocalCanister) -> None:
    c.connect(Principal.management_canister(), management)


def vetkey_of(who: As, room_id: int) -> bytes:
    """What a member's browser does: a fresh transport key, then decrypt and verify."""
    secret = secrets.randbelow(CURVE_ORDER - 1) + 1
    transport = bytes(G1.scalar_mul(secret).compress())
    key = who.e2e_key(room_id, transport)
    vetkey = decrypt_vetkey(key.encrypted_key, secret)
    assert verify_vetkey(vetkey, key.public_key, key.input)
    return vetkey


def seal(vetkey: bytes, text: str) -> tuple[bytes, bytes]:
    nonce = secrets.token_bytes(12)
    key = hashlib.sha256(b"test aes key|" + vetkey).digest()
    return AESGCM(key).encrypt(nonce, text.encode(), None), nonce


def unseal(vetkey: bytes, ciphertext: bytes, nonce: bytes) -> str:
    key = hashlib.sha256(b"test aes key|" + vetkey).digest()
    return AESGCM(key).decrypt(nonce, ciphertext, None).decode()


def test_both_members_and_a_new_device_derive_the_same_key(c: LocalCanister, alice: As,
                                                           bob: As, carol: As) -> None:
    room = alice.open_direct("bob").room.id
    assert alice.e2e_public_key(room) is None  # nobody asked yet
    first, second_device, theirs = (vetkey_of(alice, room), vetkey_of(alice, room),
                                    vetkey_of(bob, room))
    assert first == second_device == theirs
    other = alice.open_direct("carol").room.id
    assert vetkey_of(alice, other) != first  # each conversation has its own key
    with pytest.raises(Reject, match="not a member"):
        carol.e2e_key(room, b"\x00" * 48)
    with pytest.raises(Reject, match="not a member"):
        carol.e2e_public_key(room)
    public_key = bob.e2e_public_key(room)
    assert public_key is not None and len(public_key) == 96


def test_sealed_messages_store_no_plaintext(c: LocalCanister, alice: As, bob: As) -> None:
    room = alice.open_direct("bob").room.id
    key = vetkey_of(alice, room)
    ciphertext, nonce = seal(key, PLAINTEXT)
    records = base.records
    sent = alice.send_sealed(room, records.Sealed(ciphertext=ciphertext, nonce=nonce), None)
    assert (sent.text, sent.html, sent.sealed.ciphertext) == ("", "", ciphertext)
    events = [e.value for t, e in base.drain(c) if t == room_topic(room) and e.tag == "message"]
    assert events[-1].sealed.nonce == nonce and events[-1].text == ""
    # bob, in his own browser, reads it back from history
    got = bob.history(room, None, 10).messages[-1]
    assert unseal(vetkey_of(bob, room), got.sealed.ciphertext, got.sealed.nonce) == PLAINTEXT
    # nothing the canister stored holds the text or a word of it, in any common encoding
    state = b"".join(k + v for k, v in c.backend.kv_scan(b"", None, False, 0))
    for needle in {PLAINTEXT, "old oak", "bring the map"}:
        for encoding in ("utf-8", "utf-16-le", "latin-1"):
            assert needle.encode(encoding) not in state
    assert ciphertext in state
    # server-side search skips sealed messages; a deleted one drops its ciphertext
    assert alice.search(room, "oak", 10) == []
    alice.delete_message(room, sent.id)
    state = b"".join(k + v for k, v in c.backend.kv_scan(b"", None, False, 0))
    assert ciphertext not in state


def test_sealed_message_rules(c: LocalCanister, alice: As, bob: As) -> None:
    room = alice.open_direct("bob").room.id
    records = base.records
    ok = records.Sealed(ciphertext=b"\x01" * 32, nonce=b"\x02" * 12)
    with pytest.raises(Reject, match="needs a 12-byte nonce, got 8 bytes"):
        alice.send_sealed(room, records.Sealed(ciphertext=b"\x01" * 32, nonce=b"\x02" * 8),
                          None)
    with pytest.raises(Reject, match="is 16–40064 bytes"):
        alice.send_sealed(room, records.Sealed(ciphertext=b"\x01" * 15, nonce=b"\x02" * 12),
                          None)
    group = alice.create_room("plain", "", True).room.id
    with pytest.raises(Reject, match="end-to-end encryption is for direct rooms"):
        alice.send_sealed(group, ok, None)
    with pytest.raises(Reject, match="end-to-end encryption is for direct rooms"):
        alice.e2e_key(group, b"\x00" * 48)
    with pytest.raises(Reject, match="48-byte compressed G1 point, got 3 bytes"):
        alice.e2e_key(room, b"abc")
    sent = alice.send_sealed(room, ok, None)
    answer = bob.send_sealed(room, ok, sent.id)
    assert answer.reply_to == sent.id and answer.quote.excerpt == ""
    with pytest.raises(Reject, match="cannot be edited"):
        alice.edit_message(room, sent.id, "plain now")
    reply = bob.send_sealed_thread_reply(room, sent.id, ok)
    assert reply.thread_root == sent.id and reply.sealed is not None
    with pytest.raises(Reject, match="transport public key is invalid"):
        alice.e2e_key(room, b"\x01" * 48)  # 48 bytes, but not a G1 point
    assert BOB in bob.room(room).direct_members
