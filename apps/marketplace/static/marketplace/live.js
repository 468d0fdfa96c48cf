// Live parts of the marketplace page: notifications over the marketplace canister's socket
// and the order conversation, whose messages live in the chat canister.
//
// Notifications: the page opens the canister socket of the marketplace (docs/events.md),
// signs in with the browser's key and subscribes to `user:<principal>`, the topic only
// this user may follow; every `Notification` the canister publishes shows as a toast and
// at the top of the Notifications tab. After (re)connecting it reads `my_notifications`
// so nothing published while the socket was down is lost; a dropped socket reconnects
// with back-off.
//
// Order conversations: `open_order_chat` on the marketplace makes the chat canister open
// the order's private room (buyer and seller only); the page then talks to the chat
// canister directly with the same key: it registers a chat handle if the user has none,
// reads the room's history, sends messages, and follows `room:<id>` over the chat
// canister's socket. Every order room of the user is followed, so a message about any of
// their orders arrives live as a notification even when that conversation is not open.
// An order room is a direct room of the chat canister, so its messages are end-to-end
// encrypted: this page uses the chat page's own module (chat/e2e.js, one origin, one
// browser key, one IndexedDB cache of key material) to derive the room's key from its
// vetKey, seals what it sends (`send_sealed`) and opens what it reads, so a message
// written on either page reads on both. Reading a sealed message needs a chat handle
// (the canister gives the room's key to registered members only): the page registers
// one when the user has none. Text from canisters is set with textContent only.

import { CanisterSocket, IDL, Principal } from '../icframework/ic.js';
import { DirectKeys } from '../chat/e2e.js';

const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 15000;
const TOAST_MS = 6000;
const HISTORY = 50;

const $ = (selector) => document.querySelector(selector);
const unopt = (value) => (value.length ? value[0] : null);

const PENDING_TEXT = '🔒 decrypting…';
const FAILED_TEXT = '🔒 this message cannot be decrypted here';
const messageKey = (message) => `${message.room_id}:${message.id}`;

function element(tag, { className, text, attrs } = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  return node;
}

// One canister socket that signs in, follows a set of topics and comes back after a drop.
class FollowedSocket {
  constructor({ host, canisterId, identity, onEvent, onOpen }) {
    Object.assign(this, { host, canisterId, identity, onEvent, onOpen });
    this.socket = null;
    this.topics = new Set();
    this.delay = RECONNECT_FIRST_MS;
    this.connecting = null;
  }

  async follow(topics) {
    for (const topic of topics) this.topics.add(topic);
    if (this.connecting) await this.connecting;
    if (this.socket) {
      if (topics.length) await this.socket.subscribe(topics);
      return;
    }
    await this.connect();
  }

  connect() {
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      let socket = null;
      try {
        socket = await CanisterSocket.connect({
          url: this.host, canisterId: this.canisterId,
          canisterBytes: Principal.fromText(this.canisterId).toUint8Array(), identity: this.identity,
        });
        socket.onEvent((frame) => this.onEvent(frame));
        socket.onClose(() => this.lost(socket));
        if (this.topics.size) await socket.subscribe([...this.topics]);
        this.socket = socket;
        this.delay = RECONNECT_FIRST_MS;
        await this.onOpen();
      } catch (error) {
        if (socket) socket.close();
        this.lost(null);
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }

  lost(socket) {
    if (socket && this.socket && socket !== this.socket) return;
    this.socket = null;
    const delay = this.delay;
    this.delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    setTimeout(() => this.connect(), delay);
  }
}

export class MarketLive {
  // app: the Market page (its actors, key, agent and `say`); types: the marketplace .did types;
  // chat: null, or { actor, types, canisterId } of the chat canister.
  constructor(app, types, chat) {
    this.app = app;
    this.noteType = types.Notification;
    this.chat = chat;
    this.me = app.principal.toText();
    this.seen = new Set();          // notification ids shown
    this.roomOrders = new Map();    // chat room id (string) -> order id
    this.seenMessages = new Set();  // `${room}:${message}` already announced
    this.openRoom = null;           // the conversation on screen: { orderId, roomId }
    this.unread = 0;
    this.plain = new Map();         // `${room}:${message}` -> Promise of a sealed message's text
    this.registered = null;         // Promise: the user has a chat handle
    this.keys = chat ? new DirectKeys(chat.actor, `${chat.canisterId}:${this.me}`) : null;
  }

  async start() {
    $('[data-view=notifications]').addEventListener('click', () => this.clearUnread());
    $('#chat-form').addEventListener('submit', (event) => { event.preventDefault(); this.send(); });
    $('#chat-close').addEventListener('click', () => this.close());
    this.market = new FollowedSocket({
      host: this.app.config.host, canisterId: this.app.config.canisterId, identity: this.app.identity,
      onEvent: (frame) => this.onNote(frame), onOpen: () => this.catchUp(),
    });
    await this.market.follow([`user:${this.me}`]);
    if (!this.chat) return;
    this.chatSocket = new FollowedSocket({
      host: this.app.config.host, canisterId: this.chat.canisterId, identity: this.app.identity,
      onEvent: (frame) => this.onChatEvent(frame), onOpen: () => this.catchUpRooms(),
    });
    const rooms = await this.app.market.my_order_chats();
    for (const [orderId, roomId] of rooms) this.roomOrders.set(String(roomId), orderId);
    await this.chatSocket.follow(rooms.map(([, roomId]) => `room:${roomId}`));
  }

  // -- notifications ----------------------------------------------------------------------

  onNote(frame) {
    const [note] = IDL.decode([this.noteType], frame.value);
    this.show(note, true);
  }

  // After (re)connecting: what the socket missed. The first time it is the user's list
  // as it was (not counted as unread); after a drop it is news.
  async catchUp() {
    const notes = await this.app.market.my_notifications([], 50);
    for (const note of notes.reverse()) this.show(note, false, this.caughtUp === true);
    this.caughtUp = true;
  }

  show(note, live, news = live) {
    const key = String(note.id);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const amount = unopt(note.amount);
    const text = amount === null ? note.text : `${note.text} (${this.app.format(amount)})`;
    this.addEntry(note.kind, text, { order: unopt(note.order_id), room: unopt(note.room_id), news });
    if (live) this.toast(text);
    const room = unopt(note.room_id);
    const order = unopt(note.order_id);
    if (note.kind === 'order_message' && room !== null && this.chatSocket) {
      this.followRoom(room, order, live).catch((error) => console.warn('cannot follow the order room:', error));
    }
  }

  addEntry(kind, text, { order = null, room = null, news = true } = {}) {
    const li = element('li', { attrs: { 'data-kind': kind }, text });
    if (order !== null) li.dataset.order = String(order);
    if (room !== null) li.dataset.room = String(room);
    if (order !== null && (kind === 'order_message' || kind === 'chat_message')) {
      const button = element('button', { text: 'Open conversation', attrs: { type: 'button' } });
      button.addEventListener('click', () => this.app.guarded(() => this.open(order)));
      li.append(' ', button);
    }
    $('#note-list').prepend(li);
    $('#notes-empty').hidden = true;
    if (news && $('#notifications').hidden) {
      this.unread += 1;
      $('#note-count').textContent = String(this.unread);
      $('#note-count').hidden = false;
    }
  }

  clearUnread() {
    this.unread = 0;
    $('#note-count').hidden = true;
  }

  toast(text) {
    const toast = element('div', { className: 'toast toast-success', text });
    $('#toasts').append(toast);
    setTimeout(() => toast.remove(), TOAST_MS);
  }

  // -- order conversations ----------------------------------------------------------------

  // Follow an order room; with `announce`, messages it already has that this page has not
  // seen are announced (they came before the socket followed the room).
  async followRoom(roomId, orderId, announce) {
    const key = String(roomId);
    if (orderId !== null) this.roomOrders.set(key, orderId);
    await this.chatSocket.follow([`room:${key}`]);
    await this.readRoom(roomId, announce);
  }

  // Once the chat socket is (re)open: what the followed rooms got meanwhile. The first time,
  // what they hold is only marked as seen (it is not news); after a reconnect it is announced.
  async catchUpRooms() {
    const announce = this.chatOpened === true;
    this.chatOpened = true;
    for (const roomId of this.roomOrders.keys()) await this.readRoom(BigInt(roomId), announce);
  }

  async readRoom(roomId, announce) {
    const page = await this.chat.actor.history(BigInt(roomId), [], HISTORY);
    for (const message of page.messages) {
      if (announce) this.onMessage(message);
      else this.seenMessages.add(`${message.room_id}:${message.id}`);
    }
  }

  onChatEvent(frame) {
    const [event] = IDL.decode([this.chat.types.ChatEvent], frame.value);
    if ('message' in event) this.onMessage(event.message);
  }

  async onMessage(message) {
    const key = messageKey(message);
    if (this.seenMessages.has(key)) return;
    this.seenMessages.add(key);
    const onScreen = this.openRoom && this.openRoom.roomId === message.room_id;
    if (onScreen) this.renderMessage(message);
    if (message.author.toText() === this.me || onScreen) return;
    const order = this.roomOrders.get(String(message.room_id));
    const text = `New message about order ${order === undefined ? '?' : order}: ${await this.textOf(message)}`;
    this.addEntry('chat_message', text, { order: order === undefined ? null : order, room: message.room_id });
    this.toast(text);
  }

  // What a message says: its text, or a sealed one decrypted with the room's key.
  textOf(message) {
    if (!message.sealed || !message.sealed.length) return Promise.resolve(message.text);
    const key = messageKey(message);
    if (!this.plain.has(key)) {
      this.plain.set(key, this.ensureChatUser()
        .then(() => this.keys.open(message.room_id, message.sealed[0]))
        .catch((error) => {
          console.warn('cannot decrypt an order message:', error);
          this.plain.delete(key);   // tried again when it is shown again
          return FAILED_TEXT;
        }));
    }
    return this.plain.get(key);
  }

  // A chat handle for users who have none: "m" and the first letters of the principal.
  ensureChatUser() {
    if (!this.registered) {
      this.registered = (async () => {
        if (unopt(await this.chat.actor.me())) return;
        const handle = `m${this.me.replace(/-/g, '').slice(0, 15)}`;
        await this.chat.actor.register(handle, `Market user ${this.me.slice(0, 5)}`);
      })();
      this.registered.catch(() => { this.registered = null; });
    }
    return this.registered;
  }

  async open(orderId) {
    if (!this.chat) throw new Error('order conversations are off: the marketplace has no chat canister');
    const roomId = await this.app.market.open_order_chat(BigInt(orderId));
    await this.ensureChatUser();
    this.openRoom = { orderId: BigInt(orderId), roomId };
    $('#chat-title').textContent = `Order ${orderId}: buyer and seller`;
    $('#chat-messages').replaceChildren();
    $('#chat-panel').hidden = false;
    $('#chat-panel').dataset.room = String(roomId);
    const page = await this.chat.actor.history(roomId, [], HISTORY);
    for (const message of page.messages) {
      this.seenMessages.add(`${message.room_id}:${message.id}`);
      this.renderMessage(message);
    }
    await this.followRoom(roomId, BigInt(orderId), true);
    $('#chat-text').focus();
  }

  close() {
    this.openRoom = null;
    $('#chat-panel').hidden = true;
  }

  renderMessage(message) {
    const mine = message.author.toText() === this.me;
    const li = element('li', { className: mine ? 'chat-mine' : 'chat-theirs', attrs: { 'data-message': String(message.id) } });
    const sealed = Boolean(message.sealed && message.sealed.length);
    const body = element('span', { className: 'chat-text', text: sealed ? PENDING_TEXT : message.text });
    li.append(element('span', { className: 'chat-author', text: mine ? 'you' : `@${message.author_handle}` }), body);
    if (sealed) {
      li.classList.add('chat-sealed');
      li.title = 'end-to-end encrypted';
      this.textOf(message).then((text) => { body.textContent = text; });
    }
    $('#chat-messages').append(li);
    li.scrollIntoView({ block: 'nearest' });
  }

  // Seal the text with the room's key and send it; the page knows its own words already.
  async send() {
    const input = $('#chat-text');
    const text = input.value.trim();
    if (!text || !this.openRoom) return;
    const { roomId } = this.openRoom;
    await this.app.guarded(async () => {
      const message = await this.chat.actor.send_sealed(roomId, await this.keys.seal(roomId, text), []);
      this.plain.set(messageKey(message), Promise.resolve(text));
      input.value = '';
      await this.onMessage(message);
    });
  }
}
