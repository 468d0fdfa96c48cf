// Chunked install: unmodified @dfinity/agent 3.x uploads a module over the 2 MiB ingress
// limit to the bundled replica in 1 MiB chunks and installs it with install_chunked_code.
// Input (stdin JSON): {host, wasm: hex of the module}. Output: JSON of what happened.
import { Actor, HttpAgent } from '@dfinity/agent';
import { IDL } from '@dfinity/candid';
import { Ed25519KeyIdentity } from '@dfinity/identity';
import { createHash } from 'node:crypto';
import {
  createAndInstallMethods,
  createCanister,
  installMode,
  installModule,
  managementActor,
} from './management_common.mjs';
import { readInput, writeOutput, fromHex } from './protocol_common.mjs';

const { host, wasm: wasmHex } = await readInput();
const wasm = fromHex(wasmHex);
const CHUNK = 1024 * 1024;
const out = { moduleBytes: wasm.length };

// The part of the management canister's interface (ic.did) this script uses.
const managementIdl = ({ IDL }) => {
  const chunkHash = IDL.Record({ hash: IDL.Vec(IDL.Nat8) });
  const canisterId = IDL.Record({ canister_id: IDL.Principal });
  return IDL.Service({
    ...createAndInstallMethods(),
    upload_chunk: IDL.Func(
      [IDL.Record({ canister_id: IDL.Principal, chunk: IDL.Vec(IDL.Nat8) })],
      [chunkHash],
      [],
    ),
    stored_chunks: IDL.Func([canisterId], [IDL.Vec(chunkHash)], []),
    clear_chunk_store: IDL.Func([canisterId], [], []),
    install_chunked_code: IDL.Func(
      [
        IDL.Record({
          mode: installMode,
          target_canister: IDL.Principal,
          store_canister: IDL.Opt(IDL.Principal),
          chunk_hashes_list: IDL.Vec(chunkHash),
          wasm_module_hash: IDL.Vec(IDL.Nat8),
          arg: IDL.Vec(IDL.Nat8),
          sender_canister_version: IDL.Opt(IDL.Nat64),
        }),
      ],
      [],
      [],
    ),
  });
};

const counterIdl = ({ IDL }) =>
  IDL.Service({ inc: IDL.Func([], [IDL.Nat], []), get: IDL.Func([], [IDL.Nat], ['query']) });

const describe = error => ({
  name: error?.name,
  message: String(error?.message ?? error).slice(0, 600),
});
const hex = bytes => Buffer.from(bytes).toString('hex');
const sha256 = bytes => new Uint8Array(createHash('sha256').update(bytes).digest());
const emptyArg = new Uint8Array(IDL.encode([], []));

try {
  const agent = await HttpAgent.create({
    host,
    identity: Ed25519KeyIdentity.generate(),
    shouldFetchRootKey: true,
  });
  const management = managementActor(agent, managementIdl);
  const canister_id = await createCanister(management);

  // One install_code message cannot carry the module.
  try {
    await installModule(management, canister_id, wasm);
    out.directInstall = { refused: false };
  } catch (error) {
    out.directInstall = { refused: true, ...describe(error) };
  }

  const hashes = [];
  for (let offset = 0; offset < wasm.length; offset += CHUNK) {
    const { hash } = await management.upload_chunk({
      canister_id,
      chunk: wasm.subarray(offset, offset + CHUNK),
    });
    hashes.push(hex(hash));
  }
  out.uploadedHashes = hashes;
  out.expectedHashes = [];
  for (let offset = 0; offset < wasm.length; offset += CHUNK) {
    out.expectedHashes.push(hex(sha256(wasm.subarray(offset, offset + CHUNK))));
  }
  out.storedHashes = (await management.stored_chunks({ canister_id })).map(c => hex(c.hash));

  const install = moduleHash =>
    management.install_chunked_code({
      mode: { install: null },
      target_canister: canister_id,
      store_canister: [],
      chunk_hashes_list: hashes.map(h => ({ hash: fromHex(h) })),
      wasm_module_hash: moduleHash,
      arg: emptyArg,
      sender_canister_version: [],
    });
  try {
    await install(sha256(new Uint8Array([1, 2, 3])));
    out.wrongHash = { refused: false };
  } catch (error) {
    out.wrongHash = { refused: true, ...describe(error) };
  }
  await install(sha256(wasm));
  await management.clear_chunk_store({ canister_id });
  out.storedAfterClear = (await management.stored_chunks({ canister_id })).length;

  const counter = Actor.createActor(counterIdl, { agent, canisterId: canister_id });
  out.inc = String(await counter.inc());
  out.get = String(await counter.get());
  out.ok = true;
} catch (error) {
  out.ok = false;
  out.error = describe(error);
  out.stack = String(error?.stack ?? '').slice(0, 2000);
}
writeOutput(out);
