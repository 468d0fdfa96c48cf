// Drives icframework/frontend/canister-socket.js and did.js in Node against a live replica
// with the chat canister: reads {host, canisterId, seeds: {alice, bob}} (hex) on stdin,
// prints one JSON document of what happened on stdout (tests/frontend/test_canister_socket.py).

import { Actor, HttpAgent } from '@dfinity/agent';
import { IDL } from '@dfinity/candid';
import { DelegationChain, DelegationIdentity, Ed25519KeyIdentity } from '@dfinity/identity';
import { Principal } from '@dfinity/principal';
import { readFileSync } from 'node:fs';
import { CanisterSocket, challengeMessage, socketUrl } from '../../icframework/frontend/canister-socket.js';
import { parseDid } from '../../icframework/frontend/did.js';

const input = JSON.parse(readFileSync(0, 'utf8'));
const did = parseDid(IDL, readFileSync(new URL('../../apps/chat/chat.did', import.meta.url), 'utf8'));
const canisterBytes = Principal.fromText(input.canisterId).toUint8Array();
const hex = (text) => Uint8Array.from(text.match(/../g).map((byte) => parseInt(byte, 16)));

async function user(name) {
  const identity = Ed25519KeyIdentity.generate(hex(input.seeds[name]));
  const agent = await HttpAgent.create({ host: input.host, identity, shouldFetchRootKey: true });
  const chat = Actor.createActor(did.idlFactory, { agent, canisterId: input.canisterId });
  return { identity, chat, principal: identity.getPrincipal().toText() };
}

// The next event on `socket` for which `accept` holds.
function nextEvent(socket, accept) {
  return new Promise((resolve) => {
    const stop = socket.onEvent((frame) => {
      const [event] = IDL.decode([did.types.ChatEvent], frame.value);
      if (accept(event, frame)) { stop(); resolve({ event, frame }); }
    });
  });
}

const json = (value) => JSON.parse(JSON.stringify(value, (_, v) => {
  if (typeof v === 'bigint') return v.toString();
  if (v && typeof v === 'object' && '__principal__' in v) return v.__principal__;
  return v;
}));

const out = {};
const alice = await user('alice');
const bob = await user('bob');
await alice.chat.register('alice', 'Alice');
await bob.chat.register('bob', 'Bob');
const pub = await alice.chat.create_room('public room', '', true);
const priv = await alice.chat.create_room('private room', '', false);
const publicTopic = `room:${pub.room.id}`;
const privateTopic = `room:${priv.room.id}`;

out.socketUrl = socketUrl(input.host, input.canisterId);
out.challengeLength = challengeMessage(canisterBytes, new Uint8Array(32)).length;

// Bob authenticated: his own user topic and the public room; Alice's private room is refused.
const bobSocket = await CanisterSocket.connect({ url: input.host, canisterId: input.canisterId, canisterBytes, identity: bob.identity });
out.bobPrincipal = { socket: bobSocket.principal, key: bob.principal };
out.bobSubscribe = await bobSocket.subscribe([publicTopic, `user:${bob.principal}`, privateTopic]);

// An anonymous socket (no identity): public topics only.
const anonSocket = await CanisterSocket.connect({ url: input.host, canisterId: input.canisterId, canisterBytes });
out.anonPrincipal = anonSocket.principal;
out.anonSubscribe = await anonSocket.subscribe([publicTopic, `user:${bob.principal}`]);

// Alice's message reaches both sockets as a decoded ChatEvent.
const bobGets = nextEvent(bobSocket, (event) => 'message' in event);
const anonGets = nextEvent(anonSocket, (event) => 'message' in event);
const sent = await alice.chat.send_message(pub.room.id, 'hi @bob', []);
const [bobEvent, anonEvent] = await Promise.all([bobGets, anonGets]);
out.sentId = sent.id.toString();
out.bobEvent = { topic: bobEvent.frame.topic, height: bobEvent.frame.height, message: json(bobEvent.event.message) };
out.anonEvent = { topic: anonEvent.frame.topic, text: anonEvent.event.message.text };

// Being added to the private room sends Bob a room_added on his user topic; he may then
// subscribe to it and receives its messages.
const added = nextEvent(bobSocket, (event) => 'room_added' in event);
await alice.chat.add_members(priv.room.id, ['bob']);
const roomAdded = await added;
out.roomAdded = { topic: roomAdded.frame.topic, room: roomAdded.event.room_added.room.name };
out.bobSubscribeAgain = await bobSocket.subscribe([privateTopic]);
const privateMessage = nextEvent(bobSocket, (event, frame) => frame.topic === privateTopic && 'message' in event);
await alice.chat.send_message(priv.room.id, 'secret', []);
out.privateText = (await privateMessage).event.message.text;

// Unsubscribing leaves the other topics; the socket reports its close to onClose listeners.
out.afterUnsubscribe = await bobSocket.unsubscribe([publicTopic]);
const closed = new Promise((resolve) => anonSocket.onClose((event) => resolve(event.code)));
anonSocket.close();
out.anonClosed = await closed;
out.requestAfterClose = await anonSocket.subscribe([publicTopic]).then(() => 'resolved', (error) => error.message);

// A canister id that is not a principal: the server closes before hello.
out.badCanister = await CanisterSocket.connect({ url: input.host, canisterId: 'not-a-principal', canisterBytes })
  .then(() => 'connected', (error) => error.message);

// Internet Identity style: the page holds a session key and a delegation chain from Alice's
// key; the socket is Alice's. A chain whose targets leave out this canister is refused.
async function delegated(targets) {
  const session = Ed25519KeyIdentity.generate();
  const chain = await DelegationChain.create(alice.identity, session.getPublicKey(),
    new Date(Date.now() + 3600 * 1000), targets ? { targets } : {});
  return DelegationIdentity.fromDelegation(session, chain);
}
const scoped = await delegated([Principal.fromText(input.canisterId)]);
const delegatedSocket = await CanisterSocket.connect({ url: input.host, canisterId: input.canisterId, canisterBytes, identity: scoped });
out.delegatedPrincipal = { socket: delegatedSocket.principal, root: alice.principal };
delegatedSocket.close();
const elsewhere = await delegated([Principal.fromText('aaaaa-aa')]);
out.delegatedElsewhere = await CanisterSocket.connect({ url: input.host, canisterId: input.canisterId, canisterBytes, identity: elsewhere })
  .then(() => 'connected', (error) => error.message);

bobSocket.close();
process.stdout.write(JSON.stringify(out));
