// Chunked install: unmodified @dfinity/agent 3.x uploads a module over the 2 MiB ingress
// limit to the bundled replica in 1 MiB chunks and installs it with install_chunked_code.
// Input (stdin JSON): {host, wasm: hex of the module}. Output: JSON of what happened.
import { Actor, HttpAgent } from '@dfinity/agent';
import { IDL } from '@dfinity/candid';
import { Ed25519KeyIdentity } from '@dfinity/identity';
import { Principal } from '@dfinity/principal';
import { createHash } from 'node:crypto';
import { readInput, writeOutput, fromHex } from './protocol_common.mjs';

const { host, wasm: wasmHex } = await readInput();
const wasm = fromHex(wasmHex);
const CHUNK = 1024 * 1024;
const out = { moduleBytes: wasm.length };

// The part of the management canister's interface (ic.did) this script uses.
const managementIdl = ({ IDL }) => {
  const chunkHash = IDL.Record({ hash: IDL.Vec(IDL.Nat8) });
  const mode = IDL.Variant({
    install: IDL.Null,
    reinstall: IDL.Null,
    upgrade: IDL.Opt(
      IDL.Record({
        skip_pre_upgrade: IDL.Opt(IDL.Bool),
        wasm_memory_persistence: IDL.Opt(IDL.Variant({ keep: IDL.Null, replace: IDL.Null })),
      }),
    ),
  });
  const canisterId = IDL.Record({ canister_id: IDL.Principal });
  return IDL.Service({
    provisional_create_canister_with_cycles: IDL.Func(
      [
        IDL.Record({
          amount: IDL.Opt(IDL.Nat),
          settings: IDL.Opt(IDL.Record({ controllers: IDL.Opt(IDL.Vec(IDL.Principal)) })),
          specified_id: IDL.Opt(IDL.Principal),
          sender_canister_version: IDL.Opt(IDL.Nat64),
        }),
      ],
      [IDL.Record({ canister_id: IDL.Principal })],
      [],
    ),
    install_code: IDL.Func(
      [
        IDL.Record({
          mode,
          canister_id: IDL.Principal,
          wasm_module: IDL.Vec(IDL.Nat8),
          arg: IDL.Vec(IDL.Nat8),
          sender_canister_version: IDL.Opt(IDL.Nat64),
        }),
      ],
      [],
      [],
    ),
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
          mode,
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

// A management call's effective canister id is the canister its argument names.
const managementActor = agent =>
  Actor.createActor(managementIdl, {
    agent,
    canisterId: Principal.fromText('aaaaa-aa'),
    callTransform: (_method, args) => {
      const first = args[0];
      const target = first?.canister_id ?? first?.target_canister;
      return target ? { effectiveCanisterId: target } : {};
    },
  });

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
  const management = managementActor(agent);
  const { canister_id } = await management.provisional_create_canister_with_cycles({
    amount: [],
    settings: [],
    specified_id: [],
    sender_canister_version: [],
  });

  // One install_code message cannot carry the module.
  try {
    await management.install_code({
      mode: { install: null },
      canister_id,
      wasm_module: wasm,
      arg: emptyArg,
      sender_canister_version: [],
    });
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
