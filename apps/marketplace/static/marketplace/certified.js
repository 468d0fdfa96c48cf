// Checks a `certified_listing` proof in the browser, before paying: the replica's
// certificate (its BLS signature and the subnet's delegation, by @dfinity/agent's
// Certificate), then the chain of hashes from the listing's fields to the listings'
// root, which must be the `listings` leaf of the proof's hash tree (the witness), whose
// root hash must be the canister's certified data the certificate reveals. The same
// check as the canister's `certify.verify` (Python); the hashes are in
// apps/marketplace/canister/certify.py and certified_http.py.

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

const TEXT = new TextEncoder();
const domain = (name) => Uint8Array.of(name.length, ...TEXT.encode(name));

// The hash tree of the witness (IC CBOR: arrays of a node tag and byte strings).
function decodeTree(bytes) {
  let at = (bytes[0] === 0xd9 && bytes[1] === 0xd9 && bytes[2] === 0xf7) ? 3 : 0;
  const head = () => {
    if (at >= bytes.length) throw new Error('the hash tree ends early');
    const first = bytes[at]; at += 1;
    const major = first >> 5; let n = first & 31;
    if (n >= 24) {
      const width = { 24: 1, 25: 2, 26: 4, 27: 8 }[n];
      if (!width) throw new Error('bad CBOR in the hash tree');
      n = 0;
      for (let i = 0; i < width; i += 1) { n = n * 256 + bytes[at]; at += 1; }
    }
    return { major, n };
  };
  const blob = () => {
    const { major, n } = head();
    if (major !== 2 || at + n > bytes.length) throw new Error('expected bytes in the hash tree');
    at += n;
    return bytes.slice(at - n, at);
  };
  const node = (depth) => {
    if (depth > 128) throw new Error('the hash tree is nested too deeply');
    const array = head();
    const tag = head();
    if (array.major !== 4 || tag.major !== 0) throw new Error('expected a hash tree node');
    if (tag.n === 0) return ['empty'];
    if (tag.n === 1) return ['fork', node(depth + 1), node(depth + 1)];
    if (tag.n === 2) return ['labeled', blob(), node(depth + 1)];
    if (tag.n === 3) return ['leaf', blob()];
    if (tag.n === 4) return ['pruned', blob()];
    throw new Error(`unknown hash tree node ${tag.n}`);
  };
  const tree = node(0);
  if (at !== bytes.length) throw new Error('bytes after the hash tree');
  return tree;
}

async function reconstruct(tree) {
  const [kind] = tree;
  if (kind === 'empty') return sha256(domain('ic-hashtree-empty'));
  if (kind === 'fork') return sha256(domain('ic-hashtree-fork'), await reconstruct(tree[1]), await reconstruct(tree[2]));
  if (kind === 'labeled') return sha256(domain('ic-hashtree-labeled'), tree[1], await reconstruct(tree[2]));
  if (kind === 'leaf') return sha256(domain('ic-hashtree-leaf'), tree[1]);
  return tree[1];
}

function lookupLabel(tree, label) {
  if (tree[0] === 'fork') return lookupLabel(tree[1], label) || lookupLabel(tree[2], label);
  if (tree[0] === 'labeled' && same(tree[1], label)) return tree[2];
  return null;
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
  let tree;
  try { tree = decodeTree(new Uint8Array(proof.witness)); } catch (error) { return false; }
  const listings = lookupLabel(tree, TEXT.encode('listings'));
  if (!listings || listings[0] !== 'leaf' || !same(listings[1], await sha256(...buckets))) return false;
  return same(await reconstruct(tree), new Uint8Array(certified));
}
