// Shared by the scripts that drive the replica's management canister through unmodified
// @dfinity/agent: the Candid types of ic.did they use and an actor whose calls carry the
// effective canister id the IC requires (the canister named in the argument).
import { Actor } from '@dfinity/agent';
import { IDL } from '@dfinity/candid';
import { Principal } from '@dfinity/principal';

// install_code's and install_chunked_code's mode (ic.did's canister_install_mode).
export const installMode = IDL.Variant({
  install: IDL.Null,
  reinstall: IDL.Null,
  upgrade: IDL.Opt(
    IDL.Record({
      skip_pre_upgrade: IDL.Opt(IDL.Bool),
      wasm_memory_persistence: IDL.Opt(IDL.Variant({ keep: IDL.Null, replace: IDL.Null })),
    }),
  ),
});

// provisional_create_canister_with_cycles and install_code; `settings` is the canister
// settings record the script passes (the default names only the controllers).
export const createAndInstallMethods = (
  settings = IDL.Record({ controllers: IDL.Opt(IDL.Vec(IDL.Principal)) }),
) => ({
  provisional_create_canister_with_cycles: IDL.Func(
    [
      IDL.Record({
        amount: IDL.Opt(IDL.Nat),
        settings: IDL.Opt(settings),
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
        mode: installMode,
        canister_id: IDL.Principal,
        wasm_module: IDL.Vec(IDL.Nat8),
        arg: IDL.Vec(IDL.Nat8),
        sender_canister_version: IDL.Opt(IDL.Nat64),
      }),
    ],
    [],
    [],
  ),
});

// The management canister as an actor of `idlFactory`: each call's effective canister id
// is the `canister_id` (or opt `canister_id`, or `target_canister`) of its argument.
export const managementActor = (agent, idlFactory) =>
  Actor.createActor(idlFactory, {
    agent,
    canisterId: Principal.fromText('aaaaa-aa'),
    callTransform: (_method, args) => {
      const first = args[0];
      const named = first?.canister_id ?? first?.target_canister;
      const target = Array.isArray(named) ? named[0] : named;
      return target ? { effectiveCanisterId: target } : {};
    },
  });

// A new canister with the default cycles and settings: its principal.
export const createCanister = async management => {
  const { canister_id } = await management.provisional_create_canister_with_cycles({
    amount: [],
    settings: [],
    specified_id: [],
    sender_canister_version: [],
  });
  return canister_id;
};

// Install `wasm` on `canister_id` with an empty argument.
export const installModule = (management, canister_id, wasm) =>
  management.install_code({
    mode: { install: null },
    canister_id,
    wasm_module: wasm,
    arg: new Uint8Array(IDL.encode([], [])),
    sender_canister_version: [],
  });
