// Drives icframework/frontend/canister-socket.js in Node against a live replica with a
// small socket buffer (tests/frontend/test_canister_socket.py): reads one line
// {host, canisterId} on stdin, subscribes an anonymous socket to room:big and prints
// "ready"; then blocks its own event loop until the next line, so it reads nothing while
// the test publishes (the server's buffer for it overflows). Back at reading, it sends one
// more subscribe and prints one JSON document of what arrived: the events' seq, the
// resync frame, the close and what became of that subscribe.

import { readSync, writeSync } from 'node:fs';
import { CanisterSocket } from '../../icframework/frontend/canister-socket.js';

// One line of stdin, read synchronously: the event loop (and the socket) waits meanwhile.
function readLine() {
  const bytes = [];
  const one = Buffer.alloc(1);
  while (readSync(0, one, 0, 1, null) === 1 && one[0] !== 10) bytes.push(one[0]);
  return Buffer.from(bytes).toString('utf8');
}

const input = JSON.parse(readLine());
const socket = await CanisterSocket.connect({ url: input.host, canisterId: input.canisterId });
const out = { events: [], order: [] };
socket.onEvent((event) => {
  out.events.push({ topic: event.topic, seq: event.seq, height: event.height });
});
socket.onResync((frame) => { out.order.push('resync'); out.resyncFrame = frame; });
const closed = new Promise((resolve) => socket.onClose((event) => {
  out.order.push('close');
  resolve({ code: event.code, reason: event.reason });
}));
out.subscribed = await socket.subscribe(['room:big']);
writeSync(1, 'ready\n');

readLine(); // the test has published; nothing was read meanwhile
const more = socket.subscribe(['room:more']).then(
  (answer) => ({ answer }),
  (error) => ({ error: error.message, resync: error.resync || null }),
);
out.close = await closed;
out.pending = await more;
out.resync = socket.resync;
writeSync(1, `${JSON.stringify(out)}\n`);
