// Shared helpers for the protocol_*/identity_* oracle scripts: JSON in on stdin, JSON out.
export async function readInput() {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

export function writeOutput(value) {
  process.stdout.write(JSON.stringify(value));
}

export const toHex = bytes => Buffer.from(bytes).toString('hex');
export const fromHex = hex => new Uint8Array(Buffer.from(hex, 'hex'));

// Typed JSON -> JS value: {b: hex} bytes, {n: "123"} bigint, {m: {...}} map, arrays, strings.
export function decodeTyped(value) {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(decodeTyped);
  if ('b' in value) return fromHex(value.b);
  if ('n' in value) return BigInt(value.n);
  if ('m' in value) {
    return Object.fromEntries(Object.entries(value.m).map(([k, v]) => [k, decodeTyped(v)]));
  }
  throw new Error('bad typed value ' + JSON.stringify(value));
}
