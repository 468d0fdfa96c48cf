// Employment attestations, verified in this browser: the leaf is recomputed from the
// fields the page shows (never taken from the answer), then checked through the
// canister's two-level hash to the certified data of a replica certificate that
// @dfinity/agent verifies (icframework/certified.js). The layout is the one
// apps/social/canister/trust.py documents and certifies.

import {
  bigEndian, principalBytes, sha256, textBytes, verifyBucketed,
} from '../icframework/certified.js';

const LEAF_DOMAIN = textBytes('icframework-social-attestation');
export const BUCKETS = 256;

function field(text) {
  const raw = textBytes(text);
  const out = new Uint8Array(raw.length + 4);
  out.set(bigEndian(raw.length, 4));
  out.set(raw, 4);
  return out;
}

/** The leaf of an `Attestation` record (`trust.leaf_hash`). */
export function attestationLeaf(a) {
  const end = a.end.length ? a.end[0] : '';
  return sha256(LEAF_DOMAIN, bigEndian(a.id, 8), bigEndian(a.org_id, 8), principalBytes(a.member),
    field(a.org_name), field(a.title), field(a.start), field(end));
}

/**
 * Whether `proof` (a `CertifiedAttestation` from the `certified_attestation` query)
 * certifies its attestation's fields: false for a missing certificate or a broken chain;
 * throws when the certificate does not verify.
 */
export async function verifyAttestation(agent, canisterId, proof) {
  if (proof.buckets.length !== BUCKETS) return false;
  const a = proof.attestation;
  return verifyBucketed(agent, canisterId, {
    certificate: proof.certificate.length ? proof.certificate[0] : null,
    leaf: await attestationLeaf(a),
    bucket: proof.bucket,
    buckets: proof.buckets,
    index: a.id,
  });
}
