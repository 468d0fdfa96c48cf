// Interop: the unmodified npm @dfinity/vetkeys 0.4.0 against vetKD keys from a canister on
// `manage.py runreplica`, reached through unmodified @dfinity/agent over HTTP.
// Input (stdin JSON): {host, wasm: hex of the Python vetKD canister}. Output: JSON of what happened.
import { Actor, HttpAgent } from '@dfinity/agent';
import { IDL } from '@dfinity/candid';
import { Ed25519KeyIdentity } from '@dfinity/identity';
import {
  DerivedKeyMaterial,
  DerivedPublicKey,
  EncryptedVetKey,
  IbeCiphertext,
  IbeIdentity,
  IbeSeed,
  TransportSecretKey,
  isValidTransportPublicKey,
  verifyBlsSignature,
} from '@dfinity/vetkeys';
import {
  createAndInstallMethods,
  createCanister,
  installModule,
  managementActor,
} from './management_common.mjs';
import { readInput, writeOutput, fromHex, toHex } from './protocol_common.mjs';

const { host, wasm: wasmHex } = await readInput();
const out = {};
const KEY = 'test_key_1';
const text = s => new TextEncoder().encode(s);

const managementIdl = ({ IDL }) =>
  IDL.Service({
    ...createAndInstallMethods(),
    vetkd_public_key: IDL.Func(
      [
        IDL.Record({
          canister_id: IDL.Opt(IDL.Principal),
          context: IDL.Vec(IDL.Nat8),
          key_id: IDL.Record({ curve: IDL.Variant({ bls12_381_g2: IDL.Null }), name: IDL.Text }),
        }),
      ],
      [IDL.Record({ public_key: IDL.Vec(IDL.Nat8) })],
      [],
    ),
  });

const vetkdIdl = ({ IDL }) =>
  IDL.Service({
    public_key: IDL.Func([IDL.Vec(IDL.Nat8), IDL.Text], [IDL.Vec(IDL.Nat8)], []),
    derive_key: IDL.Func(
      [IDL.Vec(IDL.Nat8), IDL.Vec(IDL.Nat8), IDL.Vec(IDL.Nat8), IDL.Text],
      [IDL.Vec(IDL.Nat8)],
      [],
    ),
    try_derive_key: IDL.Func(
      [IDL.Vec(IDL.Nat8), IDL.Vec(IDL.Nat8), IDL.Vec(IDL.Nat8), IDL.Text],
      [IDL.Text],
      [],
    ),
  });

try {
  const owner = Ed25519KeyIdentity.generate();
  const agent = await HttpAgent.create({ host, identity: owner, shouldFetchRootKey: true });
  const management = managementActor(agent, managementIdl);
  const canister_id = await createCanister(management);
  out.canisterId = canister_id.toText();
  await installModule(management, canister_id, fromHex(wasmHex));
  const canister = Actor.createActor(vetkdIdl, { agent, canisterId: canister_id });

  // The user's key for the "notes" context: the input is the user's principal.
  const input = owner.getPrincipal().toUint8Array();
  const context = text('notes');
  const tsk = TransportSecretKey.random();
  out.transportKeyValid = isValidTransportPublicKey(tsk.publicKeyBytes());
  const dpkBytes = await canister.public_key(context, KEY);
  const dpk = DerivedPublicKey.deserialize(new Uint8Array(dpkBytes));
  out.publicKey = toHex(dpkBytes);
  const ekBytes = new Uint8Array(
    await canister.derive_key(input, context, tsk.publicKeyBytes(), KEY),
  );
  out.encryptedKey = toHex(ekBytes);
  out.transportSecret = toHex(tsk.serialize());
  out.input = toHex(input);
  const vetKey = EncryptedVetKey.deserialize(ekBytes).decryptAndVerify(tsk, dpk, input);
  out.vetKey = toHex(vetKey.signatureBytes());
  out.signatureVerifies = verifyBlsSignature(dpk, input, vetKey.signatureBytes());
  out.otherInputVerifies = verifyBlsSignature(dpk, text('someone else'), vetKey.signatureBytes());

  // Offline derivation: the canister's key (empty context) and deriveSubKey give the same key.
  const canisterKey = DerivedPublicKey.deserialize(new Uint8Array(await canister.public_key(new Uint8Array(), KEY)));
  out.offlineSubKeyMatches = toHex(canisterKey.deriveSubKey(context).publicKeyBytes()) === out.publicKey;

  // A second request with a fresh transport key: another ciphertext, the same vetKey.
  const tsk2 = TransportSecretKey.random();
  const ek2 = new Uint8Array(await canister.derive_key(input, context, tsk2.publicKeyBytes(), KEY));
  out.secondCiphertextDiffers = toHex(ek2) !== out.encryptedKey;
  const vetKey2 = EncryptedVetKey.deserialize(ek2).decryptAndVerify(tsk2, dpk, input);
  out.secondVetKeySame = toHex(vetKey2.signatureBytes()) === out.vetKey;
  try {
    EncryptedVetKey.deserialize(ek2).decryptAndVerify(tsk, dpk, input);
    out.wrongTransportSecretRefused = false;
  } catch {
    out.wrongTransportSecretRefused = true;
  }

  // Symmetric keys: AES-GCM through DerivedKeyMaterial, across the two vetKeys.
  const material = await vetKey.asDerivedKeyMaterial();
  const sealed = await material.encryptMessage('dear diary', 'notes-v1');
  const material2 = await vetKey2.asDerivedKeyMaterial();
  out.aesRoundTrip = new TextDecoder().decode(await material2.decryptMessage(sealed, 'notes-v1'));
  out.materialIsDerivedKeyMaterial = material instanceof DerivedKeyMaterial;

  // IBE: anyone encrypts to the user's identity with the public key alone; the vetKey opens it.
  const message = text('for your eyes only');
  const ciphertext = IbeCiphertext.encrypt(dpk, IbeIdentity.fromBytes(input), message, IbeSeed.random());
  const serialized = ciphertext.serialize();
  out.ibeRoundTrip = new TextDecoder().decode(IbeCiphertext.deserialize(serialized).decrypt(vetKey));
  const wrongIdentity = IbeCiphertext.encrypt(dpk, IbeIdentity.fromString('mallory'), message, IbeSeed.random());
  try {
    wrongIdentity.decrypt(vetKey);
    out.ibeWrongIdentityRefused = false;
  } catch {
    out.ibeWrongIdentityRefused = true;
  }

  // The IC's rejects as the canister sees them, and ingress refused.
  out.badTransportKey = await canister.try_derive_key(input, context, new Uint8Array(48), KEY);
  out.unknownKey = await canister.try_derive_key(input, context, tsk.publicKeyBytes(), 'key_2');
  try {
    await management.vetkd_public_key({
      canister_id: [canister_id],
      context,
      key_id: { curve: { bls12_381_g2: null }, name: KEY },
    });
    out.ingress = { refused: false };
  } catch (error) {
    out.ingress = { refused: true, message: String(error?.message ?? error).slice(0, 600) };
  }
  out.ok = true;
} catch (error) {
  out.ok = false;
  out.error = String(error?.stack ?? error);
}
writeOutput(out);
