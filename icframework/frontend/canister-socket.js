// The canister socket client for browsers and Node (docs/events.md), as an ES module.
//
// `CanisterSocket.connect({ url, canisterId, identity })` opens
// ws(s)://…/ws/canisters/<id>/events, reads the server's hello and, when `identity` has a
// key (an @dfinity/identity SignIdentity such as Ed25519KeyIdentity), answers the
// challenge with the identity's own signature, so the socket has the principal its HTTP
// calls have. A DelegationIdentity (Internet Identity style: `getDelegation()`) sends its
// delegation chain along, as its HTTP calls do. No key leaves the page. Events go to the
// listeners added with `onEvent` as the server's frame with `value` decoded to bytes:
// { topic, value, height, index, seq }, where `seq` counts the topic's events 1, 2, 3...
// (a `seq` that is neither the previous one plus one nor 1 means events were missed);
// `subscribe` resolves with { topics, refused }, `unsubscribe` with the topics left;
// topics the server withdraws later (access rechecked) go to `onWithdrawn` listeners
// as { topics, reasons }, and a closed socket to `onClose` listeners.
//
// A socket that fell the server's buffer behind its events gets a final `resync` frame
// { reason, last: { topic: { seq, height } } } and is closed with code 4410. The frame
// goes to `onResync` listeners (and stays in `socket.resync`) before the close; it never
// answers a request: requests still waiting are rejected when the socket closes, with an
// error whose `resync` is the frame. The page then reads what changed after `last`
// through a query and connects again at once (docs/events.md).
//
// It depends only on the standard WebSocket API and on the identity object passed in
// (`getPublicKey().toDer()`, `sign(bytes)`), so the browser bundle and Node tests share it.

const DOMAIN = new TextEncoder().encode('\x17icframework-socket-auth');

function b64encode(bytes) {
  let text = '';
  const view = new Uint8Array(bytes);
  for (let i = 0; i < view.length; i += 0x8000) {
    text += String.fromCharCode(...view.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function b64decode(text) {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) out[i] = raw.charCodeAt(i);
  return out;
}

export function challengeMessage(canisterBytes, nonce) {
  const out = new Uint8Array(DOMAIN.length + 1 + canisterBytes.length + nonce.length);
  out.set(DOMAIN, 0);
  out[DOMAIN.length] = canisterBytes.length;
  out.set(canisterBytes, DOMAIN.length + 1);
  out.set(nonce, DOMAIN.length + 1 + canisterBytes.length);
  return out;
}

// The `delegations` of an auth frame (docs/events.md): the chain root first, bytes as
// base64, the expiration (nanoseconds, a bigint) as decimal text, targets as principal
// text; [] for an identity without a delegation chain.
export function delegationFrames(identity) {
  const chain = typeof identity.getDelegation === 'function' ? identity.getDelegation() : null;
  if (!chain) return [];
  return chain.delegations.map(({ delegation, signature }) => ({
    delegation: {
      pubkey: b64encode(delegation.pubkey),
      expiration: BigInt(delegation.expiration).toString(),
      ...(delegation.targets ? { targets: delegation.targets.map((target) => target.toText()) } : {}),
    },
    signature: b64encode(signature),
  }));
}

export function socketUrl(replicaUrl, canisterId) {
  const base = replicaUrl.replace(/\/$/, '').replace(/^http/, 'ws');
  return `${base}/ws/canisters/${canisterId}/events`;
}

export class CanisterSocket {
  constructor(ws, canisterId) {
    this.ws = ws;
    this.canisterId = canisterId;
    this.principal = '2vxsx-fae';
    this.listeners = new Set();
    this.closeListeners = new Set();
    this.withdrawnListeners = new Set();
    this.resyncListeners = new Set();
    this.resync = null;
    this.pending = [];
    this.closed = false;
    ws.addEventListener('message', (message) => this._receive(JSON.parse(message.data)));
    ws.addEventListener('close', (event) => {
      this.closed = true;
      for (const waiter of this.pending.splice(0)) waiter.reject(this._closedError(event.code));
      for (const listener of this.closeListeners) listener(event);
    });
  }

  // canisterBytes: the canister id's raw bytes (Principal.fromText(id).toUint8Array()).
  static connect({ url, canisterId, canisterBytes, identity, WebSocketImpl }) {
    const Impl = WebSocketImpl || globalThis.WebSocket;
    const ws = new Impl(socketUrl(url, canisterId));
    return new Promise((resolve, reject) => {
      const fail = () => reject(new Error(`cannot open the canister socket of ${canisterId}`));
      // A socket that closes before the server's hello (refused, a dropped connection)
      // must not leave the caller waiting: close settles the promise too.
      const closedEarly = (event) => reject(new Error(
        `the canister socket of ${canisterId} closed before the server's hello (code ${event.code})`));
      ws.addEventListener('error', fail, { once: true });
      ws.addEventListener('close', closedEarly, { once: true });
      ws.addEventListener('message', async (message) => {
        ws.removeEventListener('error', fail);
        ws.removeEventListener('close', closedEarly);
        const hello = JSON.parse(message.data);
        if (hello.op !== 'hello') { reject(new Error(`expected hello, got ${hello.op}`)); return; }
        const socket = new CanisterSocket(ws, canisterId);
        try {
          if (identity && typeof identity.sign === 'function') {
            await socket._authenticate(identity, canisterBytes, b64decode(hello.challenge));
          }
          resolve(socket);
        } catch (error) {
          ws.close();
          reject(error);
        }
      }, { once: true });
    });
  }

  async _authenticate(identity, canisterBytes, nonce) {
    const signature = new Uint8Array(await identity.sign(challengeMessage(canisterBytes, nonce)));
    const publicKey = new Uint8Array(identity.getPublicKey().toDer());
    const frame = { op: 'auth', public_key: b64encode(publicKey), signature: b64encode(signature) };
    const delegations = delegationFrames(identity);
    if (delegations.length) frame.delegations = delegations;
    const reply = await this._request(frame);
    if (reply.op !== 'authenticated') throw new Error(`authentication refused: ${reply.message}`);
    this.principal = reply.principal;
  }

  subscribe(topics) {
    return this._request({ op: 'subscribe', topics }).then((reply) => {
      if (reply.op !== 'subscribed') throw new Error(reply.message);
      return { topics: reply.topics, refused: reply.refused || {} };
    });
  }

  // The server answers an unsubscribe with the `subscribed` frame of the topics left.
  unsubscribe(topics) {
    return this._request({ op: 'unsubscribe', topics }).then((reply) => {
      if (reply.op !== 'subscribed') throw new Error(reply.message);
      return reply.topics;
    });
  }

  onEvent(listener) { this.listeners.add(listener); return () => this.listeners.delete(listener); }

  onClose(listener) { this.closeListeners.add(listener); return () => this.closeListeners.delete(listener); }

  onWithdrawn(listener) { this.withdrawnListeners.add(listener); return () => this.withdrawnListeners.delete(listener); }

  // `listener(frame)` once the server says this socket missed events (`op: 'resync'`).
  onResync(listener) { this.resyncListeners.add(listener); return () => this.resyncListeners.delete(listener); }

  // 1000 (normal closure) explicitly: a close frame without a code is answered without
  // one, which the page would see as 1005 (no status).
  close() { this.ws.close(1000); }

  _request(frame) {
    return new Promise((resolve, reject) => {
      if (this.closed) { reject(new Error('the socket is closed')); return; }
      this.pending.push({ resolve, reject });
      this.ws.send(JSON.stringify(frame));
    });
  }

  _closedError(code) {
    if (!this.resync) return new Error(`socket closed (${code})`);
    const error = new Error(`socket closed (${code}): it missed events (${this.resync.reason}); `
      + 'read what changed by query, then connect again');
    error.resync = this.resync;
    return error;
  }

  _receive(frame) {
    if (frame.op === 'event') {
      const event = { ...frame, value: b64decode(frame.value) };
      for (const listener of this.listeners) listener(event);
      return;
    }
    if (frame.op === 'unsubscribed') {
      for (const listener of this.withdrawnListeners) listener({ topics: frame.topics, reasons: frame.reasons || {} });
      return;
    }
    if (frame.op === 'resync') {
      this.resync = frame;
      for (const listener of this.resyncListeners) listener(frame);
      return;
    }
    if (frame.op === 'response') return;
    const waiter = this.pending.shift();
    if (waiter) waiter.resolve(frame);
  }
}
