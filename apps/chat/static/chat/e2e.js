// End-to-end encryption of direct messages, in the page (docs/chat.md "End-to-end-encrypted
// direct messages").
//
// A direct room's key is the chat canister's vetKey for that room. The page makes a
// fresh transport key pair (@dfinity/vetkeys, in the framework bundle), asks the
// canister for the room's key encrypted to it (`e2e_key`), decrypts and verifies it
// against the room's derived public key, and keeps only non-extractable WebCrypto keys:
// the HKDF key material (cached in IndexedDB with the room's public key, so a reload
// needs only a query, `e2e_public_key`, to check it still belongs to the room: a new
// replica state has new master keys) and the AES-GCM key derived from it. Message bodies are AES-GCM with a fresh 12-byte nonce;
// the canister stores the ciphertext and the nonce, never the text. The key depends on
// the room, not on the browser, so the same user on a new device, or the other member,
// derives the same key and reads the whole history.

import {
  DerivedKeyMaterial, DerivedPublicKey, EncryptedVetKey, TransportSecretKey,
} from '../icframework/ic.js';

const DOMAIN = 'icframework.chat.dm/v1 message';
const NONCE_BYTES = 12;
const DB_NAME = 'icframework.chat.e2e';
const STORE = 'keys';

const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function stored(name, value) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, value === undefined ? 'readonly' : 'readwrite');
      const request = value === undefined
        ? tx.objectStore(STORE).get(name)
        : tx.objectStore(STORE).put(value, name);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  } finally {
    db.close();
  }
}

export class DirectKeys {
  // `chat`: the canister actor; `scope`: who holds the keys (canister id and principal),
  // so two identities of one browser never share an entry.
  constructor(chat, scope) {
    this.chat = chat;
    this.scope = scope;
    this.keys = new Map();      // room id (string) -> Promise<CryptoKey> (AES-GCM)
  }

  // The room's AES-GCM key: from IndexedDB, else derived from a fresh vetKey.
  key(roomId) {
    const id = String(roomId);
    if (!this.keys.has(id)) {
      const made = this.derive(roomId);
      made.catch(() => this.keys.delete(id));
      this.keys.set(id, made);
    }
    return this.keys.get(id);
  }

  async derive(roomId) {
    const name = `${this.scope}:${roomId}`;
    const cached = await stored(name).catch(() => undefined);
    let material = null;
    if (cached) {
      const current = await this.chat.e2e_public_key(roomId);
      if (current.length && hex(current[0]) === cached.publicKey) material = cached.material;
    }
    if (!material) {
      const transport = TransportSecretKey.random();
      const reply = await this.chat.e2e_key(roomId, transport.publicKeyBytes());
      const vetKey = EncryptedVetKey.deserialize(new Uint8Array(reply.encrypted_key)).decryptAndVerify(
        transport, DerivedPublicKey.deserialize(new Uint8Array(reply.public_key)), new Uint8Array(reply.input),
      );
      material = (await vetKey.asDerivedKeyMaterial()).getCryptoKey();
      const entry = { material, publicKey: hex(reply.public_key) };
      await stored(name, entry).catch(() => {});   // private browsing: no cache, still works
    }
    return DerivedKeyMaterial.fromCryptoKey(material).deriveAesGcmCryptoKey(DOMAIN);
  }

  // `Sealed` for the canister: { ciphertext, nonce } of `text`.
  async seal(roomId, text) {
    const key = await this.key(roomId);
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    const ciphertext = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce }, key,
      new TextEncoder().encode(text));
    return { ciphertext: new Uint8Array(ciphertext), nonce };
  }

  // The text of a `Sealed` body; throws if it does not decrypt (wrong key, altered).
  async open(roomId, sealed) {
    const key = await this.key(roomId);
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(sealed.nonce) }, key,
      new Uint8Array(sealed.ciphertext));
    return new TextDecoder().decode(plain);
  }
}
