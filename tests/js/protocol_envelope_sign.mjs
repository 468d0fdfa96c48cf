// Oracle: request bodies exactly as @dfinity/agent's HttpAgent posts them, for several identities.
import { HttpAgent, Cbor, SignIdentity, requestIdOf } from '@dfinity/agent';
import { Ed25519KeyIdentity, ECDSAKeyIdentity, DelegationChain, DelegationIdentity } from '@dfinity/identity';
import { Principal } from '@dfinity/principal';
import { secp256k1 } from '@noble/curves/secp256k1';
import { sha256 } from '@noble/hashes/sha2';
import { readInput, writeOutput, toHex, fromHex } from './protocol_common.mjs';

// @dfinity/identity 3.x moved Secp256k1KeyIdentity out; this mirrors what it does with noble.
class Secp256k1Identity extends SignIdentity {
  constructor(secret) {
    super();
    this.secret = secret;
    const raw = secp256k1.getPublicKey(secret, false);
    const der = new Uint8Array([...fromHex('3056301006072a8648ce3d020106052b8104000a034200'), ...raw]);
    this.publicKey = { toDer: () => der, derKey: der, rawKey: raw };
  }
  getPublicKey() {
    return this.publicKey;
  }
  async sign(blob) {
    return secp256k1.sign(sha256(blob), this.secret, { lowS: true }).toCompactRawBytes();
  }
}

const { canisterId, otherCanisterId } = await readInput();
const captured = [];
const fakeFetch = async (url, init) => {
  captured.push({ url: String(url), body: toHex(new Uint8Array(init.body)) });
  if (String(url).endsWith('/query')) {
    const reply = Cbor.encode({ status: 'replied', reply: { arg: new Uint8Array([68, 73, 68, 76, 0, 0]) } });
    return new Response(reply, { status: 200 });
  }
  return new Response(new Uint8Array(), { status: 202 });
};

async function capture(name, identity, action) {
  const agent = HttpAgent.createSync({
    host: 'http://127.0.0.1:1',
    fetch: fakeFetch,
    identity,
    verifyQuerySignatures: false,
    retryTimes: 0,
  });
  captured.length = 0;
  await action(agent);
  const last = captured[captured.length - 1];
  return { name, url: last.url, body: last.body, principal: identity.getPrincipal().toText() };
}

const arg = new Uint8Array([68, 73, 68, 76, 0, 1, 113, 2, 104, 105]);
const call = agent => agent.call(canisterId, { methodName: 'greet', arg, callSync: false });
const query = agent => agent.query(canisterId, { methodName: 'greet', arg });

const ed = Ed25519KeyIdentity.generate();
const ecdsa = await ECDSAKeyIdentity.generate();
const k1 = new Secp256k1Identity(secp256k1.utils.randomPrivateKey());
const session = Ed25519KeyIdentity.generate();
const middle = await ECDSAKeyIdentity.generate();
const expiry = new Date(Date.now() + 15 * 60 * 1000);
const first = await DelegationChain.create(ed, middle.getPublicKey(), expiry, {
  targets: [Principal.fromText(canisterId), Principal.fromText(otherCanisterId)],
});
const chain = await DelegationChain.create(middle, session.getPublicKey(), expiry, { previous: first });
const delegated = DelegationIdentity.fromDelegation(session, chain);

const out = [];
out.push(await capture('ed25519-call', ed, call));
out.push(await capture('ed25519-query', ed, query));
out.push(await capture('p256-query', ecdsa, query));
out.push(await capture('secp256k1-call', k1, call));
out.push(await capture('delegation-call', delegated, call));
// read_state as the polling code builds it.
const rsAgent = HttpAgent.createSync({ host: 'http://127.0.0.1:1', fetch: fakeFetch, identity: ed });
const rs = await rsAgent.createReadStateRequest(
  { paths: [[new TextEncoder().encode('request_status'), new Uint8Array(32).fill(7)], [new TextEncoder().encode('time')]] },
  ed,
);
out.push({ name: 'ed25519-read-state', url: '', body: toHex(Cbor.encode(rs.body)), principal: ed.getPrincipal().toText() });
out.push({ name: 'delegation-chain-json', chain: JSON.stringify(chain.toJSON()), principal: delegated.getPrincipal().toText() });
writeOutput({ envelopes: out, requestIdCheck: toHex(requestIdOf({ a: 1n })) });
