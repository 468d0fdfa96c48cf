// Signs call envelopes with the bundle's signCallEnvelope: a new non-extractable P-256
// key (as browserIdentity makes) and a WebCrypto Ed25519 key imported non-extractable
// (as a migrated localStorage key becomes). In: { canisterId, methodName, argHex,
// seedHex }; out: { p256, ed25519 } (hex CBOR envelopes) and the principals.
import { readFileSync } from 'node:fs';
import { ECDSAKeyIdentity, IDL, WebCryptoEd25519Identity, signCallEnvelope } from '../../icframework/static/icframework/ic.js';

const input = JSON.parse(readFileSync(0, 'utf8'));
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const fromHex = (text) => Uint8Array.from(Buffer.from(text, 'hex'));
const call = { canisterId: input.canisterId, methodName: input.methodName, arg: fromHex(input.argHex) };

const p256 = await ECDSAKeyIdentity.generate({ extractable: false });
const pkcs8 = new Uint8Array([...fromHex('302e020100300506032b657004220420'), ...fromHex(input.seedHex)]);
const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, 'Ed25519', false, ['sign']);
const ed25519 = new WebCryptoEd25519Identity(privateKey, fromHex(input.derHex));
console.log(JSON.stringify({
  p256: hex(await signCallEnvelope(p256, call)),
  p256Principal: p256.getPrincipal().toText(),
  ed25519: hex(await signCallEnvelope(ed25519, call)),
  ed25519Principal: ed25519.getPrincipal().toText(),
  emptyArgHex: hex(IDL.encode([], [])),
}));
