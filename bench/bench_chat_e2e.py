"""Chat: end-to-end-encrypted direct messages against plain ones, sending and reading.

An in-process replica (memory store, a clock the bench moves; `Replica.update`-style
ingress and rounds, no HTTP) runs the chat canister built as for deployment; its
management canister answers vetKD with real BLS12-381 keys. Two users share a direct
room. What a page does is done here on the host with the same primitives: the vetKey
is decrypted and verified with `icframework.replica.vetkd`, message bodies are AES-GCM
(``cryptography``) under a key derived from it.

1. **Once per room and device**: ``e2e_key`` (the canister's two awaited management
   calls the first time, one after that: the derived public key is kept) and the
   page's decrypt-and-verify of the vetKey.
2. **Per message**: ``send_message`` of a text against sealing it and ``send_sealed``
   (the encryption included); then reading: a ``history`` page of `PAGE` messages,
   plain against sealed with every body decrypted. p50 of `CALLS` after `WARMUP`;
   ratio = sealed over plain; instructions are the canister's.

No timed assertions. Usage: ``.venv/bin/python bench/bench_chat_e2e.py`` or ``main()``
(``bench/run.py``); under a minute with the runtime cached.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from cryptography.hazmat.primitives.hashes import SHA256  # noqa: E402
from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: E402
from pyblst import BlstP1Element  # noqa: E402

from apps.chat.canister.records import Sealed  # noqa: E402
from bench.support import SteppedReplica, build_python_app, table  # noqa: E402
from icframework.candid import encode, parse_type  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.replica.vetkd import CURVE_ORDER, decrypt_vetkey, verify_vetkey  # noqa: E402

APP_DIR = ROOT / "apps" / "chat"
CANISTER = "apps.chat.canister"
SECOND = 1_000_000_000
CALLS = 12
WARMUP = 2
PAGE = 50
TEXT = "see you at the north gate at noon; bring the map and the second key " * 2
INIT = parse_type("opt record { moderators : vec principal; marketplace : opt principal }")
ALICE = Principal.self_authenticating(b"chat e2e bench alice")
BOB = Principal.self_authenticating(b"chat e2e bench bob")
G1 = BlstP1Element.uncompress(bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
))


class Site(SteppedReplica):
    """The chat canister on a `SteppedReplica`."""

    def __init__(self) -> None:
        super().__init__(CANISTER)
        self.canister = self.replica.create_canister()
        self.replica.install_code(self.canister, build_python_app(APP_DIR).wasm,
                                  encode([INIT], [None]))


def vetkey(site: Site, who: Principal, room: int) -> tuple[tuple[int, float], float, bytes]:
    """``e2e_key`` (instructions, seconds), the page's decrypt-and-verify seconds, key."""
    secret = secrets.randbelow(CURVE_ORDER - 1) + 1
    transport = bytes(G1.scalar_mul(secret).compress())
    instructions, seconds, key = site.update(who, "e2e_key", room, transport)
    started = time.perf_counter()
    plain = decrypt_vetkey(key.encrypted_key, secret)
    assert verify_vetkey(plain, key.public_key, key.input)
    return (instructions, seconds), time.perf_counter() - started, plain


def aes_key(vetkey_bytes: bytes) -> AESGCM:
    """An AES-256-GCM key from the vetKey (HKDF-SHA-256, as the page derives its own)."""
    derived = HKDF(SHA256(), 32, b"", b"icframework.chat.dm/v1 message").derive(vetkey_bytes)
    return AESGCM(derived)


def p50(values: list[float]) -> float:
    return statistics.median(values[WARMUP:])


def main() -> None:
    site = Site()
    for who, handle in ((ALICE, "alice"), (BOB, "bob")):
        site.update(who, "register", handle, handle.title())
    room = site.update(ALICE, "open_direct", "bob")[2].room.id

    first, first_open, key = vetkey(site, ALICE, room)
    again, _opened, key_again = vetkey(site, BOB, room)
    assert key == key_again
    print("1. Key setup, once per room and device (e2e_key through the replica; the "
          "page's decrypt-and-verify on the host)")
    table(["step", "instructions", "ms"], [
        ["e2e_key, first request (public key + derive key)", f"{first[0]:,}",
         f"{first[1] * 1e3:.1f}"],
        ["e2e_key, later requests (derive key)", f"{again[0]:,}", f"{again[1] * 1e3:.1f}"],
        ["decrypt and verify the vetKey (host, blst)", "-", f"{first_open * 1e3:.2f}"],
    ])
    print()

    cipher = aes_key(key)
    plain_sends, sealed_sends = [], []
    for n in range(CALLS):
        site.clock += 10 * SECOND  # under the message rate limit
        plain_sends.append(site.update(ALICE, "send_message", room, f"{TEXT} {n}", None))
        site.clock += 10 * SECOND
        started = time.perf_counter()
        nonce = secrets.token_bytes(12)
        body = Sealed(ciphertext=cipher.encrypt(nonce, f"{TEXT} {n}".encode(), None),
                      nonce=nonce)
        instructions, seconds, _view = site.update(ALICE, "send_sealed", room, body, None)
        sealed_sends.append((instructions, time.perf_counter() - started))
    for n in range(PAGE):
        site.clock += 10 * SECOND
        if n % 2:
            site.update(BOB, "send_message", room, f"{TEXT} plain {n}", None)
        else:
            nonce = secrets.token_bytes(12)
            site.update(BOB, "send_sealed", room, Sealed(
                ciphertext=cipher.encrypt(nonce, f"{TEXT} {n}".encode(), None), nonce=nonce),
                None)
    reads_plain, reads_sealed = [], []
    bob_cipher = aes_key(key_again)
    for _ in range(CALLS):
        instructions, seconds, page = site.query(BOB, "history", room, None, PAGE)
        reads_plain.append((instructions, seconds))
        started = time.perf_counter()
        instructions, _s, page = site.query(BOB, "history", room, None, PAGE)
        opened = [bob_cipher.decrypt(m.sealed.nonce, m.sealed.ciphertext, None)
                  for m in page.messages if m.sealed is not None]
        assert opened
        reads_sealed.append((instructions, time.perf_counter() - started))

    plain_ms = p50([s for _i, s, _r in plain_sends])
    sealed_ms = p50([s for _i, s in sealed_sends])
    read_ms = p50([s for _i, s in reads_plain])
    read_sealed_ms = p50([s for _i, s in reads_sealed])
    print(f"2. Per message (p50 of {CALLS - WARMUP} after {WARMUP}; ratio = sealed over "
          "plain; the page's AES-GCM included on the sealed side)")
    table(["operation", "instructions", "p50 ms", "ratio"], [
        ["send_message (plain text)", f"{p50([i for i, _s, _r in plain_sends]):,.0f}",
         f"{plain_ms * 1e3:.1f}", "1.00"],
        ["seal + send_sealed", f"{p50([i for i, _s in sealed_sends]):,.0f}",
         f"{sealed_ms * 1e3:.1f}", f"{sealed_ms / plain_ms:.2f}"],
        [f"history of {PAGE} (query)", f"{p50([i for i, _s in reads_plain]):,.0f}",
         f"{read_ms * 1e3:.1f}", "1.00"],
        [f"history of {PAGE} + open the sealed half",
         f"{p50([i for i, _s in reads_sealed]):,.0f}", f"{read_sealed_ms * 1e3:.1f}",
         f"{read_sealed_ms / read_ms:.2f}"],
    ])


if __name__ == "__main__":
    main()
