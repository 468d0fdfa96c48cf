// The browser bundle's entry: what a page needs to talk to canisters with the user's own key.
//
// Built by `make frontend` (build.mjs) into icframework/static/icframework/ic.js, an ES
// module that pages import from `{% static 'icframework/ic.js' %}`. It carries
// @dfinity/agent (HttpAgent, Actor), @dfinity/candid (IDL), @dfinity/principal, the
// browser's own non-extractable key in IndexedDB and signed envelopes
// (browser-identity.js), the canister socket client (canister-socket.js,
// docs/events.md), the .did reader (did.js), so a page builds its actor from the
// app's .did and never holds a key a script could read, and the vetKeys client
// (@dfinity/vetkeys: transport keys, decrypting and verifying a vetKey, and the AES-GCM
// key material derived from it) for end-to-end encryption in the page.

export {
  Actor, AnonymousIdentity, Certificate, HttpAgent, lookupResultToBuffer,
} from '@dfinity/agent';
export { IDL } from '@dfinity/candid';
export { ECDSAKeyIdentity } from '@dfinity/identity';
export { Principal } from '@dfinity/principal';
export { WebCryptoEd25519Identity, browserIdentity, signCallEnvelope } from './browser-identity.js';
export { CanisterSocket, challengeMessage, socketUrl } from './canister-socket.js';
export { DidSyntaxError, parseDid } from './did.js';
export {
  DerivedKeyMaterial, DerivedPublicKey, EncryptedVetKey, TransportSecretKey,
} from '@dfinity/vetkeys';
