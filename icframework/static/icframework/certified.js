// Certified data, checked in the browser: a canister's answer is trusted only after the
// replica's certificate verifies (its BLS signature and the subnet's delegation, by
// @dfinity/agent's Certificate) and a chain of SHA-256 hashes leads from the answer's
// fields to the `certified_data` that certificate reveals for the canister.
//
// Apps certify with a two-level hash (as apps/marketplace/canister/certify.py does):
// records fall into N buckets by `id % N`; a bucket's hash is the SHA-256 of its leaves in
// id order (32 zero bytes when empty), and the certified data is the SHA-256 of the N
// bucket hashes end to end. `verifyBucketed` checks one leaf against such a proof; the
// app computes the leaf from the fields it is about to show (with `sha256`, `bigEndian`,
// `principalBytes`, `textBytes`), so a changed field, bucket or certificate fails.

import { Certificate, lookupResultToBuffer } from './ic.js';

const EMPTY = new Uint8Array(32);

/** SHA-256 of the byte arrays `parts` joined. */
export async function sha256(...parts) {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const joined = new Uint8Array(size);
  let at = 0;
  for (const part of parts) { joined.set(part, at); at += part.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', joined));
}

/** `value` (a number or bigint) as `width` big-endian bytes; throws if it does not fit. */
export function bigEndian(value, width) {
  const out = new Uint8Array(width);
  let rest = BigInt(value);
  if (rest < 0n) throw new Error(`${value} is negative: only unsigned values are hashed`);
  for (let i = width - 1; i >= 0; i -= 1) { out[i] = Number(rest & 0xffn); rest >>= 8n; }
  if (rest !== 0n) throw new Error(`${value} does not fit in ${width} bytes`);
  return out;
}

/** A principal's raw bytes prefixed with their length (one byte). */
export function principalBytes(principal) {
  const raw = principal.toUint8Array();
  const out = new Uint8Array(raw.length + 1);
  out[0] = raw.length;
  out.set(raw, 1);
  return out;
}

/** UTF-8 bytes of `text`. */
export function textBytes(text) {
  return new TextEncoder().encode(text);
}

/** Whether two byte arrays are equal. */
export function same(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * The canister's certified data revealed by `certificate` (bytes of a data certificate,
 * as `ic.data_certificate()` gives a query), or null when the certificate reveals none.
 * Throws when the certificate itself does not verify against the agent's root key (a
 * forged or foreign answer).
 */
export async function certifiedData(agent, canisterId, certificate) {
  const cert = await Certificate.create({
    certificate: new Uint8Array(certificate), rootKey: agent.rootKey, canisterId,
  });
  const found = lookupResultToBuffer(
    cert.lookup_path(['canister', canisterId.toUint8Array(), 'certified_data']));
  return found ? new Uint8Array(found) : null;
}

/**
 * Whether `leaf` is certified through the two-level hash: `bucket` is the leaves of its
 * bucket, `buckets` every bucket hash, `index` the record's id (its bucket is
 * `index % buckets.length`), `certificate` the data certificate (null or empty when the
 * answer came from an update call, which carries none: then false). Throws when the
 * certificate does not verify.
 */
export async function verifyBucketed(agent, canisterId, { certificate, leaf, bucket, buckets, index }) {
  if (!certificate || !certificate.length || !buckets.length) return false;
  const certified = await certifiedData(agent, canisterId, certificate);
  if (!certified) return false;
  const leaves = bucket.map((l) => new Uint8Array(l));
  const hashes = buckets.map((b) => new Uint8Array(b));
  if (!leaves.some((l) => same(l, leaf))) return false;
  const bucketHash = leaves.length ? await sha256(...leaves) : EMPTY;
  const at = Number(BigInt(index) % BigInt(hashes.length));
  if (!same(hashes[at], bucketHash)) return false;
  return same(await sha256(...hashes), certified);
}
