// The browser's own key: one non-extractable WebCrypto key per origin, kept in IndexedDB.
//
// `browserIdentity({ legacyStorageKeys })` resolves with a SignIdentity for
// @dfinity/agent (and the canister socket) whose private key never exists as bytes a
// script can read: it is a CryptoKey made with extractable = false and stored as such
// (IndexedDB keeps CryptoKey objects, not their bytes), as @dfinity/auth-client keeps
// its ECDSAKeyIdentity. A new browser gets an ECDSA P-256 key (what WebCrypto makes
// everywhere; the replica verifies P-256 signatures). Every page of the origin (chat,
// marketplace) shares that one key, so a user has one principal across the apps.
//
// Pages before this kept an extractable Ed25519 key in localStorage (the JSON of
// Ed25519KeyIdentity.toJSON: DER public key and seed, in hex). The first page that
// finds no key in IndexedDB imports the first such entry it is given into a
// non-extractable WebCrypto Ed25519 key, so the user keeps that principal; where the
// browser has no WebCrypto Ed25519, or the entry does not parse or sign, it is dropped
// and a new key made. Either way every given localStorage entry is deleted: a key in
// localStorage can be read by any script that ever runs on the origin.
//
// `signCallEnvelope(identity, { canisterId, methodName, arg })` signs an IC call
// envelope (CBOR bytes, as the agent would POST to /api/v3/.../call) for a server-side
// endpoint that wants proof of the caller's principal, such as the marketplace faucet.

import { Cbor, Expiry, SignIdentity } from '@dfinity/agent';
import { ECDSAKeyIdentity, Ed25519PublicKey } from '@dfinity/identity';
import { Principal } from '@dfinity/principal';

const DB_NAME = 'icframework';
const DB_VERSION = 1;
const STORE = 'keys';
const RECORD = 'browser';
const ED25519_PKCS8_PREFIX = Uint8Array.from(
  [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const ENVELOPE_EXPIRY_MS = 4 * 60 * 1000;

// An Ed25519 key held by WebCrypto: signs with crypto.subtle, never shows its seed.
export class WebCryptoEd25519Identity extends SignIdentity {
  constructor(privateKey, publicKeyDer) {
    super();
    this.privateKey = privateKey;
    this.publicKey = Ed25519PublicKey.fromDer(publicKeyDer);
  }

  getPublicKey() { return this.publicKey; }

  async sign(blob) {
    return new Uint8Array(await crypto.subtle.sign('Ed25519', this.privateKey, blob));
  }
}

function request(operation) {
  return new Promise((resolve, reject) => {
    operation.onsuccess = () => resolve(operation.result);
    operation.onerror = () => reject(operation.error);
  });
}

function openDatabase() {
  const opening = indexedDB.open(DB_NAME, DB_VERSION);
  opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
  return request(opening);
}

async function readRecord(db) {
  return request(db.transaction(STORE, 'readonly').objectStore(STORE).get(RECORD));
}

// Store `record` unless another page of the origin stored one first; the stored one wins.
async function storeOnce(db, record) {
  try {
    await request(db.transaction(STORE, 'readwrite').objectStore(STORE).add(record, RECORD));
    return record;
  } catch (error) {
    if (error && error.name === 'ConstraintError') return readRecord(db);
    throw error;
  }
}

async function identityOf(record) {
  if (record.algorithm === 'Ed25519') {
    const der = new Uint8Array(await crypto.subtle.exportKey('spki', record.publicKey));
    return new WebCryptoEd25519Identity(record.privateKey, der);
  }
  return ECDSAKeyIdentity.fromKeyPair({ privateKey: record.privateKey, publicKey: record.publicKey });
}

function fromHex(text) {
  if (typeof text !== 'string' || !/^([0-9a-f]{2})+$/i.test(text)) throw new Error('not hex');
  return Uint8Array.from(text.match(/../g), (pair) => parseInt(pair, 16));
}

// The legacy localStorage entry as a non-extractable WebCrypto Ed25519 record, or null.
async function importLegacy(saved) {
  try {
    const [derHex, secretHex] = JSON.parse(saved);
    const der = fromHex(derHex);
    const seed = fromHex(secretHex).slice(0, 32);
    if (der.length !== 44 || seed.length !== 32) return null;
    const pkcs8 = new Uint8Array(ED25519_PKCS8_PREFIX.length + 32);
    pkcs8.set(ED25519_PKCS8_PREFIX);
    pkcs8.set(seed, ED25519_PKCS8_PREFIX.length);
    const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, 'Ed25519', false, ['sign']);
    const publicKey = await crypto.subtle.importKey('spki', der, 'Ed25519', true, ['verify']);
    // The pair must belong together, or the user would sign as nobody.
    const probe = new TextEncoder().encode('icframework key migration');
    const signature = await crypto.subtle.sign('Ed25519', privateKey, probe);
    if (!(await crypto.subtle.verify('Ed25519', publicKey, signature, probe))) return null;
    return { algorithm: 'Ed25519', privateKey, publicKey };
  } catch (error) {
    return null;  // no WebCrypto Ed25519 in this browser, or an entry that does not parse
  }
}

async function newRecord() {
  const pair = await crypto.subtle.generateKey(
    { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  return { algorithm: 'ECDSA-P256', privateKey: pair.privateKey, publicKey: pair.publicKey };
}

export async function browserIdentity({ legacyStorageKeys = [] } = {}) {
  const db = await openDatabase();
  try {
    let record = await readRecord(db);
    if (!record) {
      for (const name of legacyStorageKeys) {
        const saved = localStorage.getItem(name);
        record = saved ? await importLegacy(saved) : null;
        if (record) break;
      }
      record = await storeOnce(db, record || await newRecord());
    }
    for (const name of legacyStorageKeys) localStorage.removeItem(name);
    return await identityOf(record);
  } finally {
    db.close();
  }
}

export async function signCallEnvelope(identity, { canisterId, methodName, arg }) {
  const content = {
    request_type: 'call',
    canister_id: Principal.from(canisterId),
    method_name: methodName,
    arg: new Uint8Array(arg),
    sender: identity.getPrincipal(),
    ingress_expiry: Expiry.fromDeltaInMilliseconds(ENVELOPE_EXPIRY_MS),
    nonce: crypto.getRandomValues(new Uint8Array(16)),
  };
  const { body } = await identity.transformRequest({ request: {}, endpoint: 'call', body: content });
  return Cbor.encode(body);
}
