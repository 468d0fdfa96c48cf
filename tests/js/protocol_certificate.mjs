// Oracle: does @dfinity/agent's Certificate.create accept certificates made in Python?
import { Certificate, lookupResultToBuffer } from '@dfinity/agent';
import { Principal } from '@dfinity/principal';
import { readInput, writeOutput, toHex, fromHex, decodeTyped } from './protocol_common.mjs';

const { cases } = await readInput();
const results = [];
for (const c of cases) {
  try {
    const cert = await Certificate.create({
      certificate: fromHex(c.certificate),
      rootKey: fromHex(c.rootKey),
      canisterId: Principal.fromText(c.canisterId),
    });
    const value = c.lookup ? lookupResultToBuffer(cert.lookup_path(decodeTyped(c.lookup))) : undefined;
    results.push({ ok: true, value: value ? toHex(value) : null });
  } catch (e) {
    results.push({ ok: false, error: String(e && e.message ? e.message : e) });
  }
}
writeOutput({ results });
