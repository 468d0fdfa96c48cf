// The chat page: sign-in with a key kept in this browser, rooms, and a live room view.
//
// Everything runs here, with the user's own Ed25519 key (generated on first visit and
// kept in localStorage; the server never sees it): calls go to the chat canister
// through @dfinity/agent, whose actor is built from the canister's own chat.did. Live
// updates come over the canister socket (docs/events.md): the page subscribes to the
// open room and to its user's topic and applies `ChatEvent`s as docs/chat.md "Sync"
// describes. While the socket is down the page polls `changes_since` instead and keeps
// trying to reconnect; after a reconnect it catches up with `changes_since` once.
//
// Messages are built with DOM methods only. A message's `html` (the canister's escaped
// markdown) is parsed into an inert document and copied element by element, keeping
// only the tags the canister emits and http(s) links; everything else becomes text.

import {
  Actor, CanisterSocket, Ed25519KeyIdentity, HttpAgent, IDL, Principal, parseDid,
} from '../icframework/ic.js';

const KEY_STORAGE = 'icframework.chat.identity';
const POLL_MS = 1500;
const RECONNECT_MAX_MS = 10000;
const ROOMS_REFRESH_MS = 15000;
const HISTORY_PAGE = 50;
const FOLLOWED_ROOMS = 60;          // a socket carries at most 64 topics (docs/events.md)
const TYPING_EVERY_MS = 3000;
const QUICK_REACTIONS = ['👍', '❤️', '😂'];

const $ = (selector) => document.querySelector(selector);

function element(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// -- safe rendering of the canister's html --------------------------------------------------

const ALLOWED_TAGS = new Set(['STRONG', 'EM', 'DEL', 'CODE', 'PRE', 'BR', 'A', 'SPAN']);

function safeCopy(source, target) {
  for (const node of source.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) { target.append(node.data); continue; }
    if (node.nodeType !== Node.ELEMENT_NODE) continue;
    if (!ALLOWED_TAGS.has(node.tagName)) { target.append(node.textContent); continue; }
    const copy = document.createElement(node.tagName.toLowerCase());
    if (node.tagName === 'A') {
      const href = node.getAttribute('href') || '';
      if (!/^https?:\/\//i.test(href)) { target.append(node.textContent); continue; }
      copy.href = href;
      copy.rel = 'noopener noreferrer';
      copy.target = '_blank';
    } else if (node.tagName === 'SPAN') {
      if (!node.classList.contains('mention')) { target.append(node.textContent); continue; }
      copy.className = 'mention';
    } else if (node.tagName === 'CODE' && /^language-[\w+-]+$/.test(node.className)) {
      copy.className = node.className;
    }
    safeCopy(node, copy);
    target.append(copy);
  }
}

function renderHtml(html) {
  const container = element('div', { className: 'body' });
  // A DOMParser document has no browsing context: nothing in it runs or loads.
  const parsed = new DOMParser().parseFromString(`<body>${html}</body>`, 'text/html');
  safeCopy(parsed.body, container);
  return container;
}

// -- identity and canister ------------------------------------------------------------------

function loadIdentity() {
  const saved = localStorage.getItem(KEY_STORAGE);
  if (saved) return Ed25519KeyIdentity.fromJSON(saved);
  const identity = Ed25519KeyIdentity.generate();
  localStorage.setItem(KEY_STORAGE, JSON.stringify(identity.toJSON()));
  return identity;
}

function rejectText(error) {
  const code = error && error.cause && error.cause.code;
  if (code && code.rejectMessage) return code.rejectMessage;
  return String((error && error.message) || error);
}

const opt = (value) => (value === undefined || value === null ? [] : [value]);
const unopt = (value) => (value.length ? value[0] : null);
const tagOf = (variant) => Object.keys(variant)[0];
const maxSeq = (a, b) => (a > b ? a : b);

class ChatPage {
  constructor(config) {
    this.config = config;
    this.identity = loadIdentity();
    this.principal = this.identity.getPrincipal().toText();
    this.me = null;
    this.rooms = new Map();          // room id (string) -> MyRoomView
    this.roomId = null;              // BigInt of the open room
    this.messages = new Map();       // message id (string) -> MessageView
    this.seq = 0n;                   // highest seq applied in the open room
    this.replyTo = null;             // MessageView being replied to
    this.editing = null;             // MessageView being edited
    this.socket = null;
    this.topics = new Set();         // topics the socket is subscribed to
    this.topicSync = Promise.resolve();
    this.roomsRefresh = null;
    this.reconnectDelay = 500;
    this.reconnectTimer = null;
    this.pollTimer = null;
    this.syncing = null;
    this.lastTyping = 0;
  }

  async start() {
    $('#principal').textContent = this.principal;
    const did = await (await fetch(this.config.didUrl)).text();
    const { types, idlFactory } = parseDid(IDL, did);
    this.eventType = types.ChatEvent;
    this.agent = await HttpAgent.create({
      host: this.config.host, identity: this.identity, shouldFetchRootKey: true,
    });
    this.chat = Actor.createActor(idlFactory, { agent: this.agent, canisterId: this.config.canisterId });
    this.bindForms();
    this.me = unopt(await this.chat.me());
    if (this.me) await this.enter(); else this.show('signin');
  }

  show(section) {
    for (const id of ['signin', 'app']) $(`#${id}`).hidden = id !== section;
  }

  error(text) {
    const box = $('#error');
    box.textContent = text;
    box.hidden = !text;
  }

  async run(action) {
    this.error('');
    try { return await action(); } catch (error) { this.error(rejectText(error)); return undefined; }
  }

  bindForms() {
    $('#register-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const form = event.target;
      this.run(async () => {
        this.me = await this.chat.register(form.handle.value, form.display_name.value);
        await this.enter();
      });
    });
    $('#create-room-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const form = event.target;
      this.run(async () => {
        const view = await this.chat.create_room(form.name.value, '', form.public.checked);
        form.reset();
        await this.refreshRooms();
        await this.openRoom(view.room.id);
      });
    });
    $('#compose').addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitCompose();
    });
    $('#compose textarea').addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); this.submitCompose(); return; }
      this.sendTyping();
    });
    $('#cancel-compose').addEventListener('click', () => this.resetCompose());
  }

  async enter() {
    $('#me').textContent = `@${this.me.handle}`;
    this.show('app');
    await this.refreshRooms();
    await this.refreshPublicRooms();
    this.connect();
    setInterval(() => { this.refreshRooms(); this.refreshPublicRooms(); }, ROOMS_REFRESH_MS);
  }

  // -- the socket, and polling while it is down ---------------------------------------------

  setMode(mode) {
    const status = $('#status');
    status.textContent = mode;
    status.dataset.mode = mode;
  }

  async connect() {
    this.setMode('connecting');
    try {
      const socket = await CanisterSocket.connect({
        url: this.config.host,
        canisterId: this.config.canisterId,
        canisterBytes: Principal.fromText(this.config.canisterId).toUint8Array(),
        identity: this.identity,
      });
      this.socket = socket;
      socket.onEvent((event) => this.onSocketEvent(event));
      socket.onClose(() => this.onSocketClosed());
      socket.onWithdrawn(({ topics }) => {
        for (const topic of topics) this.topics.delete(topic);
        this.refreshRooms();
      });
      this.topics = new Set();
      await this.syncTopics();
      this.reconnectDelay = 500;
      this.stopPolling();
      this.setMode('live');
      // Events published while the socket was down are not replayed: catch up once.
      if (this.roomId !== null) await this.catchUp();
      await this.refreshRooms();
    } catch (error) {
      this.onSocketClosed();
    }
  }

  // The socket closed or could not open: poll until a reconnect (with back-off) succeeds.
  onSocketClosed() {
    this.socket = null;
    this.topics = new Set();
    this.setMode('polling');
    if (this.pollTimer === null) this.startPolling();
    if (this.reconnectTimer !== null) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => { this.reconnectTimer = null; this.connect(); }, delay);
  }

  startPolling() {
    this.pollTimer = setInterval(() => { if (this.roomId !== null) this.catchUp(); }, POLL_MS);
  }

  stopPolling() {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  onSocketEvent(frame) {
    const [event] = IDL.decode([this.eventType], frame.value);
    const tag = tagOf(event);
    const value = event[tag];
    if (this.roomId !== null && value.room_id === this.roomId && tag !== 'mention') {
      this.apply(event);
      return;
    }
    // Another room on the list changed (unread counts, last message), or a new room.
    if (tag !== 'typing' && tag !== 'read') this.scheduleRoomsRefresh();
  }

  scheduleRoomsRefresh() {
    if (this.roomsRefresh !== null) return;
    this.roomsRefresh = setTimeout(() => { this.roomsRefresh = null; this.refreshRooms(); }, 200);
  }

  // Follow the user's topic, the open room and the rooms on the list; one change at a time.
  syncTopics() {
    this.topicSync = this.topicSync.then(async () => {
      const socket = this.socket;
      if (!socket) return;
      const wanted = new Set([`user:${this.principal}`]);
      if (this.roomId !== null) wanted.add(`room:${this.roomId}`);
      for (const id of [...this.rooms.keys()].slice(0, FOLLOWED_ROOMS)) wanted.add(`room:${id}`);
      const gone = [...this.topics].filter((topic) => !wanted.has(topic));
      const added = [...wanted].filter((topic) => !this.topics.has(topic));
      try {
        if (gone.length) this.topics = new Set(await socket.unsubscribe(gone));
        if (added.length) this.topics = new Set((await socket.subscribe(added)).topics);
      } catch (error) {
        if (socket === this.socket) socket.close();
      }
    });
    return this.topicSync;
  }

  // `changes_since` until `more` is false; one sync at a time.
  catchUp() {
    if (this.syncing) return this.syncing;
    const roomId = this.roomId;
    this.syncing = (async () => {
      try {
        for (;;) {
          const changes = await this.chat.changes_since(roomId, this.seq);
          if (roomId !== this.roomId) return;
          for (const event of changes.events) this.apply(event);
          if (changes.seq > this.seq) this.seq = changes.seq;
          if (!changes.more) break;
        }
      } catch (error) {
        this.error(rejectText(error));
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  // -- rooms ----------------------------------------------------------------------------------

  async refreshRooms() {
    const rooms = await this.chat.my_rooms();
    this.rooms = new Map(rooms.map((view) => [String(view.room.id), view]));
    const list = $('#rooms');
    list.replaceChildren();
    this.syncTopics();
    for (const view of rooms) {
      const name = view.room.name || (view.peer.length ? `@${view.peer[0].handle}` : 'direct');
      const open = this.roomId !== null && view.room.id === this.roomId;
      const unread = open ? 0 : view.unread;
      const item = element('li', {
        className: open ? 'room open' : 'room',
        attrs: { 'data-room-id': String(view.room.id) },
      }, [
        element('button', { className: 'room-name', text: name }),
        element('span', {
          className: 'unread',
          text: unread >= 100 ? '100+' : String(unread),
          attrs: unread ? {} : { hidden: '' },
        }),
      ]);
      item.querySelector('button').addEventListener('click', () => this.openRoom(view.room.id));
      list.append(item);
    }
  }

  async refreshPublicRooms() {
    const rooms = await this.chat.public_rooms('', [], 50);
    const list = $('#public-rooms');
    list.replaceChildren();
    for (const room of rooms) {
      const item = element('li', { attrs: { 'data-room-id': String(room.id) } }, [
        element('span', { className: 'room-name', text: `${room.name} (${room.member_count})` }),
        element('button', { className: 'join', text: 'Join' }),
      ]);
      item.querySelector('button').addEventListener('click', () => this.run(async () => {
        await this.chat.join_room(room.id);
        await this.refreshRooms();
        await this.openRoom(room.id);
      }));
      list.append(item);
    }
  }

  async openRoom(roomId) {
    this.roomId = roomId;
    $('#room').dataset.ready = 'false';
    this.messages = new Map();
    this.seq = 0n;
    this.resetCompose();
    $('#messages').replaceChildren();
    $('#room').hidden = false;
    const view = this.rooms.get(String(roomId));
    $('#room-name').textContent = view ? (view.room.name || 'direct') : `room ${roomId}`;
    // Subscribed before reading history, so nothing falls between the two.
    await this.syncTopics();
    const page = await this.chat.history(roomId, [], HISTORY_PAGE);
    if (roomId !== this.roomId) return;
    for (const message of page.messages) this.upsert(message);
    if (page.seq > this.seq) this.seq = page.seq;
    await this.markRead();
    await this.refreshRooms();
    $('#room').dataset.ready = 'true';
  }

  async markRead() {
    let last = 0n;
    for (const message of this.messages.values()) if (message.id > last) last = message.id;
    if (last > 0n) await this.chat.mark_read(this.roomId, last).catch(() => {});
  }

  // -- applying events ------------------------------------------------------------------------

  apply(event) {
    const tag = tagOf(event);
    const value = event[tag];
    if (value.seq !== undefined && value.seq > this.seq) this.seq = value.seq;
    if (tag === 'message' || tag === 'edited') {
      const isNew = !this.messages.has(String(value.id));
      this.upsert(value);
      if (isNew && document.visibilityState === 'visible') this.markRead();
    } else if (tag === 'deleted') {
      const message = this.messages.get(String(value.message_id));
      if (message) {
        this.upsert({ ...message, deleted: true, text: '', html: '', reactions: [], mentions: [], seq: value.seq });
      }
    } else if (tag === 'reaction') {
      this.applyReaction(value);
    } else if (tag === 'pinned') {
      const message = this.messages.get(String(value.message_id));
      if (message) this.upsert({ ...message, pinned: value.pinned, seq: maxSeq(message.seq, value.seq) });
    } else if (tag === 'typing') {
      this.showTyping(value);
    }
  }

  applyReaction(event) {
    const message = this.messages.get(String(event.message_id));
    if (!message) return;
    const reactions = message.reactions.filter((r) => r.emoji !== event.emoji);
    const old = message.reactions.find((r) => r.emoji === event.emoji);
    if (event.count > 0) {
      let users = old ? old.users.filter((u) => u.toText() !== event.user.toText()) : [];
      if (event.added) users = [event.user, ...users].slice(0, 10);
      const mine = event.user.toText() === this.principal ? event.added : Boolean(old && old.me);
      reactions.push({ emoji: event.emoji, count: event.count, me: mine, users });
    }
    const order = message.reactions.map((r) => r.emoji);
    reactions.sort((a, b) => (order.indexOf(a.emoji) + 1 || 1e9) - (order.indexOf(b.emoji) + 1 || 1e9));
    this.upsert({ ...message, reactions, seq: maxSeq(message.seq, event.seq) });
  }

  showTyping(event) {
    if (event.user.toText() === this.principal) return;
    const box = $('#typing');
    box.textContent = `@${event.handle} is typing…`;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => { box.textContent = ''; }, 3000);
  }

  // -- messages -------------------------------------------------------------------------------

  iReacted(reaction) {
    return reaction.me || reaction.users.some((u) => u.toText() === this.principal);
  }

  // Replies and events can arrive in either order: a view older than the one shown is dropped.
  upsert(message) {
    const shown = this.messages.get(String(message.id));
    if (shown && shown.seq > message.seq) return;
    this.messages.set(String(message.id), message);
    const list = $('#messages');
    const node = this.renderMessage(message);
    const existing = list.querySelector(`li[data-message-id="${message.id}"]`);
    if (existing) { existing.replaceWith(node); return; }
    const after = [...list.children].find((li) => BigInt(li.dataset.messageId) > message.id);
    list.insertBefore(node, after || null);
    node.scrollIntoView({ block: 'nearest' });
  }

  renderMessage(message) {
    const mine = message.author.toText() === this.principal;
    const classes = ['message'];
    if (mine) classes.push('mine');
    if (message.deleted) classes.push('deleted');
    const item = element('li', {
      className: classes.join(' '),
      attrs: { 'data-message-id': String(message.id), 'data-author': message.author_handle },
    });
    const header = element('div', { className: 'meta' }, [
      element('span', { className: 'author', text: `@${message.author_handle}` }),
      element('time', { text: new Date(Number(message.created_at / 1_000_000n)).toLocaleTimeString() }),
    ]);
    if (message.edited && !message.deleted) header.append(element('span', { className: 'edited', text: '(edited)' }));
    if (message.pinned) header.append(element('span', { className: 'pinned', text: '📌' }));
    item.append(header);
    const quote = unopt(message.quote);
    if (quote) {
      item.append(element('blockquote', {
        className: 'quote',
        text: quote.deleted ? 'deleted message' : `@${quote.author_handle}: ${quote.excerpt}`,
      }));
    }
    if (message.deleted) {
      item.append(element('div', { className: 'body', text: 'message deleted' }));
      return item;
    }
    item.append(renderHtml(message.html));
    const reactions = element('div', { className: 'reactions' });
    for (const reaction of message.reactions) {
      const me = this.iReacted(reaction);
      const button = element('button', {
        className: me ? 'reaction me' : 'reaction',
        text: `${reaction.emoji} ${reaction.count}`,
        attrs: { 'data-emoji': reaction.emoji, 'data-count': String(reaction.count) },
      });
      button.addEventListener('click', () => this.toggleReaction(message, reaction.emoji));
      reactions.append(button);
    }
    item.append(reactions);
    const actions = element('div', { className: 'actions' });
    const action = (className, text, handler, attrs) => {
      const button = element('button', { className, text, attrs });
      button.addEventListener('click', handler);
      actions.append(button);
    };
    action('reply', 'Reply', () => this.startReply(message));
    for (const emoji of QUICK_REACTIONS) {
      action('react', emoji, () => this.toggleReaction(message, emoji), { 'data-emoji': emoji, title: `react ${emoji}` });
    }
    if (mine) {
      action('edit', 'Edit', () => this.startEdit(message));
      action('delete', 'Delete', () => this.run(() => this.chat.delete_message(message.room_id, message.id)));
    }
    item.append(actions);
    return item;
  }

  toggleReaction(message, emoji) {
    const current = this.messages.get(String(message.id)) || message;
    const existing = current.reactions.find((r) => r.emoji === emoji);
    const remove = existing && this.iReacted(existing);
    this.run(async () => {
      const view = remove
        ? await this.chat.remove_reaction(current.room_id, current.id, emoji)
        : await this.chat.add_reaction(current.room_id, current.id, emoji);
      if (view.room_id === this.roomId) this.upsert(view);
    });
  }

  // -- composing ------------------------------------------------------------------------------

  sendTyping() {
    const now = Date.now();
    if (this.roomId === null || this.editing || now - this.lastTyping < TYPING_EVERY_MS) return;
    this.lastTyping = now;
    this.chat.typing(this.roomId).catch(() => {});
  }

  startReply(message) {
    this.editing = null;
    this.replyTo = message;
    this.showComposeContext(`Replying to @${message.author_handle}: ${message.text.slice(0, 80)}`);
    $('#compose textarea').focus();
  }

  startEdit(message) {
    this.replyTo = null;
    this.editing = message;
    this.showComposeContext('Editing your message');
    const box = $('#compose textarea');
    box.value = message.text;
    box.focus();
  }

  showComposeContext(text) {
    $('#compose-context-text').textContent = text;
    $('#compose-context').hidden = false;
  }

  resetCompose() {
    this.replyTo = null;
    this.editing = null;
    $('#compose-context').hidden = true;
    $('#compose textarea').value = '';
  }

  submitCompose() {
    const box = $('#compose textarea');
    const text = box.value;
    if (!text.trim() || this.roomId === null) return;
    const roomId = this.roomId;
    this.run(async () => {
      const view = this.editing
        ? await this.chat.edit_message(roomId, this.editing.id, text)
        : await this.chat.send_message(roomId, text, opt(this.replyTo && this.replyTo.id));
      this.resetCompose();
      if (view.room_id === this.roomId) this.upsert(view);
    });
  }
}

const config = JSON.parse($('#chat-config').textContent);
if (config) {
  const page = new ChatPage(config);
  page.start().catch((error) => page.error(`cannot start the chat: ${rejectText(error)}`));
}
