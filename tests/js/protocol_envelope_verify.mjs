// Oracle: check envelopes signed in Python with agent-js request ids and identity key code.
import { Cbor, requestIdOf, IC_REQUEST_DOMAIN_SEPARATOR, IC_REQUEST_AUTH_DELEGATION_DOMAIN_SEPARATOR } from '@dfinity/agent';
import { Ed25519KeyIdentity, Ed25519PublicKey } from '@dfinity/identity';
import { Principal } from '@dfinity/principal';
import { secp256k1 } from '@noble/curves/secp256k1';
import { sha256 } from '@noble/hashes/sha2';
import { readInput, writeOutput, toHex, fromHex } from './protocol_common.mjs';

const ED_PREFIX = '302a300506032b6570032100';
const K1_PREFIX = '3056301006072a8648ce3d020106052b8104000a034200';

function verify(der, message, signature) {
  const hex = toHex(der);
  if (hex.startsWith(ED_PREFIX)) {
    return Ed25519KeyIdentity.verify(signature, message, Ed25519PublicKey.fromDer(der).rawKey);
  }
  if (hex.startsWith(K1_PREFIX)) {
    // noble's default lowS:true also checks our low-S normalisation.
    return secp256k1.verify(signature, sha256(message), der.slice(K1_PREFIX.length / 2));
  }
  throw new Error('unsupported key ' + hex);
}

const { envelopes } = await readInput();
const results = envelopes.map(hex => {
  const env = Cbor.decode(fromHex(hex));
  const requestId = requestIdOf(env.content);
  const sender = Principal.fromUint8Array(new Uint8Array(env.content.sender));
  const selfAuth = Principal.selfAuthenticating(new Uint8Array(env.sender_pubkey));
  let key = new Uint8Array(env.sender_pubkey);
  let delegationsOk = true;
  for (const { delegation, signature } of env.sender_delegation ?? []) {
    const msg = new Uint8Array([...IC_REQUEST_AUTH_DELEGATION_DOMAIN_SEPARATOR, ...requestIdOf(delegation)]);
    delegationsOk = delegationsOk && verify(key, msg, new Uint8Array(signature));
    key = new Uint8Array(delegation.pubkey);
  }
  const msg = new Uint8Array([...IC_REQUEST_DOMAIN_SEPARATOR, ...requestId]);
  return {
    requestId: toHex(requestId),
    senderMatches: sender.toText() === selfAuth.toText(),
    delegationsOk,
    signatureOk: verify(key, msg, new Uint8Array(env.sender_sig)),
  };
});
writeOutput({ results });
