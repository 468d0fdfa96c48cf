"""Layer 2: the IC HTTP-interface wire protocol as pure functions and frozen dataclasses.

No sockets and no Django here (sans-IO): the replica's views and the agent's client
are adapters around these pieces.

* `request_id` — the representation-independent hash (`hash_of_map`, `request_id`)
  and the domain separators.
* `envelope` — request contents, building and signing envelopes, parsing and
  validating request bodies (`decode_request`), and the ingress-expiry window.
* `delegation` — signing and verifying request delegation chains.
* `hashtree` — hash trees: CBOR, root hashes, lookup, building and pruning.
* `certificate` — BLS-signed certificates and subnet delegations.
* `response` — node signatures on query responses.

Depends on `icframework.core` and `icframework.identity` only.
"""

from icframework.protocol._bls import BlsKeyPair, bls_verify
from icframework.protocol.certificate import (
    Certificate,
    CertificateDelegation,
    decode_canister_ranges,
    encode_canister_ranges,
    make_subnet_delegation,
    parse_certificate,
    sign_certificate,
    verify_certificate,
)
from icframework.protocol.delegation import (
    create_delegation_chain,
    delegation_signing_payload,
    verify_delegation_chain,
)
from icframework.protocol.envelope import (
    CallContent,
    Content,
    Envelope,
    QueryContent,
    ReadStateContent,
    check_ingress_expiry,
    decode_request,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from icframework.protocol.errors import (
    AuthenticationError,
    CertificateError,
    HashTreeError,
    IngressExpiryError,
    MalformedRequestError,
    ProtocolError,
)
from icframework.protocol.hashtree import (
    Empty,
    Fork,
    HashTree,
    Labeled,
    Leaf,
    LookupResult,
    LookupStatus,
    Pruned,
    TreeIndex,
    build_tree,
    check_well_formed,
    decode_tree,
    encode_tree,
    index_tree,
    lookup_path,
    lookup_value,
    prune,
    reconstruct,
)
from icframework.protocol.request_id import (
    DELEGATION_DOMAIN,
    REQUEST_DOMAIN,
    RESPONSE_DOMAIN,
    STATE_ROOT_DOMAIN,
    domain_separator,
    hash_of_map,
    hash_value,
    request_id,
)
from icframework.protocol.response import (
    NodeSignature,
    query_response_signing_payload,
    sign_query_response,
    verify_query_response,
)

__all__ = [
    "DELEGATION_DOMAIN",
    "REQUEST_DOMAIN",
    "RESPONSE_DOMAIN",
    "STATE_ROOT_DOMAIN",
    "AuthenticationError",
    "BlsKeyPair",
    "CallContent",
    "Certificate",
    "CertificateDelegation",
    "CertificateError",
    "Content",
    "Empty",
    "Envelope",
    "Fork",
    "HashTree",
    "HashTreeError",
    "IngressExpiryError",
    "Labeled",
    "Leaf",
    "LookupResult",
    "LookupStatus",
    "MalformedRequestError",
    "NodeSignature",
    "ProtocolError",
    "Pruned",
    "QueryContent",
    "ReadStateContent",
    "TreeIndex",
    "bls_verify",
    "build_tree",
    "check_ingress_expiry",
    "check_well_formed",
    "create_delegation_chain",
    "decode_canister_ranges",
    "decode_request",
    "decode_tree",
    "delegation_signing_payload",
    "domain_separator",
    "encode_canister_ranges",
    "encode_tree",
    "hash_of_map",
    "hash_value",
    "index_tree",
    "lookup_path",
    "lookup_value",
    "make_subnet_delegation",
    "parse_certificate",
    "parse_envelope",
    "prune",
    "query_response_signing_payload",
    "reconstruct",
    "request_id",
    "sign_certificate",
    "sign_envelope",
    "sign_query_response",
    "verify_certificate",
    "verify_delegation_chain",
    "verify_envelope",
    "verify_query_response",
]
