// Acceptance: the unmodified @dfinity/ledger-icrc client drives the Python ledger template
// deployed on `manage.py runreplica`, over HTTP, as four Ed25519 identities.
// Input (stdin JSON): {host, canisterId, seeds: {minter, alice, bob, carol}: hex 32-byte
// Ed25519 seeds}.
// Output: JSON of what happened (bigints as decimal strings, principals as text, bytes as hex).
import { HttpAgent } from '@dfinity/agent';
import { Ed25519KeyIdentity } from '@dfinity/identity';
import { IcrcLedgerCanister, IcrcTransferError, mapTokenMetadata } from '@dfinity/ledger-icrc';
import { Principal } from '@dfinity/principal';
import { readInput, writeOutput, fromHex, toHex } from './protocol_common.mjs';

const { host, canisterId: canisterText, seeds } = await readInput();
const canisterId = Principal.fromText(canisterText);

// JSON-friendly copies of what the client returns.
const plain = value => {
  if (typeof value === 'bigint') return value.toString();
  // (a Principal decoded by another copy of @dfinity/principal fails instanceof)
  if (value instanceof Principal || value?._isPrincipal) return Principal.from(value).toText();
  if (value instanceof Uint8Array) return toHex(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
};

// A failing call: the ledger's own error (IcrcTransferError.errorType) or a rejection.
const failure = async promise => {
  try {
    return { ok: plain(await promise) };
  } catch (error) {
    if (error instanceof IcrcTransferError) return { icrcError: plain(error.errorType) };
    return { rejected: String(error?.message ?? error).slice(0, 600) };
  }
};

const users = {};
for (const [name, seed] of Object.entries(seeds)) {
  const identity = Ed25519KeyIdentity.generate(fromHex(seed));
  const agent = await HttpAgent.create({ host, identity, shouldFetchRootKey: true });
  users[name] = {
    principal: identity.getPrincipal(),
    ledger: IcrcLedgerCanister.create({ agent, canisterId }),
  };
}
const { minter, alice, bob, carol } = users;
const account = (user, subaccount) =>
  subaccount === undefined ? { owner: user.principal, subaccount: [] }
    : { owner: user.principal, subaccount: [subaccount] };
const balanceOf = async user => plain(await alice.ledger.balance({ owner: user.principal, certified: false }));
const nowNs = () => BigInt(Date.now()) * 1_000_000n;

const out = { principals: Object.fromEntries(Object.entries(users).map(([k, u]) => [k, u.principal.toText()])) };

// ---- metadata, both as a query and as a certified (update) call
out.metadata = plain(mapTokenMetadata(await bob.ledger.metadata({ certified: false })));
out.rawMetadataKeys = (await bob.ledger.metadata({ certified: true })).map(([key]) => key);
out.fee = plain(await bob.ledger.transactionFee({ certified: false }));
out.standards = plain(await bob.ledger.icrc1SupportedStandards({ certified: false }));
out.icrc10Standards = plain(await bob.ledger.icrc10SupportedStandards({ certified: false }));
out.mintingAccount = plain(await bob.ledger.getMintingAccount({ certified: false }));
out.supplyBefore = plain(await bob.ledger.totalTokensSupply({ certified: false }));
out.aliceBefore = await balanceOf(alice);
out.aliceBeforeCertified = plain(await alice.ledger.balance({ owner: alice.principal, certified: true }));

// ---- ICRC-1 transfers
const createdAt = nowNs();
const paying = { to: account(bob), amount: 1_000_000n, memo: new Uint8Array([1, 2, 3]), created_at_time: createdAt };
out.transferIndex = plain(await alice.ledger.transfer(paying));
out.duplicate = await failure(alice.ledger.transfer(paying));
out.badFee = await failure(alice.ledger.transfer({ to: account(bob), amount: 1n, fee: 1n }));
out.insufficientFunds = await failure(carol.ledger.transfer({ to: account(bob), amount: 5n }));
out.tooOld = await failure(alice.ledger.transfer({ to: account(bob), amount: 1n, created_at_time: createdAt - 2n * 86_400_000_000_000n }));
out.badSubaccount = await failure(alice.ledger.balance({ owner: bob.principal, subaccount: new Uint8Array(5), certified: false }));

// ---- mint and burn
out.mintIndex = plain(await minter.ledger.transfer({ to: account(carol), amount: 50_000n }));
out.burnIndex = plain(await carol.ledger.transfer({ to: account(minter), amount: 20_000n }));
out.badBurn = await failure(carol.ledger.transfer({ to: account(minter), amount: 1n }));

// ---- ICRC-2: alice lets carol spend; carol pays bob from alice's account
const expiresAt = nowNs() + 3_600_000_000_000n;
out.approveIndex = plain(await alice.ledger.approve({ spender: account(carol), amount: 300_000n, expires_at: expiresAt }));
out.allowance = plain(await bob.ledger.allowance({ account: account(alice), spender: account(carol), certified: false }));
out.expiresAt = expiresAt.toString();
out.allowanceChanged = await failure(alice.ledger.approve({ spender: account(carol), amount: 1n, expected_allowance: 7n }));
out.transferFromIndex = plain(await carol.ledger.transferFrom({ from: account(alice), to: account(bob), amount: 200_000n }));
out.allowanceAfter = plain(await carol.ledger.allowance({ account: account(alice), spender: account(carol), certified: true }));
out.insufficientAllowance = await failure(carol.ledger.transferFrom({ from: account(alice), to: account(carol), amount: 200_000n }));
out.notApproved = await failure(bob.ledger.transferFrom({ from: account(alice), to: account(bob), amount: 1n }));

// ---- the end state
out.balances = {
  minter: await balanceOf(minter),
  alice: await balanceOf(alice),
  bob: await balanceOf(bob),
  carol: await balanceOf(carol),
};
out.supplyAfter = plain(await bob.ledger.totalTokensSupply({ certified: true }));

writeOutput(out);
