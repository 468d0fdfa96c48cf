"""Request validation and certificate signing costs of `icframework.protocol`.

Rows: per-request validation (CBOR parse + shape checks + request id + signature check)
for Ed25519 and secp256k1 senders, with a bare SHA-256 of the same envelope bytes as
the same-run reference; BLS certificate signing and verification with blst, with
py_ecc's signing of the same message as the reference (skipped if py_ecc is missing).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from icframework.core import Principal
from icframework.identity import Ed25519Identity, Identity, Secp256k1Identity
from icframework.protocol import (
    STATE_ROOT_DOMAIN,
    BlsKeyPair,
    CallContent,
    build_tree,
    decode_request,
    reconstruct,
    sign_certificate,
    sign_envelope,
    verify_certificate,
)


def _per_call(fn: Callable[[], object], budget_s: float) -> float:
    """Seconds per call of ``fn``, best of 3 timed batches within about ``budget_s``."""
    fn()
    start = time.perf_counter()
    fn()
    single = max(time.perf_counter() - start, 1e-7)
    batch = max(1, int(budget_s / 3 / single))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        best = min(best, (time.perf_counter() - start) / batch)
    return best


def _row(name: str, seconds: float, reference: float | None) -> str:
    micros = seconds * 1e6
    rate = 1 / seconds
    ratio = f"{seconds / reference:>10.3g}x" if reference else f"{'—':>11}"
    return f"{name:<44} {micros:>12.1f} {rate:>12.0f} {ratio}"


def main() -> None:
    now = time.time_ns()
    canister = Principal.from_canister_index(1)
    rows: list[str] = []

    identities: list[tuple[str, Identity]] = [
        ("ed25519", Ed25519Identity.generate()),
        ("secp256k1", Secp256k1Identity.generate()),
    ]
    for name, identity in identities:
        content = CallContent(
            canister,
            "greet",
            b"DIDL\x00\x01\x71\x05world",
            identity.principal,
            now + 10**11,
            b"n" * 16,
        )
        body = sign_envelope(content, identity).to_cbor()
        reference = _per_call(lambda body=body: hashlib.sha256(body).digest(), 0.3)
        rows.append(_row("sha256(envelope bytes) [reference]", reference, None))
        cost = _per_call(lambda body=body: decode_request(body, now_ns=now), 1.5)
        rows.append(_row(f"validate {name} call ({len(body)} B)", cost, reference))

    key = BlsKeyPair.generate()
    tree = build_tree(
        {"request_status": {b"\x01" * 32: {"status": "replied", "reply": b"R"}}, "time": now}
    )
    message = STATE_ROOT_DOMAIN + reconstruct(tree)
    reference_sign: float | None = None
    try:
        from py_ecc.bls.hash_to_curve import hash_to_G1
        from py_ecc.bls.point_compression import compress_G1
        from py_ecc.optimized_bls12_381 import multiply

        dst = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
        reference_sign = _per_call(
            lambda: compress_G1(multiply(hash_to_G1(message, dst, hashlib.sha256), key.secret)), 1.0
        )
        rows.append(_row("py_ecc BLS sign [reference]", reference_sign, None))
    except ImportError:
        rows.append(f"{'py_ecc BLS sign [reference]':<44} {'not installed':>12}")
    sign_cost = _per_call(lambda: sign_certificate(tree, key), 1.0)
    rows.append(_row("blst sign_certificate", sign_cost, reference_sign))
    cert = sign_certificate(tree, key)
    verify_cost = _per_call(lambda: verify_certificate(cert, key.public_key_der, now_ns=now), 1.5)
    rows.append(_row("blst verify_certificate (pairing)", verify_cost, reference_sign))

    print(f"{'operation':<44} {'µs/op':>12} {'ops/s':>12} {'vs ref':>11}")
    print("-" * 82)
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
