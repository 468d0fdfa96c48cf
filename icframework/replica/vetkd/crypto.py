"""The vetKD arithmetic on BLS12-381 (sans-IO): key derivation, vetKeys, their encryption.

How it works. A master key is a secret scalar ``s`` with public key ``mpk = g2·s`` (G2,
96 bytes compressed). A canister's key is offset by ``d1 = H2S(lp(mpk) ‖ lp(canister_id))``
and, for a non-empty context, once more by ``d2 = H2S(lp(ck) ‖ lp(context))``, so anyone
holding ``mpk`` derives the public key ``dpk = mpk + g2·(d1 + d2)`` and only the subnet the
secret ``s + d1 + d2``. A vetKey for ``input`` is the BLS signature (min-sig, augmented
ciphersuite) ``k = H(dpk ‖ input)·(s + d1 + d2)`` (G1, 48 bytes). It leaves encrypted to
a transport key ``tpk`` (G1) under fresh randomness ``r``: ``(g1·r, g2·r, tpk·r + k)``,
192 bytes; the holder of ``tsk`` recovers ``k = E3 − tsk·E1`` and checks it against ``dpk``.
``lp(x)`` is ``x`` behind its 8-byte big-endian length; ``H2S`` is RFC 9380 hash_to_field
to the group order with expand_message_xmd(SHA-256). Points go through blst (pyblst):
``uncompress`` rejects points off the curve or outside the prime-order subgroup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from pyblst import BlstP1Element, BlstP2Element, final_verify, miller_loop

__all__ = [
    "AUGMENTED_DST",
    "CANISTER_DST",
    "CONTEXT_DST",
    "CURVE_ORDER",
    "ENCRYPTED_KEY_BYTES",
    "G1_BYTES",
    "G2_BYTES",
    "MasterKey",
    "decrypt_vetkey",
    "derive_canister_public_key",
    "derive_context_public_key",
    "derive_public_key",
    "encrypted_key_is_well_formed",
    "expand_message_xmd",
    "hash_to_scalar",
    "is_valid_transport_public_key",
    "verify_vetkey",
]

CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
G1_BYTES = 48
G2_BYTES = 96
ENCRYPTED_KEY_BYTES = 2 * G1_BYTES + G2_BYTES
CANISTER_DST = b"ic-vetkd-bls12-381-g2-canister-id"
CONTEXT_DST = b"ic-vetkd-bls12-381-g2-context"
AUGMENTED_DST = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_AUG_"
_SCALAR_BYTES = 48  # ceil((ceil(log2 r) + 128) / 8): RFC 9380's L for a 128-bit security level
_G1 = BlstP1Element.uncompress(bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
))
_G2 = BlstP2Element.uncompress(bytes.fromhex(
    "93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5"
    "ac7d055d042b7e024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac"
    "0326a805bbefd48056c8c121bdb8"
))


def expand_message_xmd(message: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 expand_message_xmd with SHA-256: ``length`` uniform bytes.

    A ``dst`` over 255 bytes is first hashed as §5.3.3 says. Raises `ValueError` for a
    ``length`` over 8160 bytes (255 blocks) or not positive.
    """
    if len(dst) > 255:
        dst = hashlib.sha256(b"H2C-OVERSIZE-DST-" + dst).digest()
    blocks = -(-length // 32)
    if not 0 < length <= 65535 or blocks > 255:
        raise ValueError(f"expand_message_xmd makes 1..8160 bytes, not {length}")
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha256(
        bytes(64) + message + length.to_bytes(2, "big") + b"\x00" + dst_prime
    ).digest()
    block = hashlib.sha256(b0 + b"\x01" + dst_prime).digest()
    out = [block]
    for index in range(2, blocks + 1):
        mixed = bytes(x ^ y for x, y in zip(b0, block, strict=True))
        block = hashlib.sha256(mixed + bytes([index]) + dst_prime).digest()
        out.append(block)
    return b"".join(out)[:length]


def hash_to_scalar(message: bytes, dst: bytes) -> int:
    """RFC 9380 hash_to_field (one element) to the BLS12-381 group order."""
    return int.from_bytes(expand_message_xmd(message, dst, _SCALAR_BYTES), "big") % CURVE_ORDER


def _length_prefixed(*parts: bytes) -> bytes:
    return b"".join(len(part).to_bytes(8, "big") + part for part in parts)


def _canister_offset(master_public_key: bytes, canister_id: bytes) -> int:
    return hash_to_scalar(_length_prefixed(master_public_key, canister_id), CANISTER_DST)


def _context_offset(canister_public_key: bytes, context: bytes) -> int:
    return hash_to_scalar(_length_prefixed(canister_public_key, context), CONTEXT_DST)


def _g2_point(data: bytes, what: str) -> BlstP2Element:
    if len(data) != G2_BYTES:
        raise ValueError(f"{what} is a {G2_BYTES}-byte compressed G2 point, not {len(data)} bytes")
    try:
        return BlstP2Element.uncompress(data)
    except ValueError:
        raise ValueError(f"{what} is not a point of the BLS12-381 G2 subgroup") from None


def derive_canister_public_key(master_public_key: bytes, canister_id: bytes) -> bytes:
    """The canister's key ``mpk + g2·d1`` (96 bytes) from a master public key.

    Raises `ValueError` if ``master_public_key`` is not a G2 point.
    """
    point = _g2_point(master_public_key, "the master public key")
    offset = _canister_offset(master_public_key, canister_id)
    return bytes((point + _G2.scalar_mul(offset)).compress())


def derive_context_public_key(canister_public_key: bytes, context: bytes) -> bytes:
    """The context's key ``ck + g2·d2`` (96 bytes); an empty context leaves ``ck`` as is.

    Raises `ValueError` if ``canister_public_key`` is not a G2 point.
    """
    point = _g2_point(canister_public_key, "the canister public key")
    if not context:
        return bytes(canister_public_key)
    offset = _context_offset(canister_public_key, context)
    return bytes((point + _G2.scalar_mul(offset)).compress())


def derive_public_key(master_public_key: bytes, canister_id: bytes, context: bytes) -> bytes:
    """The derived public key for ``(canister_id, context)`` (what vetkd_public_key returns)."""
    return derive_context_public_key(
        derive_canister_public_key(master_public_key, canister_id), context)


def is_valid_transport_public_key(data: bytes) -> bool:
    """Whether ``data`` is a compressed G1 point of the prime-order subgroup (48 bytes).

    The identity is valid: DFINITY's helpers send it to get the vetKey in the clear (a
    plain BLS signature), which only the canister sees.
    """
    if len(data) != G1_BYTES:
        return False
    try:
        BlstP1Element.uncompress(data)
    except ValueError:
        return False
    return True


def _augmented_hash(derived_public_key: bytes, input_: bytes) -> BlstP1Element:
    return BlstP1Element.hash_to_group(derived_public_key + input_, AUGMENTED_DST)


@dataclass(frozen=True)
class MasterKey:
    """One vetKD master key: the secret scalar and its G2 public key (96 bytes)."""

    secret: int
    public_key: bytes

    @classmethod
    def from_secret(cls, secret: int) -> MasterKey:
        """The key of ``secret`` (1..r-1); raises `ValueError` otherwise."""
        if not 0 < secret < CURVE_ORDER:
            raise ValueError("a vetKD master secret is an integer in 1..r-1 (r: the group order)")
        return cls(secret, bytes(_G2.scalar_mul(secret).compress()))

    def __repr__(self) -> str:
        return f"MasterKey(public_key={self.public_key[:8].hex()}…)"

    def _derived(self, canister_id: bytes, context: bytes) -> tuple[bytes, int]:
        """(derived public key, derived secret) for ``(canister_id, context)``."""
        d1 = _canister_offset(self.public_key, canister_id)
        canister_key = bytes(_G2.scalar_mul((self.secret + d1) % CURVE_ORDER).compress())
        if not context:
            return canister_key, (self.secret + d1) % CURVE_ORDER
        secret = (self.secret + d1 + _context_offset(canister_key, context)) % CURVE_ORDER
        return bytes(_G2.scalar_mul(secret).compress()), secret

    def public_key_for(self, canister_id: bytes, context: bytes) -> bytes:
        """The derived public key of ``(canister_id, context)`` (96 bytes)."""
        return self._derived(canister_id, context)[0]

    def vetkey(self, canister_id: bytes, context: bytes, input_: bytes) -> bytes:
        """The vetKey of ``input_`` in the clear (48 bytes): a BLS signature under the key."""
        public_key, secret = self._derived(canister_id, context)
        return bytes(_augmented_hash(public_key, input_).scalar_mul(secret).compress())

    def encrypted_vetkey(self, canister_id: bytes, context: bytes, input_: bytes,
                         transport_public_key: bytes, *, randomness: int | None = None) -> bytes:
        """The vetKey of ``input_`` encrypted to ``transport_public_key``: E1 ‖ E2 ‖ E3.

        ``randomness`` (1..r-1) is for known-answer tests only; by default it is fresh from
        the operating system's CSPRNG for every call, because whoever learns it can strip
        the encryption (``k = E3 − tpk·r``). Raises `ValueError` for a transport key that
        is not a G1 point (`is_valid_transport_public_key`).
        """
        if not is_valid_transport_public_key(transport_public_key):
            raise ValueError("the transport public key is not a compressed BLS12-381 G1 point")
        public_key, secret = self._derived(canister_id, context)
        key = _augmented_hash(public_key, input_).scalar_mul(secret)
        r = secrets.randbelow(CURVE_ORDER - 1) + 1 if randomness is None else randomness
        tpk = BlstP1Element.uncompress(transport_public_key)
        return (bytes(_G1.scalar_mul(r).compress()) + bytes(_G2.scalar_mul(r).compress())
                + bytes((tpk.scalar_mul(r) + key).compress()))


def _split(encrypted_key: bytes) -> tuple[BlstP1Element, BlstP2Element, BlstP1Element]:
    if len(encrypted_key) != ENCRYPTED_KEY_BYTES:
        raise ValueError(
            f"an encrypted vetKey is {ENCRYPTED_KEY_BYTES} bytes, not {len(encrypted_key)}")
    try:
        return (BlstP1Element.uncompress(encrypted_key[:G1_BYTES]),
                BlstP2Element.uncompress(encrypted_key[G1_BYTES:G1_BYTES + G2_BYTES]),
                BlstP1Element.uncompress(encrypted_key[G1_BYTES + G2_BYTES:]))
    except ValueError:
        raise ValueError("an encrypted vetKey holds points that are not in the subgroups") from None


def encrypted_key_is_well_formed(encrypted_key: bytes, transport_public_key: bytes,
                                 derived_public_key: bytes, input_: bytes) -> bool:
    """The pairing checks a client makes before decrypting (as the IC's crypto does):
    ``e(E1, g2) = e(g1, E2)`` (same ``r`` in both) and
    ``e(E3, g2) = e(tpk, E2) · e(H(dpk ‖ input), dpk)`` (E3 hides the right vetKey)."""
    e1, e2, e3 = _split(encrypted_key)
    tpk = BlstP1Element.uncompress(transport_public_key)
    dpk = _g2_point(derived_public_key, "the derived public key")
    same_r = final_verify(miller_loop(e1, _G2), miller_loop(_G1, e2))
    rhs = miller_loop(tpk, e2) * miller_loop(_augmented_hash(derived_public_key, input_), dpk)
    return bool(same_r) and bool(final_verify(miller_loop(e3, _G2), rhs))


def decrypt_vetkey(encrypted_key: bytes, transport_secret: int) -> bytes:
    """The vetKey inside ``encrypted_key`` (48 bytes): ``E3 − tsk·E1``, unverified."""
    e1, _e2, e3 = _split(encrypted_key)
    return bytes((e3 + -e1.scalar_mul(transport_secret)).compress())


def verify_vetkey(vetkey: bytes, derived_public_key: bytes, input_: bytes) -> bool:
    """Whether ``vetkey`` is the BLS signature of ``input_`` under ``derived_public_key``:
    ``e(k, g2) = e(H(dpk ‖ input), dpk)``; the identity is refused."""
    if len(vetkey) != G1_BYTES:
        return False
    try:
        point = BlstP1Element.uncompress(vetkey)
        dpk = _g2_point(derived_public_key, "the derived public key")
    except ValueError:
        return False
    if point == BlstP1Element():
        return False
    return bool(final_verify(miller_loop(point, _G2),
                             miller_loop(_augmented_hash(derived_public_key, input_), dpk)))
