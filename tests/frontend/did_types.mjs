// Reads .did files with icframework/frontend/did.js and prints each service and named type
// in a canonical JSON form that tests/frontend/test_did.py builds from icframework.candid
// for the same files. Input: {files: {name: text}, depth, broken: {name: text}}; output:
// {name: {service, init, types}} and, for `broken`, {name: error message}.

import { IDL, idlLabelToId } from '@dfinity/candid';
import { readFileSync } from 'node:fs';
import { parseDid } from '../../icframework/frontend/did.js';

const input = JSON.parse(readFileSync(0, 'utf8'));

// Recursive types are unrolled to `depth` levels, so both sides agree wherever a Rec sits.
function canonical(type, depth) {
  if (depth === 0) return '...';
  const d = depth - 1;
  if (type instanceof IDL.RecClass) return canonical(type._type, depth);
  if (type instanceof IDL.OptClass) return { opt: canonical(type._type, d) };
  if (type instanceof IDL.VecClass) return { vec: canonical(type._type, d) };
  if (type instanceof IDL.RecordClass) {
    return { record: type._fields.map(([label, t]) => [idlLabelToId(label), canonical(t, d)]).sort((a, b) => a[0] - b[0]) };
  }
  if (type instanceof IDL.VariantClass) {
    return { variant: type._fields.map(([label, t]) => [idlLabelToId(label), canonical(t, d)]).sort((a, b) => a[0] - b[0]) };
  }
  if (type instanceof IDL.FuncClass) {
    return { func: { args: type.argTypes.map((t) => canonical(t, d)), results: type.retTypes.map((t) => canonical(t, d)), modes: [...type.annotations].sort() } };
  }
  if (type instanceof IDL.ServiceClass) {
    return { service: type._fields.map(([name, t]) => [name, canonical(t, d)]).sort((a, b) => (a[0] < b[0] ? -1 : 1)) };
  }
  return type.name;
}

const out = { files: {}, broken: {} };
for (const [name, text] of Object.entries(input.files)) {
  const parsed = parseDid(IDL, text);
  out.files[name] = {
    service: canonical(parsed.idlFactory({ IDL }), input.depth),
    init: parsed.init.map((t) => canonical(t, input.depth)),
    types: Object.fromEntries(Object.entries(parsed.types).map(([n, t]) => [n, canonical(t, input.depth)])),
  };
}
for (const [name, text] of Object.entries(input.broken)) {
  try {
    parseDid(IDL, text);
    out.broken[name] = null;
  } catch (error) {
    out.broken[name] = `${error.constructor.name}: ${error.message}`;
  }
}
process.stdout.write(JSON.stringify(out));
