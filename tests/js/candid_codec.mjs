// Oracle: @dfinity/candid (agent-js) as the reference Candid codec.
//
// This file owns the JSON interchange format shared with tests/candid/test_js_crosscheck.py
// and bench/candid_js_bench.mjs (which imports buildTypes/toJs/fromJs from here).
//
// Input on stdin:  {"cases": [{"defs": {name: T}?, "types": [T...], "values": [V...] | null,
//                              "hex": "<message to decode>" | null}, ...]}
// Output on stdout: {"results": [{"decoded": [V...] | null, "decodeError": str | null,
//                                 "hex": "<IDL.encode(values)>" | null,
//                                 "encodeError": str | null}, ...]}
//
// Type descriptions T:
//   "nat" "int" "nat8" "nat16" "nat32" "nat64" "int8" "int16" "int32" "int64" "float32"
//   "float64" "bool" "text" "null" "reserved" "empty" "principal"
//   {"opt": T}  {"vec": T}
//   {"record": [[label, T], ...]}   label = name (string) or field id (integer);
//                                   labels exactly 0..n-1 (n >= 1) make a tuple (IDL.Tuple)
//   {"variant": [[label, T], ...]}
//   {"func": {"args": [T...], "results": [T...], "modes": ["query" | "oneway" |
//             "composite_query", ...]}}
//   {"service": [[method name, T (a func)], ...]}
//   {"ref": name}                   a named (possibly recursive) type from the case's "defs";
//                                   every def becomes an IDL.Rec() filled with its body
//
// Values V (type directed; each maps to agent-js's own JS value, checked strictly when
// converting decoded values back so the mapping itself is verified):
//   nat int nat64 int64     decimal string         <-> bigint
//   nat8..32 int8..32       decimal string         <-> number
//   float32 float64         16 hex digits: the big-endian IEEE-754 float64 bits, or "nan"
//                                                  <-> number
//   bool text               JSON bool / string     <-> boolean / string
//   null reserved           null                   <-> null
//   principal service       principal text         <-> Principal
//   func                    [principal text, method] <-> [Principal, string]
//   opt T                   [] | [V]               <-> [] | [v]
//   vec nat8 (blob)         hex string             <-> Uint8Array
//   vec T                   [V...]                 <-> Array (typed arrays for vec nat16.. /
//                                                      int8.. on decode)
//   record                  {key: V}  key = name, or "_<id>_" for a numeric label
//                                                  <-> object with the same keys
//   tuple record            [V...]                 <-> Array
//   variant                 {key: V} (one entry)   <-> {key: v}
import { IDL } from '@dfinity/candid';
import { Principal } from '@dfinity/principal';
import { pathToFileURL } from 'node:url';

const PRIMS = {
  nat: IDL.Nat, int: IDL.Int,
  nat8: IDL.Nat8, nat16: IDL.Nat16, nat32: IDL.Nat32, nat64: IDL.Nat64,
  int8: IDL.Int8, int16: IDL.Int16, int32: IDL.Int32, int64: IDL.Int64,
  float32: IDL.Float32, float64: IDL.Float64,
  bool: IDL.Bool, text: IDL.Text, null: IDL.Null, reserved: IDL.Reserved,
  empty: IDL.Empty, principal: IDL.Principal,
};
const BIG = new Set(['nat', 'int', 'nat64', 'int64']);
const SMALL = new Set(['nat8', 'nat16', 'nat32', 'int8', 'int16', 'int32']);

export const toHex = bytes => Buffer.from(bytes).toString('hex');
export const fromHex = hex => new Uint8Array(Buffer.from(hex, 'hex'));

const key = label => (typeof label === 'number' ? `_${label}_` : label);
const isTuple = fields => fields.length > 0 && fields.every(([l], i) => l === i);

/** Build the IDL types of a case: returns {types, ctx} (ctx is passed to toJs/fromJs). */
export function buildTypes(defs, types) {
  const recs = {};
  for (const name of Object.keys(defs ?? {})) recs[name] = IDL.Rec();
  const ctx = { defs: defs ?? {}, recs };
  const build = t => {
    if (typeof t === 'string') {
      if (!(t in PRIMS)) throw new Error(`unknown primitive type ${t}`);
      return PRIMS[t];
    }
    if ('opt' in t) return IDL.Opt(build(t.opt));
    if ('vec' in t) return IDL.Vec(build(t.vec));
    if ('record' in t) {
      if (isTuple(t.record)) return IDL.Tuple(...t.record.map(([, ft]) => build(ft)));
      return IDL.Record(Object.fromEntries(t.record.map(([l, ft]) => [key(l), build(ft)])));
    }
    if ('variant' in t) {
      return IDL.Variant(Object.fromEntries(t.variant.map(([l, ft]) => [key(l), build(ft)])));
    }
    if ('func' in t) {
      return IDL.Func(t.func.args.map(build), t.func.results.map(build), t.func.modes);
    }
    if ('service' in t) {
      return IDL.Service(Object.fromEntries(t.service.map(([m, ft]) => [m, build(ft)])));
    }
    if ('ref' in t) {
      if (!(t.ref in recs)) throw new Error(`undefined type ${t.ref}`);
      return recs[t.ref];
    }
    throw new Error('bad type description ' + JSON.stringify(t));
  };
  for (const [name, body] of Object.entries(ctx.defs)) recs[name].fill(build(body));
  return { types: types.map(build), ctx };
}

const resolve = (ctx, t) => {
  const seen = new Set();
  while (typeof t === 'object' && 'ref' in t) {
    if (seen.has(t.ref)) throw new Error(`alias cycle at ${t.ref}`);
    seen.add(t.ref);
    t = ctx.defs[t.ref];
  }
  return t;
};

function floatFromJson(v) {
  if (v === 'nan') return NaN;
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt('0x' + v));
  return view.getFloat64(0);
}

function floatToJson(x) {
  if (typeof x !== 'number') throw new Error(`float decoded as ${typeof x}, not number`);
  if (Number.isNaN(x)) return 'nan';
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  return view.getBigUint64(0).toString(16).padStart(16, '0');
}

/** Interchange JSON value -> the JS value agent-js expects when encoding. */
export function toJs(ctx, t, v) {
  t = resolve(ctx, t);
  if (typeof t === 'string') {
    if (BIG.has(t)) return BigInt(v);
    if (SMALL.has(t)) return Number(v);
    if (t === 'float32' || t === 'float64') return floatFromJson(v);
    if (t === 'principal') return Principal.fromText(v);
    if (t === 'null' || t === 'reserved') return null;
    return v; // bool, text
  }
  if ('opt' in t) return v.length === 0 ? [] : [toJs(ctx, t.opt, v[0])];
  if ('vec' in t) {
    if (resolve(ctx, t.vec) === 'nat8') return fromHex(v);
    return v.map(e => toJs(ctx, t.vec, e));
  }
  if ('record' in t) {
    if (isTuple(t.record)) return t.record.map(([, ft], i) => toJs(ctx, ft, v[i]));
    return Object.fromEntries(t.record.map(([l, ft]) => [key(l), toJs(ctx, ft, v[key(l)])]));
  }
  if ('variant' in t) {
    const [[tag, inner]] = Object.entries(v);
    const field = t.variant.find(([l]) => key(l) === tag);
    if (!field) throw new Error(`variant has no tag ${tag}`);
    return { [tag]: toJs(ctx, field[1], inner) };
  }
  if ('func' in t) return [Principal.fromText(v[0]), v[1]];
  if ('service' in t) return Principal.fromText(v);
  throw new Error('bad type description ' + JSON.stringify(t));
}

const isPrincipal = x => x !== null && typeof x === 'object' && x._isPrincipal === true;
const TYPED = {
  nat16: Uint16Array, nat32: Uint32Array, nat64: BigUint64Array,
  int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
};

/** A value decoded by agent-js -> interchange JSON, checking agent-js's documented mapping. */
export function fromJs(ctx, t, x, path = '') {
  const bad = what => new Error(`${path || 'value'}: ${what}, got ${typeof x} ${String(x)}`);
  t = resolve(ctx, t);
  if (typeof t === 'string') {
    if (BIG.has(t)) {
      if (typeof x !== 'bigint') throw bad(`${t} should decode to a bigint`);
      return x.toString();
    }
    if (SMALL.has(t)) {
      if (typeof x !== 'number' || !Number.isInteger(x)) {
        throw bad(`${t} should decode to an integer number`);
      }
      return String(x);
    }
    if (t === 'float32' || t === 'float64') return floatToJson(x);
    if (t === 'bool') {
      if (typeof x !== 'boolean') throw bad('bool should decode to a boolean');
      return x;
    }
    if (t === 'text') {
      if (typeof x !== 'string') throw bad('text should decode to a string');
      return x;
    }
    if (t === 'null' || t === 'reserved') {
      if (x !== null) throw bad(`${t} should decode to null`);
      return null;
    }
    if (t === 'principal') {
      if (!isPrincipal(x)) throw bad('principal should decode to a Principal');
      return x.toText();
    }
    throw bad(`cannot convert a value of type ${t}`);
  }
  if ('opt' in t) {
    if (!Array.isArray(x) || x.length > 1) throw bad('opt should decode to [] or [v]');
    return x.length === 0 ? [] : [fromJs(ctx, t.opt, x[0], path + '?')];
  }
  if ('vec' in t) {
    const inner = resolve(ctx, t.vec);
    if (inner === 'nat8') {
      if (!(x instanceof Uint8Array)) throw bad('blob should decode to a Uint8Array');
      return toHex(x);
    }
    if (typeof inner === 'string' && inner in TYPED) {
      if (!(x instanceof TYPED[inner])) throw bad(`vec ${inner} should decode to a typed array`);
      return Array.from(x, e => String(e));
    }
    if (!Array.isArray(x)) throw bad('vec should decode to an Array');
    return x.map((e, i) => fromJs(ctx, t.vec, e, `${path}[${i}]`));
  }
  if ('record' in t) {
    if (isTuple(t.record)) {
      if (!Array.isArray(x) || x.length !== t.record.length) {
        throw bad(`tuple should decode to an Array of ${t.record.length}`);
      }
      return t.record.map(([, ft], i) => fromJs(ctx, ft, x[i], `${path}.${i}`));
    }
    if (x === null || typeof x !== 'object' || Array.isArray(x)) {
      throw bad('record should decode to an object');
    }
    const want = t.record.map(([l]) => key(l)).sort();
    const got = Object.keys(x).sort();
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      throw bad(`record keys ${JSON.stringify(got)} instead of ${JSON.stringify(want)}`);
    }
    return Object.fromEntries(
      t.record.map(([l, ft]) => [key(l), fromJs(ctx, ft, x[key(l)], `${path}.${key(l)}`)]),
    );
  }
  if ('variant' in t) {
    if (x === null || typeof x !== 'object' || Object.keys(x).length !== 1) {
      throw bad('variant should decode to a one-key object');
    }
    const [[tag, inner]] = Object.entries(x);
    const field = t.variant.find(([l]) => key(l) === tag);
    if (!field) throw bad(`variant tag ${tag} is not in the type`);
    return { [tag]: fromJs(ctx, field[1], inner, `${path}.${tag}`) };
  }
  if ('func' in t) {
    if (!Array.isArray(x) || x.length !== 2 || !isPrincipal(x[0]) || typeof x[1] !== 'string') {
      throw bad('func should decode to [Principal, string]');
    }
    return [x[0].toText(), x[1]];
  }
  if ('service' in t) {
    if (!isPrincipal(x)) throw bad('service should decode to a Principal');
    return x.toText();
  }
  throw new Error('bad type description ' + JSON.stringify(t));
}

const message = e => (e instanceof Error ? e.message : String(e));

/** Run one case: decode its hex (if any) and encode its values (if any). */
export function runCase(c) {
  const out = { decoded: null, decodeError: null, hex: null, encodeError: null };
  let built;
  try {
    built = buildTypes(c.defs, c.types);
  } catch (e) {
    out.decodeError = out.encodeError = 'type: ' + message(e);
    return out;
  }
  const { types, ctx } = built;
  if (c.hex !== null && c.hex !== undefined) {
    try {
      const values = IDL.decode(types, fromHex(c.hex));
      out.decoded = c.types.map((t, i) => fromJs(ctx, t, values[i], `arg ${i}`));
    } catch (e) {
      out.decodeError = message(e);
    }
  }
  if (c.values !== null && c.values !== undefined) {
    try {
      const values = c.types.map((t, i) => toJs(ctx, t, c.values[i]));
      out.hex = toHex(IDL.encode(types, values));
    } catch (e) {
      out.encodeError = message(e);
    }
  }
  return out;
}

async function readStdin() {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { cases } = await readStdin();
  process.stdout.write(JSON.stringify({ results: cases.map(runCase) }));
}
