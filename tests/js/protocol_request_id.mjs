// Oracle: agent-js requestIdOf over typed maps (see protocol_common.decodeTyped).
import { requestIdOf } from '@dfinity/agent';
import { readInput, writeOutput, toHex, decodeTyped } from './protocol_common.mjs';

const { contents } = await readInput();
writeOutput({ ids: contents.map(c => toHex(requestIdOf(decodeTyped(c)))) });
