// Unmodified @dfinity/agent 3.x against a served NON-ROOT subnet: every certificate the
// replica hands out carries the root key's delegation, and agent-js verifies it with its
// defaults (v3 call certificates, read_state polling, query node signatures through a
// delegated /subnet read_state, and a data certificate checked with Certificate.create).
// Input (stdin JSON): {host, rootKey: hex the test expects, subnetId, counter, certifier,
// stray: a canister id outside the subnet's delegated range}. Output: JSON of what happened.
import { Actor, Certificate, HttpAgent, pollForResponse } from '@dfinity/agent';
import { Principal } from '@dfinity/principal';
import { readInput, writeOutput, toHex } from './protocol_common.mjs';

const input = await readInput();
const counterId = Principal.fromText(input.counter);
const certifierId = Principal.fromText(input.certifier);
const stray = Principal.fromText(input.stray);
const utf8 = text => new TextEncoder().encode(text);
const out = {};

const describe = error => ({
  name: error?.name,
  codeName: error?.code?.name,
  message: String(error?.message ?? error).slice(0, 400),
});

const counterIdl = ({ IDL }) =>
  IDL.Service({
    inc: IDL.Func([], [IDL.Nat], []),
    get: IDL.Func([], [IDL.Nat], ['query']),
  });

try {
  // The root key from /api/v2/status, as a developer's local agent takes it.
  const fetched = await HttpAgent.create({ host: input.host, shouldFetchRootKey: true });
  out.statusRootKey = toHex(fetched.rootKey);

  // From here on the agent is given the root key and nothing else.
  const agent = await HttpAgent.create({ host: input.host, rootKey: fetched.rootKey });

  // v3 calls (certificate with delegation, checked against the canister's range) and a
  // query whose node signature is checked with keys read from the delegated /subnet.
  const counter = Actor.createActor(counterIdl, { agent, canisterId: counterId });
  out.inc1 = String(await counter.inc());
  out.inc2 = String(await counter.inc());
  out.get = String(await counter.get());

  // The certifying canister: a v2 call polled through read_state sets its certified data,
  // then a query returns the data certificate (ic0.data_certificate_copy).
  const data = utf8(input.certifiedData);
  const submitted = await agent.call(certifierId, {
    methodName: 'certify',
    arg: data,
    callSync: false,
  });
  out.certifyHttpStatus = submitted.response.status;
  const polled = await pollForResponse(agent, certifierId, submitted.requestId);
  out.certifyReplyBytes = polled.reply.byteLength;
  out.pollCertificateDelegation = polled.certificate.cert.delegation
    ? Principal.fromUint8Array(polled.certificate.cert.delegation.subnet_id).toText()
    : null;

  // The node keys agent-js checks query signatures with: from a /subnet read_state whose
  // certificate it verified through the delegation (subnet id from the delegation).
  const subnetStatus = await agent.fetchSubnetKeys(certifierId);
  out.nodeKeysSubnet = subnetStatus?.subnetId ?? null;
  out.nodeKeyCount = subnetStatus?.nodeKeys?.size ?? 0;

  const queried = await agent.query(certifierId, { methodName: 'certificate', arg: new Uint8Array() });
  out.queryStatus = queried.status;
  const dataCertificate = queried.reply.arg;
  const verified = await Certificate.create({
    certificate: dataCertificate,
    rootKey: agent.rootKey,
    canisterId: certifierId,
  });
  const certified = verified.lookup_path(['canister', certifierId.toUint8Array(), 'certified_data']);
  out.certifiedData = new TextDecoder().decode(certified.value);
  out.dataCertificateDelegation = verified.cert.delegation
    ? Principal.fromUint8Array(verified.cert.delegation.subnet_id).toText()
    : null;

  // The same, genuine data certificate presented for a canister outside the delegated
  // range, and a read_state through an out-of-range effective canister id: refused.
  try {
    await Certificate.create({ certificate: dataCertificate, rootKey: agent.rootKey, canisterId: stray });
    out.strayDataCertificate = { refused: false };
  } catch (error) {
    out.strayDataCertificate = { refused: true, ...describe(error) };
  }
  try {
    const response = await agent.readState(stray, { paths: [[utf8('time')]] });
    await Certificate.create({ certificate: response.certificate, rootKey: agent.rootKey, canisterId: stray });
    out.strayReadState = { refused: false };
  } catch (error) {
    out.strayReadState = { refused: true, ...describe(error) };
  }

  // The subnet's own key is not a root key: trusting it as one fails.
  try {
    await Certificate.create({
      certificate: dataCertificate,
      rootKey: Uint8Array.from(Buffer.from(input.subnetKey, 'hex')),
      canisterId: certifierId,
    });
    out.subnetKeyAsRoot = { refused: false };
  } catch (error) {
    out.subnetKeyAsRoot = { refused: true, ...describe(error) };
  }
  out.ok = true;
} catch (error) {
  out.ok = false;
  out.error = describe(error);
  out.stack = String(error?.stack ?? '').slice(0, 2000);
}
writeOutput(out);
