// Checks a `certified_listing` proof in the browser, before paying: the replica's
// certificate (its BLS signature and the subnet's delegation, by @dfinity/agent's
// Certificate), then the chain of hashes from the listing's fields to the
// canister's certified data it reveals. The same check as the canister's
// `certify.verify` (Python); the hashes are in apps/marketplace/canister/certify.py.

import { Certificate, lookupResultToBuffer } from '../icframework/ic.js';

const BUCKETS = 256;
const LEAF_DOMAIN = new TextEncoder().encode('icframework-market-listing');

async function sha256(...parts) {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const joined = new Uint8Array(size);
  let at = 0;
  for (const part of parts) { joined.set(part, at); at += part.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', joined));
}

function bigEndian(value, width) {
  const out = new Uint8Array(width);
  let rest = BigInt(value);
  for (let i = width - 1; i >= 0; i -= 1) { out[i] = Number(rest & 0xffn); rest >>= 8n; }
  if (rest !== 0n) throw new Error(`${value} does not fit in ${width} bytes`);
  return out;
}

function same(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** The listing's leaf hash (`certify.leaf_hash`). */
export async function leafHash(listingId, seller, price, available, status) {
  const raw = seller.toUint8Array();
  return sha256(LEAF_DOMAIN, bigEndian(listingId, 8), Uint8Array.of(raw.length), raw,
    bigEndian(price, 16), bigEndian(available, 4), new TextEncoder().encode(status));
}

/**
 * Whether `fields` ({ listingId, seller, price, available, status }) are what the
 * canister certified, by `proof` (a `certified_listing` answer). Throws if the
 * certificate itself does not verify (a forged or foreign replica answer).
 */
export async function verifyListing(agent, canisterId, proof, fields) {
  const certificate = proof.certificate[0];
  if (!certificate) return false;  // an update call's answer carries none
  const cert = await Certificate.create({
    certificate: new Uint8Array(certificate), rootKey: agent.rootKey, canisterId,
  });
  const certified = lookupResultToBuffer(
    cert.lookup_path(['canister', canisterId.toUint8Array(), 'certified_data']));
  if (!certified) return false;
  const buckets = proof.buckets.map((b) => new Uint8Array(b));
  const bucket = proof.bucket.map((b) => new Uint8Array(b));
  if (buckets.length !== BUCKETS) return false;
  const leaf = await leafHash(fields.listingId, fields.seller, fields.price, fields.available,
    fields.status);
  if (!bucket.some((l) => same(l, leaf))) return false;
  const bucketHash = bucket.length ? await sha256(...bucket) : new Uint8Array(32);
  if (!same(buckets[Number(BigInt(fields.listingId) % BigInt(BUCKETS))], bucketHash)) return false;
  return same(await sha256(...buckets), new Uint8Array(certified));
}
