// Acceptance of the IC target: the unmodified @dfinity/agent calls the counter template built
// as a standard IC module (manage.py build --target ic) and deployed on manage.py runreplica.
// Input (stdin JSON): {host, canisterId}. Output: JSON of what happened (nats as strings).
// agent-js verifies every certificate and query signature itself (its defaults).
import { Actor, HttpAgent } from '@dfinity/agent';
import { Principal } from '@dfinity/principal';
import { readInput, writeOutput } from './protocol_common.mjs';

const { host, canisterId } = await readInput();
const counterIdl = ({ IDL }) =>
  IDL.Service({
    increment: IDL.Func([], [IDL.Nat], []),
    get: IDL.Func([], [IDL.Nat], ['query']),
  });

const agent = await HttpAgent.create({ host, shouldFetchRootKey: true });
const counter = Actor.createActor(counterIdl, {
  agent,
  canisterId: Principal.fromText(canisterId),
});
const out = { increments: [] };
out.before = String(await counter.get());
for (let i = 0; i < 3; i += 1) out.increments.push(String(await counter.increment()));
out.after = String(await counter.get());
try {
  await Actor.createActor(
    ({ IDL }) => IDL.Service({ missing: IDL.Func([], [IDL.Nat], ['query']) }),
    { agent, canisterId: Principal.fromText(canisterId) },
  ).missing();
  out.missing = 'answered';
} catch (error) {
  out.missing = String(error?.message ?? error).slice(0, 600);
}
writeOutput(out);
