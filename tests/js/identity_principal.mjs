// Oracle: @dfinity/principal text <-> bytes and self-authenticating ids.
import { Principal } from '@dfinity/principal';
import { readInput, writeOutput, fromHex } from './protocol_common.mjs';

const { hexes, texts, ders } = await readInput();
const parse = t => {
  try {
    return Principal.fromText(t).toHex().toLowerCase();
  } catch (e) {
    return null;
  }
};
writeOutput({
  texts: hexes.map(h => Principal.fromHex(h).toText()),
  hexes: texts.map(parse),
  selfAuth: ders.map(d => Principal.selfAuthenticating(fromHex(d)).toText()),
});
