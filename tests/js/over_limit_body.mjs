// Node's fetch (undici, what @dfinity/agent sends with) posting a body over the replica's
// 2 MiB /api/ limit: with a declared length all at once, and streamed in pieces with a pause
// between them. Each must come back as the 413 and its text, not a reset ('fetch failed').
// Input (stdin JSON): {url, bytes, pieces, pauseMs}. Output: one {status, text} or
// {error, code} per way of sending, in order: whole, streamed.
import { readInput, writeOutput } from './protocol_common.mjs';

const { url, bytes, pieces, pauseMs } = await readInput();
const headers = { 'content-type': 'application/cbor' };

const outcome = async send => {
  try {
    const response = await send();
    return { status: response.status, text: await response.text() };
  } catch (error) {
    return { error: String(error?.message ?? error), code: String(error?.cause?.code ?? '') };
  }
};

const streamed = () => {
  const piece = Math.ceil(bytes / pieces);
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent >= bytes) {
        controller.close();
        return;
      }
      if (sent > 0) await new Promise(resolve => setTimeout(resolve, pauseMs));
      const size = Math.min(piece, bytes - sent);
      sent += size;
      controller.enqueue(new Uint8Array(size));
    },
  });
};

writeOutput([
  await outcome(() => fetch(url, { method: 'POST', headers, body: new Uint8Array(bytes) })),
  await outcome(() => fetch(url, { method: 'POST', headers, body: streamed(), duplex: 'half' })),
]);
