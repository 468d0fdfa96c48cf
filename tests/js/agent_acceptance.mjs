// Acceptance: unmodified @dfinity/agent 3.x drives the bundled replica over HTTP.
// Input (stdin JSON): {host, wasm: hex of the Motoko counter, ghost: an unused canister id}. Output: JSON of what happened.
// Every certificate and query signature is verified by agent-js itself (its defaults).
import { Actor, CanisterStatus, HttpAgent, pollForResponse } from '@dfinity/agent';
import { IDL } from '@dfinity/candid';
import { Ed25519KeyIdentity } from '@dfinity/identity';
import { Principal } from '@dfinity/principal';
import { createHash } from 'node:crypto';
import {
  createAndInstallMethods,
  createCanister,
  installModule,
  managementActor,
} from './management_common.mjs';
import { readInput, writeOutput, fromHex } from './protocol_common.mjs';

const { host, wasm: wasmHex, ghost: ghostId } = await readInput();
const wasm = fromHex(wasmHex);
const out = {};

// The management canister's interface, the part this test needs (types as in ic.did).
const managementIdl = ({ IDL }) =>
  IDL.Service(
    createAndInstallMethods(
      IDL.Record({
        controllers: IDL.Opt(IDL.Vec(IDL.Principal)),
        compute_allocation: IDL.Opt(IDL.Nat),
        memory_allocation: IDL.Opt(IDL.Nat),
        freezing_threshold: IDL.Opt(IDL.Nat),
      }),
    ),
  );

const counterIdl = ({ IDL }) =>
  IDL.Service({
    inc: IDL.Func([], [IDL.Nat], []),
    get: IDL.Func([], [IDL.Nat], ['query']),
    add: IDL.Func([IDL.Nat], [IDL.Nat], []),
  });

const describe = error => ({
  name: error?.name,
  kind: error?.kind,
  codeName: error?.code?.name,
  rejectCode: error?.code?.rejectCode ?? null,
  errorCode: error?.code?.rejectErrorCode ?? null,
  message: String(error?.message ?? error).slice(0, 400),
});

try {
  const owner = Ed25519KeyIdentity.generate();
  const agent = await HttpAgent.create({ host, identity: owner, shouldFetchRootKey: true });
  out.rootKeyBytes = agent.rootKey.length;
  const management = managementActor(agent, managementIdl);

  const canister_id = await createCanister(management);
  out.canisterId = canister_id.toText();

  await installModule(management, canister_id, wasm);

  const counter = Actor.createActor(counterIdl, { agent, canisterId: canister_id });
  out.inc1 = String(await counter.inc());
  out.inc2 = String(await counter.inc());
  out.getAfterInc = String(await counter.get());

  // The async path: v2 call (202) and read_state polling of /request_status.
  const asyncCall = await agent.call(canister_id, {
    methodName: 'add',
    arg: new Uint8Array(IDL.encode([IDL.Nat], [10n])),
    callSync: false,
  });
  out.asyncCallHttpStatus = asyncCall.response.status;
  const polled = await pollForResponse(agent, canister_id, asyncCall.requestId);
  out.asyncReply = String(IDL.decode([IDL.Nat], polled.reply)[0]);

  await management.install_code({
    mode: { upgrade: [{ skip_pre_upgrade: [], wasm_memory_persistence: [{ keep: null }] }] },
    canister_id,
    wasm_module: wasm,
    arg: new Uint8Array(IDL.encode([], [])),
    sender_canister_version: [],
  });
  out.getAfterUpgrade = String(await counter.get());

  const status = await CanisterStatus.request({
    canisterId: canister_id,
    agent,
    paths: ['module_hash', 'controllers', 'candid', 'time'],
  });
  out.moduleHash = status.get('module_hash');
  out.expectedModuleHash = createHash('sha256').update(wasm).digest('hex');
  out.controllers = (status.get('controllers') ?? []).map(p => p.toText());
  out.owner = owner.getPrincipal().toText();
  out.candidMentionsInc = String(status.get('candid') ?? '').includes('inc');
  out.certifiedTimeSkewMs = Math.abs(Number(status.get('time')?.getTime() ?? 0) - Date.now());

  const stranger = Ed25519KeyIdentity.generate();
  const strangerAgent = await HttpAgent.create({
    host,
    identity: stranger,
    shouldFetchRootKey: true,
  });
  try {
    await managementActor(strangerAgent, managementIdl).install_code({
      mode: { reinstall: null },
      canister_id,
      wasm_module: wasm,
      arg: new Uint8Array(IDL.encode([], [])),
      sender_canister_version: [],
    });
    out.strangerInstall = { refused: false };
  } catch (error) {
    out.strangerInstall = { refused: true, ...describe(error) };
  }
  out.getAfterStranger = String(await counter.get());

  // A query and an update to a canister that does not exist: uncertified rejects.
  const ghost = Actor.createActor(counterIdl, {
    agent,
    canisterId: Principal.fromText(ghostId),
  });
  try {
    await ghost.get();
    out.ghostQuery = { rejected: false };
  } catch (error) {
    out.ghostQuery = { rejected: true, ...describe(error) };
  }
  try {
    await ghost.inc();
    out.ghostCall = { rejected: false };
  } catch (error) {
    out.ghostCall = { rejected: true, ...describe(error) };
  }
  out.ok = true;
} catch (error) {
  out.ok = false;
  out.error = describe(error);
  out.stack = String(error?.stack ?? '').slice(0, 2000);
}
writeOutput(out);
