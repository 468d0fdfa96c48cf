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
//
// Sealed attachments use a second AES-GCM key derived from the same material (its own
// domain, so a file chunk can never pass for a message): each chunk of `SEALED_CHUNK_BYTES`
// stored bytes is a fresh 12-byte nonce, then the ciphertext and 16-byte tag of up to
// `PLAIN_CHUNK_BYTES` of the file, with the attachment id, the chunk's index and the
// number of chunks as associated data, so the canister cannot reorder, swap or drop
// chunks unnoticed (docs/chat.md "Sealed attachments").

import {
  DerivedKeyMaterial, DerivedPublicKey, EncryptedVetKey, TransportSecretKey,
} from '../icframework/ic.js';

const DOMAIN = 'icframework.chat.dm/v1 message';
const FILE_DOMAIN = 'icframework.chat.dm/v1 file';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SEALED_CHUNK_BYTES = 1024 * 1024;   // the canister's ATTACHMENT_CHUNK_BYTES
export const PLAIN_CHUNK_BYTES = SEALED_CHUNK_BYTES - NONCE_BYTES - TAG_BYTES;
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
    this.materials = new Map(); // room id (string) -> Promise<CryptoKey> (HKDF material)
    this.keys = new Map();      // `${domain}|${room id}` -> Promise<CryptoKey> (AES-GCM)
  }

  // The room's AES-GCM key for `domain` (messages or files), from its key material.
  key(roomId, domain = DOMAIN) {
    const id = `${domain}|${roomId}`;
    if (!this.keys.has(id)) {
      const made = this.material(roomId).then(
        (material) => DerivedKeyMaterial.fromCryptoKey(material).deriveAesGcmCryptoKey(domain));
      made.catch(() => this.keys.delete(id));
      this.keys.set(id, made);
    }
    return this.keys.get(id);
  }

  // The room's key material: from IndexedDB, else from a fresh vetKey.
  material(roomId) {
    const id = String(roomId);
    if (!this.materials.has(id)) {
      const made = this.derive(roomId);
      made.catch(() => this.materials.delete(id));
      this.materials.set(id, made);
    }
    return this.materials.get(id);
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
    return material;
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

  // The stored bytes of a sealed file: `chunks` of `SEALED_CHUNK_BYTES` (the last shorter),
  // each `nonce ‖ ciphertext ‖ tag` of `PLAIN_CHUNK_BYTES` of `bytes`.
  async sealFile(roomId, attachmentId, bytes) {
    const key = await this.key(roomId, FILE_DOMAIN);
    const chunks = sealedChunkCount(bytes.length);
    const out = [];
    for (let index = 0; index < chunks; index += 1) {
      const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
      const sealed = await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv: nonce, additionalData: fileChunkData(attachmentId, index, chunks) },
        key, bytes.subarray(index * PLAIN_CHUNK_BYTES, (index + 1) * PLAIN_CHUNK_BYTES));
      const chunk = new Uint8Array(NONCE_BYTES + sealed.byteLength);
      chunk.set(nonce);
      chunk.set(new Uint8Array(sealed), NONCE_BYTES);
      out.push(chunk);
    }
    return out;
  }

  // The file in a sealed attachment's stored bytes; throws if a chunk does not decrypt.
  async openFile(roomId, attachmentId, body) {
    const key = await this.key(roomId, FILE_DOMAIN);
    const bytes = new Uint8Array(body);
    const chunks = Math.ceil(bytes.length / SEALED_CHUNK_BYTES);
    const parts = [];
    for (let index = 0; index < chunks; index += 1) {
      const chunk = bytes.subarray(index * SEALED_CHUNK_BYTES, (index + 1) * SEALED_CHUNK_BYTES);
      parts.push(await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: chunk.subarray(0, NONCE_BYTES), additionalData: fileChunkData(attachmentId, index, chunks) },
        key, chunk.subarray(NONCE_BYTES)));
    }
    return parts;
  }
}

// How many chunks a sealed file of `size` bytes takes, and the bytes it is stored as.
export const sealedChunkCount = (size) => Math.max(1, Math.ceil(size / PLAIN_CHUNK_BYTES));
export const sealedSize = (size) => size + sealedChunkCount(size) * (NONCE_BYTES + TAG_BYTES);

const fileChunkData = (attachmentId, index, chunks) => new TextEncoder().encode(
  `${FILE_DOMAIN} ${attachmentId} ${index}/${chunks}`);
