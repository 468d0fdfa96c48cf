// Node half of bench/bench_candid.py: times @dfinity/candid's IDL.encode / IDL.decode.
//
// This file owns only the JavaScript timing loop. Types arrive in the interchange format
// of tests/js/candid_codec.mjs (whose buildTypes it reuses); values arrive as a Candid
// message (our encoding), which is decoded once with IDL.decode to get agent-js's own
// JS values, so both sides encode the same data.
//
// Input on stdin:  {"bulk": {"defs", "types", "hex", "runs"},
//                   "small": [{"name", "defs", "types", "hex", "budget_ms"}, ...]}
// Output on stdout: {"node": version, "candid": version,
//                    "bulk": {"encode_s", "decode_s", "bytes", "hex"},
//                    "small": [{"name", "encode_s", "decode_s", "bytes"}, ...]}
// Times are the best seconds per call (bulk: best of `runs` single calls after a warm-up;
// small: best of 3 batches sized to fill about budget_ms each).
import { IDL } from '@dfinity/candid';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { buildTypes, fromHex, toHex } from '../tests/js/candid_codec.mjs';

const require = createRequire(import.meta.url);

async function readStdin() {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

function candidVersion() {
  const path = require.resolve('@dfinity/candid').replace(/lib[\\/].*$/, 'package.json');
  return JSON.parse(readFileSync(path, 'utf8')).version;
}

function bestSingle(fn, runs) {
  for (let i = 0; i < 3; i++) fn(); // warm-up (JIT)
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    best = Math.min(best, performance.now() - start);
  }
  return best / 1000;
}

function bestBatch(fn, budgetMs) {
  const warmEnd = performance.now() + budgetMs / 4;
  let n = 0;
  while (performance.now() < warmEnd) {
    fn();
    n++;
  }
  // n calls took budgetMs / 4; size each of the 3 batches to take about budgetMs / 3.
  const batch = Math.max(1, Math.round((n * 4) / 3));
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const start = performance.now();
    for (let i = 0; i < batch; i++) fn();
    best = Math.min(best, (performance.now() - start) / batch);
  }
  return best / 1000;
}

const input = await readStdin();
const prepare = c => {
  const { types } = buildTypes(c.defs, c.types);
  const bytes = fromHex(c.hex);
  const values = IDL.decode(types, bytes);
  return { types, bytes, values };
};

const bulk = prepare(input.bulk);
const encoded = IDL.encode(bulk.types, bulk.values);
const out = {
  node: process.version,
  candid: candidVersion(),
  bulk: {
    encode_s: bestSingle(() => IDL.encode(bulk.types, bulk.values), input.bulk.runs),
    decode_s: bestSingle(() => IDL.decode(bulk.types, encoded), input.bulk.runs),
    bytes: encoded.byteLength,
    hex: toHex(encoded),
  },
  small: input.small.map(c => {
    const s = prepare(c);
    const enc = IDL.encode(s.types, s.values);
    return {
      name: c.name,
      encode_s: bestBatch(() => IDL.encode(s.types, s.values), c.budget_ms),
      decode_s: bestBatch(() => IDL.decode(s.types, enc), c.budget_ms),
      bytes: enc.byteLength,
    };
  }),
};
process.stdout.write(JSON.stringify(out));
