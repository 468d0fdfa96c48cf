"""vetKD in the replica: the BLS12-381 arithmetic (`crypto`, sans-IO) and the management
canister's ``vetkd_public_key`` / ``vetkd_derive_key`` with the subnet's master keys
(`methods`). See docs/vetkd.md.
"""

from icframework.replica.vetkd.crypto import (
    CURVE_ORDER,
    ENCRYPTED_KEY_BYTES,
    MasterKey,
    decrypt_vetkey,
    derive_canister_public_key,
    derive_context_public_key,
    derive_public_key,
    encrypted_key_is_well_formed,
    expand_message_xmd,
    hash_to_scalar,
    is_valid_transport_public_key,
    verify_vetkey,
)
from icframework.replica.vetkd.methods import (
    UnroutableRequest,
    master_key,
    vetkd_derive_key,
    vetkd_public_key,
)

__all__ = [
    "CURVE_ORDER",
    "ENCRYPTED_KEY_BYTES",
    "MasterKey",
    "UnroutableRequest",
    "decrypt_vetkey",
    "derive_canister_public_key",
    "derive_context_public_key",
    "derive_public_key",
    "encrypted_key_is_well_formed",
    "expand_message_xmd",
    "hash_to_scalar",
    "is_valid_transport_public_key",
    "master_key",
    "verify_vetkey",
    "vetkd_derive_key",
    "vetkd_public_key",
]
