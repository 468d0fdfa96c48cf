// The chat page: sign-in with a key kept in this browser, rooms and direct messages, a
// live room view with pins, search, members and invite links.
//
// Everything runs here, with the browser's own key (browserIdentity in the framework
// bundle: a non-extractable WebCrypto key in IndexedDB, shared by every app of this
// origin; the server never sees it): calls go to the chat canister
// through @dfinity/agent, whose actor is built from the canister's own chat.did. Live
// updates come over the canister socket (docs/events.md): the page subscribes to the
// open room, the rooms on its list and its user's topic, and applies `ChatEvent`s as
// docs/chat.md "Sync" describes. When the socket drops (or cannot open) the page polls
// `changes_since` and reconnects with back-off; once the socket is back it catches up
// with `changes_since` and stops polling. A socket the server closed because the page
// fell behind its events (code 4410, after a `resync` frame) is reopened at once, with
// the same catch-up: events are never skipped silently.
//
// Invite links are this page's URL with `#invite=<code>`: the fragment never reaches
// the server, and the page reads it on load (or when it changes) and offers to join.
// `?dm=<principal>` (the social app's "Message" button) opens the direct conversation
// with that user once this browser's key has a handle.
//
// Messages are built with DOM methods only. A message's `html` (the canister's escaped
// markdown) is parsed into an inert document and copied element by element, keeping
// only the tags the canister emits and http(s) links; everything else becomes text.
// A refused call (a reject) shows the canister's own message in the error line.
//
// A visitor without a handle sees the landing: the public rooms with the recent
// messages of one of them (anyone may read public rooms, docs/chat.md) next to the
// sign-up form; the connection badge shows only once the page follows rooms live.
//
// Direct messages are end-to-end encrypted (e2e.js): the page seals what it sends to a
// direct room and opens what it receives; search covers the messages it opened, here.
// Threads open in a panel beside the room (threads.js). Rooms can be favourites (listed
// first) or archived (folded away); own messages show delivered/read receipts; a message
// can be scheduled for later (plain rooms only: a sealed body needs the page to send it).

import {
  Actor, CanisterSocket, HttpAgent, IDL, Principal, browserIdentity, parseDid,
} from '../icframework/ic.js';
import { DirectKeys } from './e2e.js';
import { ThreadPanel } from './threads.js';
import { attachmentNodes, bindTray } from './attachments.js';
import { Polls, expiredBy } from './polls.js';

// Where earlier versions of the apps kept an extractable key: migrated once, then deleted.
const LEGACY_KEYS = ['icframework.chat.identity', 'icframework.market.identity'];
const POLL_MS = 1500;
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 10000;
const ROOMS_REFRESH_MS = 15000;
const HISTORY_PAGE = 50;
const MEMBERS_PAGE = 500;
const SEARCH_LIMIT = 50;
const FOLLOWED_ROOMS = 60;          // a socket carries at most 64 topics (docs/events.md)
const TYPING_EVERY_MS = 3000;
const QUICK_REACTIONS = ['👍', '❤️', '😂'];
const FRAME_BUDGET_SPENT = 4008;    // the server's close code: wait before reconnecting
const EVENTS_MISSED = 4410;         // the server's close code: catch up and reconnect now
const RANK = { owner: 3, admin: 2, member: 1 };
const RECEIPT_ROOM_MAX = 50;        // rooms up to this size list every member's markers

const $ = (selector) => document.querySelector(selector);

function element(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// A round badge with the first letter of ``handle`` on one of the design system's gradients.
function avatar(handle) {
  let hue = 0;
  for (const char of handle) hue = (hue * 31 + char.codePointAt(0)) % 8;
  const initial = (handle.match(/[A-Za-z0-9]/) || ['?'])[0].toUpperCase();
  return element('span', { className: `avatar avatar-sm avatar-hue-${hue}`, text: initial, attrs: { 'aria-hidden': 'true' } });
}

function button(className, text, handler, attrs) {
  const node = element('button', { className, text, attrs: { type: 'button', ...(attrs || {}) } });
  node.addEventListener('click', handler);
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

function rejectText(error) {
  const code = error && error.cause && error.cause.code;
  if (code && code.rejectMessage) return code.rejectMessage;
  return String((error && error.message) || error);
}

// The invite code in a link (`…#invite=CODE`, `…?invite=CODE`) or a bare code.
function inviteCode(text) {
  const trimmed = (text || '').trim();
  const found = trimmed.match(/[#?&]invite=([A-Za-z0-9_-]+)/);
  if (found) return found[1];
  return /^[A-Za-z0-9_-]+$/.test(trimmed) ? trimmed : null;
}

function inviteLink(code) {
  return `${location.origin}${location.pathname}#invite=${code}`;
}

const opt = (value) => (value === undefined || value === null ? [] : [value]);
const unopt = (value) => (value.length ? value[0] : null);
const tagOf = (variant) => Object.keys(variant)[0];
const maxSeq = (a, b) => (a > b ? a : b);
const excerpt = (text, length) => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > length ? `${line.slice(0, length - 1)}…` : line;
};
const timeOf = (ns) => new Date(Number(ns / 1_000_000n));
const isDirect = (room) => tagOf(room.kind) === 'direct';

function roomTitle(view) {
  if (view.room.name) return view.room.name;
  return view.peer.length ? `@${view.peer[0].handle}` : 'direct';
}

function roomKind(room) {
  if (isDirect(room)) return 'direct';
  return room.public ? 'public' : 'private';
}

const KIND_LABEL = { direct: 'direct message', public: 'public room', private: 'private room' };

class ChatPage {
  constructor(config) {
    this.config = config;
    this.identity = null;            // the browser's key, once start() has loaded it
    this.principal = null;
    this.me = null;
    this.rooms = new Map();          // room id (string) -> MyRoomView
    this.roomId = null;              // BigInt of the open room
    this.messages = new Map();       // message id (string) -> MessageView
    this.seq = 0n;                   // highest seq applied in the open room
    this.nextBefore = null;          // history cursor of older messages (BigInt), if any
    this.replyTo = null;             // MessageView being replied to
    this.editing = null;             // MessageView being edited
    this.confirming = null;          // the action the confirm form asks about
    this.pendingInvite = null;       // invite code of the preview
    this.pendingDirect = null;       // principal from ?dm=, to open a direct room with
    this.socket = null;
    this.connecting = false;
    this.topics = new Set();         // topics the socket is subscribed to
    this.topicSync = Promise.resolve();
    this.roomsRefresh = null;
    this.pinnedRefresh = null;
    this.membersRefresh = null;
    this.reconnectDelay = RECONNECT_FIRST_MS;
    this.reconnectTimer = null;
    this.pollTimer = null;
    this.syncing = null;
    this.lastTyping = 0;
    this.keys = null;                // DirectKeys: the direct rooms' AES-GCM keys
    this.threads = null;             // ThreadPanel
    this.plain = new Map();          // "room:id" -> text of an opened sealed message
    this.threadOf = new Map();       // "room:id" -> root id, for the sealed thread replies
    this.threadUnread = new Map();   // root id (string) -> unread replies, open room
    this.marks = null;               // principal -> { delivered, read }, open room (small rooms)
    this.marksRefresh = null;
  }

  async start() {
    this.identity = await browserIdentity({ legacyStorageKeys: LEGACY_KEYS });
    this.principal = this.identity.getPrincipal().toText();
    $('#principal').textContent = this.principal;
    this.pendingInvite = inviteCode(location.hash) || inviteCode(location.search);
    this.pendingDirect = new URLSearchParams(location.search).get('dm');
    const did = await (await fetch(this.config.didUrl)).text();
    const { types, idlFactory } = parseDid(IDL, did);
    this.eventType = types.ChatEvent;
    this.agent = await HttpAgent.create({
      host: this.config.host, identity: this.identity, shouldFetchRootKey: true,
    });
    this.chat = Actor.createActor(idlFactory, { agent: this.agent, canisterId: this.config.canisterId });
    this.keys = new DirectKeys(this.chat, `${this.config.canisterId}:${this.principal}`);
    this.threads = new ThreadPanel(this);
    this.bindForms();
    this.tray = bindTray(this);
    this.polls = new Polls(this);
    this.polls.bind();
    this.me = unopt(await this.chat.me());
    if (this.me) {
      await this.enter();
    } else {
      $('#signin-invite').hidden = this.pendingInvite === null;
      this.show('signin');
      await this.showLanding();
    }
  }

  show(section) {
    $('#loading').hidden = true;
    for (const id of ['signin', 'app']) $(`#${id}`).hidden = id !== section;
  }

  // The public rooms a visitor can read before signing up, the first one previewed.
  async showLanding() {
    const rooms = await this.chat.public_rooms('', [], 12);
    const list = $('#landing-rooms');
    list.replaceChildren();
    $('#landing-empty').hidden = rooms.length > 0;
    for (const room of rooms) {
      const card = element('button', {
        className: 'room-card', attrs: { type: 'button', 'data-room-id': String(room.id), 'aria-pressed': 'false' },
      }, [
        element('span', { className: 'room-card-icon', text: '#', attrs: { 'aria-hidden': 'true' } }),
        element('span', { className: 'room-card-text' }, [
          element('span', { className: 'room-card-name', text: room.name }),
          element('span', { className: 'room-card-description', text: room.description || 'A public room' }),
        ]),
        element('span', { className: 'badge', text: `${room.member_count} ${room.member_count === 1 ? 'member' : 'members'}` }),
      ]);
      card.addEventListener('click', () => this.run(() => this.previewRoom(room)));
      list.append(element('li', {}, [card]));
    }
    if (!rooms.length) return;
    // The liveliest of the first few rooms: the one with the most recent messages.
    const pages = await Promise.all(rooms.slice(0, 4).map((room) => this.chat.history(room.id, [], 20)));
    const counts = pages.map((page) => page.messages.filter((m) => !m.deleted).length);
    const best = counts.indexOf(Math.max(...counts));
    await this.previewRoom(rooms[best], pages[best]);
  }

  async previewRoom(room, history) {
    for (const card of document.querySelectorAll('#landing-rooms .room-card')) {
      card.setAttribute('aria-pressed', String(card.dataset.roomId === String(room.id)));
    }
    const page = history || await this.chat.history(room.id, [], 20);
    $('#preview-name').textContent = `# ${room.name}`;
    $('#preview-description').textContent = room.description;
    $('#preview-members').textContent = `${room.member_count} ${room.member_count === 1 ? 'member' : 'members'}`;
    const list = $('#preview-messages');
    list.replaceChildren();
    for (const message of page.messages.filter((m) => !m.deleted)) {
      const item = element('li', { className: 'message preview-message' }, [
        avatar(message.author_handle),
        element('div', { className: 'meta' }, [
          element('span', { className: 'author', text: `@${message.author_handle}` }),
          element('time', { text: timeOf(message.created_at).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }) }),
        ]),
        renderHtml(message.html),
      ]);
      if (message.reactions.length) {
        item.append(element('div', { className: 'reactions' }, message.reactions.map((reaction) => (
          element('span', { className: 'badge', text: `${reaction.emoji} ${reaction.count}` })))));
      }
      list.append(item);
    }
    $('#preview-empty').hidden = list.children.length > 0;
    $('#landing-preview').hidden = false;
  }

  error(text) {
    const box = $('#error');
    box.textContent = text;
    box.hidden = !text;
  }

  notify(text) {
    const box = $('#notice');
    box.textContent = text;
    box.hidden = !text;
  }

  // Run a user action: its reject (or any failure) goes to the error line.
  async run(action) {
    this.error('');
    this.notify('');
    try { return await action(); } catch (error) { this.error(rejectText(error)); return undefined; }
  }

  onSubmit(selector, handler) {
    $(selector).addEventListener('submit', (event) => {
      event.preventDefault();
      handler(event.target);
    });
  }

  onClick(selector, handler) {
    $(selector).addEventListener('click', handler);
  }

  bindForms() {
    this.onSubmit('#register-form', (form) => this.run(async () => {
      this.me = await this.chat.register(form.handle.value, form.display_name.value);
      await this.enter();
    }));
    this.onSubmit('#create-room-form', (form) => this.run(async () => {
      const view = await this.chat.create_room(form.name.value, '', form.public.checked);
      form.reset();
      await this.refreshRooms();
      await this.openRoom(view.room.id);
    }));
    this.onSubmit('#direct-form', (form) => this.run(async () => {
      const view = await this.chat.open_direct(form.handle.value.trim());
      form.reset();
      await this.refreshRooms();
      await this.openRoom(view.room.id);
    }));
    this.onSubmit('#join-invite-form', (form) => {
      const code = inviteCode(form.code.value);
      if (code === null) { this.error('paste an invite link (…#invite=CODE) or its code'); return; }
      this.run(async () => {
        await this.joinByInvite(code);
        form.reset();
      });
    });
    this.onClick('#invite-join', () => this.run(() => this.joinByInvite(this.pendingInvite)));
    this.onClick('#invite-dismiss', () => this.dismissInvite());
    window.addEventListener('hashchange', () => {
      const code = inviteCode(location.hash);
      if (code !== null && this.me) this.previewInvite(code);
    });
    this.onSubmit('#search-form', (form) => this.search(form.q.value, form.scope.value));
    this.onClick('#search-clear', () => { $('#search-results-box').hidden = true; });
    this.onClick('#show-members', () => this.togglePanel('#members-panel', () => this.refreshMembers()));
    this.onClick('#show-invites', () => this.togglePanel('#invites-panel', () => this.refreshInvites()));
    this.onClick('#show-reports', () => this.togglePanel('#reports-panel', () => this.refreshReports()));
    this.onClick('#leave-room', () => this.confirmLeave());
    this.onSubmit('#add-members-form', (form) => this.run(async () => {
      const refs = form.handles.value.split(/[\s,]+/).filter(Boolean);
      const added = await this.chat.add_members(this.roomId, refs);
      form.reset();
      this.notify(added.length
        ? `added ${added.map((m) => `@${m.handle}`).join(', ')}`
        : 'they are members already');
      await this.refreshMembers();
    }));
    this.onSubmit('#create-invite-form', (form) => this.run(async () => {
      const uses = form.max_uses.value ? Number(form.max_uses.value) : null;
      const lifetime = form.expires.value ? BigInt(form.expires.value) * 1_000_000_000n : null;
      const invite = await this.chat.create_invite(this.roomId, opt(uses), opt(lifetime));
      form.reset();
      await this.refreshInvites();
      this.notify(`new invite link: ${inviteLink(invite.code)}`);
    }));
    this.onClick('#load-older', () => this.run(() => this.loadOlder()));
    this.onSubmit('#confirm-form', (form) => {
      const asked = this.confirming;
      if (!asked) return;
      const reason = form.reason.value;
      this.run(async () => {
        await asked.action(reason);
        if (this.confirming === asked) this.hideConfirm();
      });
    });
    this.onClick('#confirm-cancel', () => this.hideConfirm());
    this.onSubmit('#compose', () => this.submitCompose());
    $('#compose textarea').addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); this.submitCompose(); return; }
      this.sendTyping();
    });
    this.onClick('#cancel-compose', () => this.resetCompose());
    this.onClick('#schedule-send', () => this.scheduleCompose());
    this.onClick('#show-archived', () => {
      const list = $('#archived-rooms');
      list.hidden = !list.hidden;
      $('#show-archived').setAttribute('aria-expanded', String(!list.hidden));
    });
    // Back online: try the socket now rather than at the end of the back-off.
    window.addEventListener('online', () => {
      if (this.socket || this.connecting || !this.me) return;
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      this.connect();
    });
  }

  async enter() {
    $('#me').textContent = `@${this.me.handle}`;
    $('#me').hidden = false;
    $('#status').hidden = false;
    this.show('app');
    await this.refreshRooms();
    await this.refreshPublicRooms();
    this.connect();
    setInterval(() => { this.refreshRooms(); this.refreshPublicRooms(); }, ROOMS_REFRESH_MS);
    if (this.pendingInvite !== null) await this.previewInvite(this.pendingInvite);
    if (this.pendingDirect !== null) await this.openPendingDirect();
  }

  // -- the socket, and polling while it is down ---------------------------------------------

  setMode(mode) {
    const status = $('#status');
    status.textContent = mode;
    status.dataset.mode = mode;
  }

  // Open the socket; resolves with it once the server said hello (and accepted the key),
  // and rejects if the connection fails or closes before that.
  openSocket() {
    let opened = null;
    const Base = window.WebSocket;
    const Tracked = class extends Base {
      constructor(url, protocols) { super(url, protocols); opened = this; }
    };
    return new Promise((resolve, reject) => {
      CanisterSocket.connect({
        url: this.config.host,
        canisterId: this.config.canisterId,
        canisterBytes: Principal.fromText(this.config.canisterId).toUint8Array(),
        identity: this.identity,
        WebSocketImpl: Tracked,
      }).then(resolve, reject);
      if (opened) {
        opened.addEventListener('close', (event) => {
          reject(Object.assign(new Error(`the canister socket closed (${event.code})`), { code: event.code }));
        }, { once: true });
      }
    });
  }

  async connect() {
    if (this.connecting || this.socket) return;
    this.connecting = true;
    if (this.pollTimer === null) this.setMode('connecting');
    let socket = null;
    try {
      socket = await this.openSocket();
      if (socket.closed) throw new Error('the canister socket closed');
      this.socket = socket;
      socket.onEvent((event) => this.onSocketEvent(event));
      socket.onClose((event) => this.onSocketClosed(socket, event));
      socket.onWithdrawn(({ topics }) => {
        for (const topic of topics) this.topics.delete(topic);
        this.refreshRooms();
      });
      this.topics = new Set();
      await this.syncTopics();
      if (socket !== this.socket) return;
      this.reconnectDelay = RECONNECT_FIRST_MS;
      this.stopPolling();
      this.setMode('live');
      // Events published while the socket was down are not replayed: catch up once.
      if (this.roomId !== null) await this.catchUp();
      await this.refreshRooms();
      if (!$('#members-panel').hidden) this.scheduleMembersRefresh();
    } catch (error) {
      this.onSocketClosed(socket || this.socket, error);
    } finally {
      this.connecting = false;
    }
  }

  // The socket closed or could not open: poll until a reconnect (with back-off) succeeds.
  onSocketClosed(socket, event) {
    if (socket && socket !== this.socket && this.socket !== null) return;   // an old socket
    this.socket = null;
    this.topics = new Set();
    this.setMode('polling');
    if (this.pollTimer === null) this.startPolling();
    if (event && event.code === FRAME_BUDGET_SPENT) this.reconnectDelay = RECONNECT_MAX_MS;
    if (this.reconnectTimer !== null) return;
    // Missed events are no fault of this page: no back-off before the first attempt.
    const delay = event && event.code === EVENTS_MISSED ? 0 : this.reconnectDelay;
    this.reconnectDelay = Math.min(Math.max(delay * 2, RECONNECT_FIRST_MS), RECONNECT_MAX_MS);
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
      if (tag === 'member' || tag === 'room') this.scheduleRoomsRefresh();
      return;
    }
    // Another room on the list changed (unread counts, last message), or a new room.
    if (tag !== 'typing' && tag !== 'read' && tag !== 'delivered') this.scheduleRoomsRefresh();
  }

  scheduleRoomsRefresh() {
    if (this.roomsRefresh !== null) return;
    this.roomsRefresh = setTimeout(() => {
      this.roomsRefresh = null;
      this.refreshRooms().catch((error) => this.error(rejectText(error)));
    }, 200);
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
        await this.lostAccess(roomId, rejectText(error));
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  // A read of the open room failed: if the user is no longer in it (removed or banned
  // from a private room while away), close it; otherwise show why.
  async lostAccess(roomId, reason) {
    await this.refreshRooms().catch(() => {});
    if (roomId !== this.roomId) return;
    if (!this.rooms.has(String(roomId))) {
      this.closeRoom(`You no longer have access to this room: ${reason}`);
    } else {
      this.error(reason);
    }
  }

  // -- rooms ----------------------------------------------------------------------------------

  openView() {
    return this.roomId === null ? null : this.rooms.get(String(this.roomId)) || null;
  }

  myRole() {
    const view = this.openView();
    return view ? tagOf(view.role) : null;
  }

  isManager() {
    const view = this.openView();
    return Boolean(view) && !isDirect(view.room) && RANK[tagOf(view.role)] >= RANK.admin;
  }

  canPin() {
    const view = this.openView();
    return Boolean(view) && (isDirect(view.room) || this.isManager());
  }

  async refreshRooms() {
    const before = this.openView();
    const rooms = await this.chat.my_rooms();
    this.rooms = new Map(rooms.map((view) => [String(view.room.id), view]));
    const list = $('#rooms');
    const archivedList = $('#archived-rooms');
    list.replaceChildren();
    archivedList.replaceChildren();
    this.syncTopics();
    // Favourites first (each group keeps the canister's most-recent-first order).
    const ordered = [...rooms.filter((v) => v.favourite), ...rooms.filter((v) => !v.favourite)];
    for (const view of ordered) {
      const open = this.roomId !== null && view.room.id === this.roomId;
      const unread = open ? 0 : view.unread;
      const kind = roomKind(view.room);
      const item = element('li', {
        className: open ? 'room open' : 'room',
        attrs: { 'data-room-id': String(view.room.id), 'data-kind': kind },
      }, [
        element('button', { className: 'room-name', text: roomTitle(view), attrs: { type: 'button' } }),
        element('span', { className: `kind kind-${kind}`, text: kind === 'public' ? '' : kind }),
        element('span', {
          className: 'unread',
          text: unread >= 100 ? '100+' : String(unread),
          attrs: unread ? {} : { hidden: '' },
        }),
      ]);
      item.querySelector('button').addEventListener('click', () => this.run(() => this.openRoom(view.room.id)));
      item.append(
        button(view.favourite ? 'favourite on btn-sm btn-ghost' : 'favourite btn-sm btn-ghost', view.favourite ? '★' : '☆',
          () => this.run(() => this.setRoomFlag('set_favourite', view.room.id, !view.favourite)),
          { title: view.favourite ? 'Remove from favourites' : 'Add to favourites', 'aria-pressed': String(view.favourite) }),
        button('archive btn-sm btn-ghost', view.archived ? 'Unarchive' : 'Archive',
          () => this.run(() => this.setRoomFlag('set_archived', view.room.id, !view.archived))),
      );
      if (view.favourite) item.classList.add('is-favourite');
      (view.archived ? archivedList : list).append(item);
    }
    const archivedCount = archivedList.childElementCount;
    $('#archived-box').hidden = archivedCount === 0;
    $('#show-archived').textContent = `Archived (${archivedCount})`;
    const after = this.openView();
    if (after) {
      this.renderRoomHeader();
      // The user's role decides which controls the messages get.
      if (before && tagOf(before.role) !== tagOf(after.role)) {
        this.rerenderMessages();
        this.schedulePinnedRefresh();
      }
    }
  }

  async setRoomFlag(method, roomId, value) {
    await this.chat[method](roomId, value);
    await this.refreshRooms();
  }

  async refreshPublicRooms() {
    const rooms = await this.chat.public_rooms('', [], 50);
    const list = $('#public-rooms');
    list.replaceChildren();
    for (const room of rooms) {
      const item = element('li', { attrs: { 'data-room-id': String(room.id) } }, [
        element('span', { className: 'room-name', text: room.name }),
        element('span', { className: 'badge', text: String(room.member_count), attrs: { title: `${room.member_count} members` } }),
        button('join btn-sm', 'Join', () => this.run(async () => {
          await this.chat.join_room(room.id);
          await this.refreshRooms();
          await this.openRoom(room.id);
        })),
      ]);
      list.append(item);
    }
  }

  renderRoomHeader() {
    const view = this.openView();
    if (!view) return;
    const kind = roomKind(view.room);
    $('#room-name').textContent = roomTitle(view);
    const label = $('#room-kind');
    label.textContent = kind === 'direct'
      ? KIND_LABEL.direct
      : `${KIND_LABEL[kind]} · ${view.room.member_count} members`;
    label.dataset.kind = kind;
    $('#room-role').textContent = kind === 'direct' ? '' : `you are ${tagOf(view.role)}`;
    $('#room-role').dataset.role = tagOf(view.role);
    $('#show-members').hidden = false;
    $('#show-invites').hidden = !this.isManager();
    $('#show-reports').hidden = !this.isManager();
    $('#leave-room').hidden = kind === 'direct';
    $('#room-e2e').hidden = kind !== 'direct';
    $('#schedule-box').hidden = kind === 'direct';
    if (!this.isManager()) {
      $('#invites-panel').hidden = true;
      $('#reports-panel').hidden = true;
    }
    $('#add-members-form').hidden = !this.isManager();
    this.polls.showTtl(view, kind === 'direct' || this.isManager());
  }

  async openRoom(roomId, { focus } = {}) {
    if (this.roomId !== null && roomId === this.roomId && $('#room').dataset.ready === 'true') {
      if (focus !== undefined) await this.focusMessage(focus);
      return;
    }
    this.roomId = roomId;
    $('#room').dataset.ready = 'false';
    this.messages = new Map();
    this.seq = 0n;
    this.nextBefore = null;
    this.resetCompose();
    this.tray.clear({ cancel: true });
    this.hideConfirm();
    $('#messages').replaceChildren();
    $('#pinned-list').replaceChildren();
    $('#pinned-bar').hidden = true;
    $('#members-panel').hidden = true;
    $('#invites-panel').hidden = true;
    $('#reports-panel').hidden = true;
    $('#load-older').hidden = true;
    $('#typing').textContent = '';
    this.threads.close();
    this.threadUnread = new Map();
    this.marks = null;
    $('#scheduled-box').hidden = true;
    $('#room').hidden = false;
    $('#room-name').textContent = `room ${roomId}`;
    this.renderRoomHeader();
    // Subscribed before reading history, so nothing falls between the two.
    await this.syncTopics();
    const page = await this.chat.history(roomId, [], HISTORY_PAGE);
    if (roomId !== this.roomId) return;
    for (const message of page.messages) this.upsert(message);
    if (page.seq > this.seq) this.seq = page.seq;
    this.setOlder(unopt(page.next_before));
    await this.refreshPinned();
    await this.markRead();
    await this.refreshRooms();
    await Promise.all([this.refreshThreads(), this.refreshMarks(), this.refreshScheduled()]);
    if (roomId !== this.roomId) return;
    $('#room').dataset.ready = 'true';
    if (focus !== undefined) await this.focusMessage(focus);
  }

  // Leave the room view (left, removed, banned): `note` says why.
  closeRoom(note) {
    this.roomId = null;
    this.messages = new Map();
    this.threads.close();
    this.hideConfirm();
    $('#room').hidden = true;
    $('#room').dataset.ready = 'false';
    $('#messages').replaceChildren();
    this.syncTopics();
    if (note) this.notify(note);
  }

  setOlder(nextBefore) {
    this.nextBefore = nextBefore;
    $('#load-older').hidden = nextBefore === null;
  }

  async loadOlder() {
    if (this.nextBefore === null || this.roomId === null) return;
    const roomId = this.roomId;
    const page = await this.chat.history(roomId, [this.nextBefore], HISTORY_PAGE);
    if (roomId !== this.roomId) return;
    // Older pages do not move `seq`: changes after it are still to be applied.
    for (const message of page.messages) this.upsert(message, { scroll: false });
    this.setOlder(unopt(page.next_before));
  }

  // Show message `id` of the open room, loading older history until it is there.
  async focusMessage(id) {
    const roomId = this.roomId;
    while (!this.messages.has(String(id)) && this.nextBefore !== null && roomId === this.roomId) {
      await this.loadOlder();
    }
    if (roomId !== this.roomId) return;
    for (const node of $('#messages').querySelectorAll('li.focused')) node.classList.remove('focused');
    const node = $('#messages').querySelector(`li[data-message-id="${id}"]`);
    if (!node) { this.error(`message ${id} is not in this room any more`); return; }
    node.classList.add('focused');
    node.scrollIntoView({ block: 'center' });
  }

  async markRead() {
    let last = 0n;
    for (const message of this.messages.values()) if (message.id > last) last = message.id;
    if (last > 0n) await this.chat.mark_read(this.roomId, last).catch(() => {});
  }

  leave() {
    const roomId = this.roomId;
    const view = this.openView();
    return this.chat.leave_room(roomId).then(async () => {
      if (roomId === this.roomId) this.closeRoom(`You left ${view ? roomTitle(view) : `room ${roomId}`}.`);
      await this.refreshRooms();
      await this.refreshPublicRooms();
    });
  }

  confirmLeave() {
    const view = this.openView();
    this.ask({
      text: `Leave ${view ? roomTitle(view) : 'this room'}?`,
      confirm: 'Leave',
      action: () => this.leave(),
    });
  }

  // -- invite links ---------------------------------------------------------------------------

  async previewInvite(code) {
    this.pendingInvite = code;
    const box = $('#invite-preview');
    try {
      const room = await this.chat.invite_info(code);
      $('#invite-room').textContent = room.name;
      $('#invite-room-info').textContent =
        `(${room.public ? 'public' : 'private'}, ${room.member_count} members)`;
      box.hidden = false;
    } catch (error) {
      box.hidden = true;
      this.error(`invite link: ${rejectText(error)}`);
    }
  }

  dismissInvite() {
    this.pendingInvite = null;
    $('#invite-preview').hidden = true;
    const url = new URL(location.href);
    if (url.hash || url.searchParams.has('invite')) {
      url.hash = '';
      url.searchParams.delete('invite');
      history.replaceState(null, '', url);
    }
  }

  // The direct room with the user named by ?dm=, then the parameter is dropped from the URL.
  async openPendingDirect() {
    const peer = this.pendingDirect;
    this.pendingDirect = null;
    const url = new URL(location.href);
    url.searchParams.delete('dm');
    history.replaceState(null, '', url);
    await this.run(async () => {
      const view = await this.chat.open_direct(peer);
      await this.refreshRooms();
      await this.openRoom(view.room.id);
    });
  }

  async joinByInvite(code) {
    const view = await this.chat.join_by_invite(code);
    if (code === this.pendingInvite) this.dismissInvite();
    await this.refreshRooms();
    await this.openRoom(view.room.id);
    this.notify(`You joined ${roomTitle(view)}.`);
  }

  async refreshInvites() {
    if ($('#invites-panel').hidden || !this.isManager()) return;
    const roomId = this.roomId;
    const invites = await this.chat.invites(roomId);
    if (roomId !== this.roomId) return;
    const list = $('#invites');
    list.replaceChildren();
    for (const invite of invites) {
      const link = inviteLink(invite.code);
      const field = element('input', {
        className: 'invite-link', attrs: { readonly: '', value: link, 'aria-label': 'Invite link' },
      });
      const limit = unopt(invite.max_uses);
      const expires = unopt(invite.expires_at);
      const info = [`used ${invite.uses}${limit === null ? '' : ` of ${limit}`}`];
      if (expires !== null) info.push(`expires ${timeOf(expires).toLocaleString()}`);
      list.append(element('li', { className: 'invite', attrs: { 'data-code': invite.code } }, [
        field,
        element('span', { className: 'invite-info', text: info.join(', ') }),
        button('copy', 'Copy', () => this.copy(link, field)),
        button('revoke', 'Revoke', () => this.run(async () => {
          await this.chat.revoke_invite(invite.code);
          await this.refreshInvites();
        })),
      ]));
    }
  }

  async copy(text, field) {
    field.select();
    try {
      await navigator.clipboard.writeText(text);
      this.notify('Invite link copied.');
    } catch (error) {
      this.notify('The browser did not allow copying: the link is selected, copy it yourself.');
    }
  }

  // -- reports (owner and admins) ------------------------------------------------------------

  async refreshReports() {
    if ($('#reports-panel').hidden || !this.isManager()) return;
    const roomId = this.roomId;
    const reports = await this.chat.reports([roomId]);
    const people = [...new Set(reports.flatMap((r) => [r.author.toText(), r.reporter.toText()]))];
    const profiles = people.length ? await this.chat.profiles(people.map((p) => Principal.fromText(p))) : [];
    if (roomId !== this.roomId) return;
    const handles = new Map(profiles.map((p) => [p.user.toText(), `@${p.handle}`]));
    const who = (principal) => handles.get(principal.toText()) || principal.toText();
    $('#reports-empty').hidden = reports.length > 0;
    $('#reports').replaceChildren(...reports.map((report) => {
      const item = element('li', {
        className: report.resolved ? 'report resolved' : 'report',
        attrs: { 'data-report-id': String(report.id), 'data-message-id': String(report.message_id) },
      }, [
        element('span', { className: 'report-text', text: `${who(report.author)}: “${excerpt(report.excerpt, 120)}”` }),
        element('span', { className: 'report-reason', text: `reported by ${who(report.reporter)}: ${report.reason}` }),
        button('jump', 'Show', () => this.run(() => this.focusMessage(report.message_id))),
      ]);
      if (report.resolved) {
        item.append(element('span', { className: 'report-state', text: 'resolved' }));
      } else {
        item.append(button('resolve', 'Resolve', () => this.run(async () => {
          await this.chat.resolve_report(report.id);
          await this.refreshReports();
        })));
      }
      return item;
    }));
  }

  // -- members --------------------------------------------------------------------------------

  togglePanel(selector, refresh) {
    const panel = $(selector);
    panel.hidden = !panel.hidden;
    if (!panel.hidden) this.run(refresh);
  }

  scheduleMembersRefresh() {
    if (this.membersRefresh !== null) return;
    this.membersRefresh = setTimeout(() => {
      this.membersRefresh = null;
      this.refreshMembers().catch((error) => this.error(rejectText(error)));
    }, 200);
  }

  async refreshMembers() {
    if ($('#members-panel').hidden || this.roomId === null) return;
    const roomId = this.roomId;
    const members = [];
    let after = [];
    for (;;) {
      const page = await this.chat.members(roomId, after, MEMBERS_PAGE);
      members.push(...page.members);
      if (!page.next.length) break;
      after = page.next;
    }
    const bans = this.isManager() ? await this.chat.bans(roomId) : [];
    if (roomId !== this.roomId) return;
    members.sort((a, b) => (RANK[tagOf(b.role)] - RANK[tagOf(a.role)]) || a.handle.localeCompare(b.handle));
    $('#members').replaceChildren(...members.map((member) => this.renderMember(member)));
    $('#bans').replaceChildren(...bans.map((ban) => this.renderBan(ban)));
    $('#bans-box').hidden = bans.length === 0;
  }

  renderMember(member) {
    const role = tagOf(member.role);
    const self = member.user.toText() === this.principal;
    const item = element('li', {
      className: self ? 'member me' : 'member',
      attrs: { 'data-handle': member.handle, 'data-role': role },
    }, [
      element('span', { className: 'handle', text: `@${member.handle}` }),
      element('span', { className: 'display-name', text: member.display_name }),
      element('span', { className: `role role-${role}`, text: role }),
    ]);
    const view = this.openView();
    if (self || !view || isDirect(view.room)) return item;
    const mine = this.myRole();
    const actions = element('span', { className: 'member-actions' });
    const roomId = this.roomId;
    const who = `@${member.handle}`;
    if (mine === 'owner') {
      if (role === 'member') {
        actions.append(button('promote', 'Make admin', () => this.run(() => this.setRole(roomId, member, 'admin'))));
      } else if (role === 'admin') {
        actions.append(button('demote', 'Make member', () => this.run(() => this.setRole(roomId, member, 'member'))));
      }
      actions.append(button('transfer', 'Make owner', () => this.ask({
        text: `Make ${who} the owner of this room? You become an admin.`,
        confirm: 'Transfer ownership',
        action: async () => {
          await this.chat.transfer_ownership(roomId, member.user);
          await this.refreshRooms();
          await this.refreshMembers();
        },
      })));
    }
    if (RANK[mine] > RANK[role]) {
      actions.append(button('remove', 'Remove', () => this.ask({
        text: `Remove ${who} from this room? They can join again.`,
        confirm: 'Remove',
        action: async () => {
          await this.chat.remove_member(roomId, member.user);
          await this.refreshMembers();
        },
      })));
      actions.append(button('ban', 'Ban', () => this.ask({
        text: `Ban ${who} from this room? They cannot join again until unbanned.`,
        confirm: 'Ban',
        reason: { placeholder: 'Reason (optional)', required: false },
        action: async (reason) => {
          await this.chat.ban(roomId, member.user, reason);
          await this.refreshMembers();
        },
      })));
    }
    if (actions.childElementCount) item.append(actions);
    return item;
  }

  async setRole(roomId, member, role) {
    await this.chat.set_role(roomId, member.user, { [role]: null });
    await this.refreshMembers();
  }

  renderBan(ban) {
    return element('li', { className: 'ban', attrs: { 'data-handle': ban.handle } }, [
      element('span', { className: 'handle', text: `@${ban.handle}` }),
      element('span', { className: 'ban-reason', text: ban.reason ? `: ${ban.reason}` : '' }),
      button('unban', 'Unban', () => this.run(async () => {
        await this.chat.unban(this.roomId, ban.user);
        await this.refreshMembers();
      })),
    ]);
  }

  // -- the confirm form: destructive actions and reasons --------------------------------------

  ask({ text, confirm, reason, action }) {
    this.confirming = { action };
    const form = $('#confirm-form');
    $('#confirm-text').textContent = text;
    $('#confirm-submit').textContent = confirm;
    form.reason.value = '';
    form.reason.hidden = !reason;
    form.reason.required = Boolean(reason && reason.required);
    form.reason.placeholder = reason ? reason.placeholder : '';
    form.hidden = false;
    if (reason) form.reason.focus(); else $('#confirm-submit').focus();
  }

  hideConfirm() {
    this.confirming = null;
    $('#confirm-form').hidden = true;
  }

  // -- search ---------------------------------------------------------------------------------

  search(text, scope) {
    if (scope === 'room' && this.roomId === null) { this.error('open a room to search in it'); return; }
    const roomId = scope === 'room' ? this.roomId : null;
    this.run(async () => {
      const hits = await this.chat.search(opt(roomId), text, SEARCH_LIMIT);
      // Encrypted messages are searched here, among those this page has decrypted.
      const local = this.localHits(text, roomId).map(({ room, id, plain, root }) => {
        const view = this.rooms.get(String(room));
        const shown = room === this.roomId ? this.messages.get(String(id)) : null;
        return {
          room_id: room,
          room_name: view ? roomTitle(view) : `room ${room}`,
          message: { id, author_handle: shown ? shown.author_handle : '', text: plain, thread_root: opt(root) },
        };
      });
      hits.push(...local.slice(0, SEARCH_LIMIT - hits.length));
      const where = roomId === null ? 'in your rooms' : 'in this room';
      $('#search-summary').textContent =
        `${hits.length} ${hits.length === 1 ? 'message' : 'messages'} with “${excerpt(text, 40)}” ${where}`;
      $('#search-results').replaceChildren(...hits.map((hit) => {
        const message = hit.message;
        const open = button('open-hit', '', () => this.run(() => this.openHit(hit)));
        open.append(
          element('span', { className: 'hit-room', text: hit.room_name }),
          element('span', { className: 'author', text: ` @${message.author_handle}: ` }),
          element('span', { className: 'hit-text', text: excerpt(message.text, 120) }),
        );
        return element('li', {
          className: 'search-hit',
          attrs: { 'data-room-id': String(hit.room_id), 'data-message-id': String(message.id) },
        }, [open]);
      }));
      $('#search-results-box').hidden = false;
    });
  }

  // A search hit: its room at the message, or, for a thread reply, the room and its thread.
  async openHit(hit) {
    const root = hit.message.thread_root && hit.message.thread_root.length ? hit.message.thread_root[0] : null;
    if (root === null) { await this.openRoom(hit.room_id, { focus: hit.message.id }); return; }
    await this.openRoom(hit.room_id, { focus: root });
    const view = unopt(await this.chat.message(hit.room_id, root));
    if (view && hit.room_id === this.roomId) await this.threads.open(view);
  }

  // -- pinned messages ------------------------------------------------------------------------

  schedulePinnedRefresh() {
    if (this.pinnedRefresh !== null) return;
    this.pinnedRefresh = setTimeout(() => {
      this.pinnedRefresh = null;
      this.refreshPinned().catch((error) => this.error(rejectText(error)));
    }, 100);
  }

  async refreshPinned() {
    if (this.roomId === null) return;
    const roomId = this.roomId;
    const pinned = await this.chat.pinned(roomId);
    if (roomId !== this.roomId) return;
    const canPin = this.canPin();
    $('#pinned-count').textContent = String(pinned.length);
    $('#pinned-bar').hidden = pinned.length === 0;
    $('#pinned-list').replaceChildren(...pinned.map((message) => {
      const item = element('li', { className: 'pinned-item', attrs: { 'data-message-id': String(message.id) } }, [
        button('jump', `@${message.author_handle}: ${excerpt(this.textOf(message), 80)}`,
          () => this.run(() => this.focusMessage(message.id))),
      ]);
      if (canPin) item.append(button('unpin', 'Unpin', () => this.setPinned(message, false)));
      return item;
    }));
  }

  setPinned(message, pinned) {
    const roomId = message.room_id;
    this.run(async () => {
      if (pinned) await this.chat.pin_message(roomId, message.id);
      else await this.chat.unpin_message(roomId, message.id);
      // The `pinned` event updates everyone; this shows it here without waiting for it.
      const view = unopt(await this.chat.message(roomId, message.id));
      if (view && roomId === this.roomId) this.upsert(view);
      await this.refreshPinned();
    });
  }

  // -- applying events ------------------------------------------------------------------------

  apply(event) {
    const tag = tagOf(event);
    const value = event[tag];
    if (value.seq !== undefined && value.seq > this.seq) this.seq = value.seq;
    if ((tag === 'message' || tag === 'edited') && value.thread_root.length) {
      this.threads.onReply(value);
      if (tag === 'message') this.refreshThreadsSoon();
    } else if (tag === 'message' || tag === 'edited') {
      const isNew = !this.messages.has(String(value.id));
      this.upsert(value);
      this.threads.onRoot(value);
      if (isNew && document.visibilityState === 'visible') this.markRead();
      else if (isNew) this.markDelivered();
    } else if (tag === 'read' || tag === 'delivered') {
      this.applyMark(tag, value);
    } else if (tag === 'deleted') {
      this.threads.onDeleted(value.room_id, value.message_id);
      const message = this.messages.get(String(value.message_id));
      if (message) {
        this.upsert({
          ...message, deleted: true, pinned: false, text: '', html: '', reactions: [], mentions: [], seq: value.seq,
          attachments: [], poll: [], expired: expiredBy(value, this.config.canisterId),
        });
      } else {
        this.schedulePinnedRefresh();
      }
    } else if (tag === 'reaction') {
      this.applyReaction(value);
    } else if (tag === 'pinned') {
      const message = this.messages.get(String(value.message_id));
      if (message) this.upsert({ ...message, pinned: value.pinned, seq: maxSeq(message.seq, value.seq) });
      this.schedulePinnedRefresh();
    } else if (tag === 'typing') {
      this.showTyping(value);
    } else if (tag === 'member') {
      this.applyMember(value);
    } else if (tag === 'room') {
      const view = this.openView();
      if (view) this.rooms.set(String(value.id), { ...view, room: value });
      this.renderRoomHeader();
    }
  }

  applyMember(event) {
    const status = tagOf(event.status);
    if (event.user.toText() === this.principal && (status === 'removed' || status === 'banned')) {
      const view = this.openView();
      const name = view ? roomTitle(view) : `room ${event.room_id}`;
      if (event.room_id === this.roomId) {
        this.closeRoom(`You were ${status} from ${name}.`);
      }
      this.scheduleRoomsRefresh();
      return;
    }
    if (event.user.toText() === this.principal) this.scheduleRoomsRefresh();
    this.scheduleMembersRefresh();
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
  upsert(message, { scroll = true } = {}) {
    if (message.thread_root.length) return;    // a thread reply: the thread panel shows it
    const shown = this.messages.get(String(message.id));
    if (shown && shown.seq > message.seq) return;
    if (message.sealed.length) this.revealOnce(message);
    this.messages.set(String(message.id), message);
    if ((shown ? shown.pinned : false) !== message.pinned || (message.pinned && shown && shown.text !== message.text)) {
      this.schedulePinnedRefresh();
    }
    const list = $('#messages');
    const node = this.renderMessage(message);
    const existing = list.querySelector(`li[data-message-id="${message.id}"]`);
    if (existing) {
      if (existing.classList.contains('focused')) node.classList.add('focused');
      existing.replaceWith(node);
      return;
    }
    const after = [...list.children].find((li) => BigInt(li.dataset.messageId) > message.id);
    list.insertBefore(node, after || null);
    if (scroll) node.scrollIntoView({ block: 'nearest' });
  }

  rerenderMessages() {
    for (const message of this.messages.values()) {
      const existing = $('#messages').querySelector(`li[data-message-id="${message.id}"]`);
      if (!existing) continue;
      const node = this.renderMessage(message);
      if (existing.classList.contains('focused')) node.classList.add('focused');
      existing.replaceWith(node);
    }
  }

  renderMessage(message, { inThread = false } = {}) {
    const mine = message.author.toText() === this.principal;
    const sealed = message.sealed.length > 0;
    const classes = ['message'];
    if (sealed) classes.push('sealed');
    if (mine) classes.push('mine');
    if (message.deleted) classes.push('deleted');
    if (message.pinned) classes.push('is-pinned');
    const item = element('li', {
      className: classes.join(' '),
      attrs: { 'data-message-id': String(message.id), 'data-author': message.author_handle },
    }, [avatar(message.author_handle)]);
    if (message.expired) item.hidden = true;
    const header = element('div', { className: 'meta' }, [
      element('span', { className: 'author', text: `@${message.author_handle}` }),
      element('time', { text: timeOf(message.created_at).toLocaleTimeString() }),
    ]);
    const editedAt = unopt(message.edited_at);
    if (message.edited && !message.deleted) {
      header.append(element('span', {
        className: 'edited',
        text: '(edited)',
        attrs: editedAt === null ? {} : { title: `edited ${timeOf(editedAt).toLocaleString()}` },
      }));
    }
    if (message.pinned) header.append(element('span', { className: 'pinned', text: '📌', attrs: { title: 'pinned' } }));
    if (sealed) header.append(element('span', { className: 'lock', text: '🔒', attrs: { title: 'end-to-end encrypted' } }));
    if (mine && !message.deleted && !inThread) {
      const receipt = this.receiptOf(message);
      if (receipt) header.append(element('span', { className: 'receipt', text: receipt.text, attrs: { 'data-state': receipt.state } }));
    }
    item.append(header);
    const quote = unopt(message.quote);
    if (quote) {
      const quoted = this.plain.get(`${message.room_id}:${quote.message_id}`);
      item.append(element('blockquote', {
        className: 'quote',
        text: quote.deleted ? 'deleted message' : `@${quote.author_handle}: ${quoted ? excerpt(quoted, 120) : quote.excerpt}`,
      }));
    }
    if (message.deleted) {
      item.append(element('div', { className: 'body', text: 'message deleted' }));
      return item;
    }
    item.append(sealed ? this.sealedBody(message) : renderHtml(message.html));
    item.append(...attachmentNodes(message, this.config.canisterOrigin, this.keys), ...this.polls.nodes(message));
    const reactions = element('div', { className: 'reactions' });
    for (const reaction of message.reactions) {
      const me = this.iReacted(reaction);
      reactions.append(button(me ? 'reaction me' : 'reaction', `${reaction.emoji} ${reaction.count}`,
        () => this.toggleReaction(message, reaction.emoji),
        { 'data-emoji': reaction.emoji, 'data-count': String(reaction.count) }));
    }
    item.append(reactions);
    const thread = unopt(message.thread);
    if (thread && !inThread) {
      const unread = this.threadUnread.get(String(message.id)) || 0;
      item.append(button('thread-link btn-sm btn-ghost',
        `💬 ${thread.reply_count} ${thread.reply_count === 1 ? 'reply' : 'replies'}${unread ? ` · ${unread} new` : ''}`,
        () => this.run(() => this.threads.open(message)), { 'data-unread': String(unread) }));
    }
    const actions = element('div', { className: 'actions' });
    const action = (className, text, handler, attrs) => actions.append(button(className, text, handler, attrs));
    if (inThread) {
      if (mine && message.thread_root.length) {
        action('delete', 'Delete', () => this.run(() => this.chat.delete_message(message.room_id, message.id)));
      }
      item.append(actions);
      return item;
    }
    action('reply', 'Reply', () => this.startReply(message));
    action('thread', 'Thread', () => this.run(() => this.threads.open(message)));
    for (const emoji of QUICK_REACTIONS) {
      action('react', emoji, () => this.toggleReaction(message, emoji), { 'data-emoji': emoji, title: `react ${emoji}` });
    }
    if (this.canPin()) {
      if (message.pinned) action('unpin', 'Unpin', () => this.setPinned(message, false));
      else action('pin', 'Pin', () => this.setPinned(message, true));
    }
    if (mine) {
      if (!sealed) action('edit', 'Edit', () => this.startEdit(message));
      action('delete', 'Delete', () => this.run(() => this.chat.delete_message(message.room_id, message.id)));
    } else {
      if (this.isManager()) {
        action('delete', 'Delete', () => this.ask({
          text: `Delete @${message.author_handle}'s message?`,
          confirm: 'Delete',
          action: () => this.chat.delete_message(message.room_id, message.id),
        }));
      }
      action('report', 'Report', () => this.ask({
        text: `Report @${message.author_handle}'s message to the room's admins: “${excerpt(this.textOf(message), 80)}”`,
        confirm: 'Report',
        reason: { placeholder: 'What is wrong with it?', required: true },
        action: async (reason) => {
          const reportId = await this.chat.report(message.room_id, message.id, reason);
          this.notify(`Reported (report ${reportId}); the room's admins will see it.`);
        },
      }));
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
    const text = this.textOf(message);
    this.showComposeContext(`Replying to @${message.author_handle}: ${text.slice(0, 80)}`);
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
    if ((!text.trim() && !this.tray.hasFiles()) || this.roomId === null) return;
    const roomId = this.roomId;
    this.run(async () => {
      const replyTo = opt(this.replyTo && this.replyTo.id);
      let view;
      if (this.editing) {
        view = await this.chat.edit_message(roomId, this.editing.id, text);
      } else if (this.tray.hasFiles()) {
        view = await this.tray.send(roomId, text, replyTo);
      } else if (this.isSealedRoom(roomId)) {
        view = await this.chat.send_sealed(roomId, await this.keys.seal(roomId, text), replyTo);
        this.plain.set(plainKey(view), text.trim());
      } else {
        view = await this.chat.send_message(roomId, text, replyTo);
      }
      this.resetCompose();
      if (view.room_id === this.roomId) this.upsert(view);
    });
  }

  // -- end-to-end encryption (direct rooms) ---------------------------------------------------

  // What a message says: its text, or for a sealed one what this page decrypted ('' until then).
  textOf(message) {
    if (!message.sealed.length) return message.text;
    const text = this.plain.get(plainKey(message));
    if (typeof text !== 'string') this.revealOnce(message);
    return typeof text === 'string' ? text : '';
  }

  isSealedRoom(roomId) {
    const view = this.rooms.get(String(roomId));
    return Boolean(view) && isDirect(view.room);
  }

  sealedBody(message) {
    const text = this.plain.get(plainKey(message));
    if (text === undefined) return element('div', { className: 'body sealed-pending', text: '🔒 decrypting…' });
    if (text === null) return element('div', { className: 'body sealed-failed', text: '🔒 this message cannot be decrypted here' });
    return element('div', { className: 'body sealed-text', text });
  }

  revealOnce(message) {
    if (!this.plain.has(plainKey(message))) this.reveal(message);
  }

  // Decrypt a sealed message, then show it (in the room or the thread panel).
  reveal(message) {
    const key = plainKey(message);
    this.plain.set(key, undefined);
    if (message.thread_root.length) this.threadOf.set(key, message.thread_root[0]);
    this.keys.open(message.room_id, message.sealed[0]).then(
      (text) => this.plain.set(key, text),
      () => this.plain.set(key, null),
    ).then(() => {
      if (message.pinned) this.schedulePinnedRefresh();
      const current = this.messages.get(String(message.id));
      if (current && message.room_id === this.roomId) this.upsert(current, { scroll: false });
      if (this.threads.isOpen(message.room_id)) {
        if (message.thread_root.length) this.threads.onReply(message);
        else this.threads.onRoot(message);
      }
    });
  }

  // The messages this page decrypted that contain every word of `text` (newest first).
  localHits(text, roomId) {
    const words = text.toLowerCase().split(/\s+/).filter(Boolean);
    const hits = [];
    for (const [key, plain] of this.plain) {
      if (typeof plain !== 'string') continue;
      const [room, id] = key.split(':').map(BigInt);
      if (roomId !== null && room !== roomId) continue;
      const lower = plain.toLowerCase();
      if (words.every((word) => lower.includes(word))) hits.push({ room, id, plain, root: this.threadOf.get(key) });
    }
    return hits.sort((a, b) => (a.id > b.id ? -1 : 1));
  }

  // -- threads --------------------------------------------------------------------------------

  async refreshThreads() {
    if (this.roomId === null) return;
    const roomId = this.roomId;
    const threads = await this.chat.my_threads([roomId]);
    if (roomId !== this.roomId) return;
    this.threadUnread = new Map(threads.map((t) => [String(t.root.id), t.unread]));
    this.rerenderMessages();
  }

  refreshThreadsSoon() {
    clearTimeout(this.threadsRefresh);
    this.threadsRefresh = setTimeout(() => this.refreshThreads().catch(() => {}), 200);
  }

  threadRead(roomId, rootId) {
    if (roomId !== this.roomId) return;
    this.threadUnread.set(String(rootId), 0);
    const root = this.messages.get(String(rootId));
    if (root) this.upsert(root, { scroll: false });
  }

  // -- receipts -------------------------------------------------------------------------------

  async refreshMarks() {
    const view = this.openView();
    if (!view || view.room.member_count > RECEIPT_ROOM_MAX) { this.marks = null; return; }
    const roomId = this.roomId;
    const marks = await this.chat.room_marks(roomId);
    if (roomId !== this.roomId) return;
    this.marks = new Map(marks.map((m) => [m.user.toText(), { delivered: m.delivered, read: m.read }]));
    this.rerenderMessages();
  }

  applyMark(tag, event) {
    if (!this.marks || event.room_id !== this.roomId) return;
    const user = event.user.toText();
    const mark = this.marks.get(user) || { delivered: 0n, read: 0n };
    if (tag === 'read' && event.up_to > mark.read) mark.read = event.up_to;
    if (event.up_to > mark.delivered) mark.delivered = event.up_to;
    this.marks.set(user, mark);
    clearTimeout(this.marksRefresh);
    this.marksRefresh = setTimeout(() => this.rerenderMessages(), 100);
  }

  // ✓ sent, ✓✓ delivered to everyone else, read by the peer (direct) or by k of n (group).
  receiptOf(message) {
    if (!this.marks || message.room_id !== this.roomId) return null;
    const others = [...this.marks.entries()].filter(([user]) => user !== this.principal).map(([, m]) => m);
    if (!others.length) return null;
    const read = others.filter((m) => m.read >= message.id).length;
    const delivered = others.filter((m) => m.delivered >= message.id).length;
    if (read === others.length) return { state: 'read', text: others.length === 1 ? '✓✓ read' : '✓✓ read by all' };
    if (read > 0) return { state: 'partly-read', text: `✓✓ read by ${read} of ${others.length}` };
    if (delivered === others.length) return { state: 'delivered', text: '✓✓ delivered' };
    return { state: 'sent', text: '✓ sent' };
  }

  async markDelivered() {
    let last = 0n;
    for (const message of this.messages.values()) if (message.id > last) last = message.id;
    if (last > 0n) await this.chat.mark_delivered(this.roomId, last).catch(() => {});
  }

  // -- scheduled messages ---------------------------------------------------------------------

  scheduleCompose() {
    const box = $('#compose textarea');
    const when = $('#schedule-at').value;
    if (!box.value.trim() || this.roomId === null) return;
    if (!when) { this.error('pick when to send it'); return; }
    const at = BigInt(new Date(when).getTime()) * 1_000_000n;
    const roomId = this.roomId;
    this.run(async () => {
      const item = await this.chat.schedule_message(roomId, box.value, at);
      this.resetCompose();
      this.notify(`Scheduled for ${timeOf(item.at).toLocaleString()}.`);
      await this.refreshScheduled();
    });
  }

  async refreshScheduled() {
    if (this.roomId === null) return;
    const roomId = this.roomId;
    const items = await this.chat.my_scheduled([roomId]);
    if (roomId !== this.roomId) return;
    $('#scheduled-box').hidden = items.length === 0;
    $('#scheduled').replaceChildren(...items.map((item) => element('li', {
      className: 'scheduled-item', attrs: { 'data-scheduled-id': String(item.id) },
    }, [
      element('time', { text: timeOf(item.at).toLocaleString() }),
      element('span', { className: 'scheduled-text', text: excerpt(item.text, 80) }),
      button('cancel-scheduled btn-sm btn-ghost', 'Cancel', () => this.run(async () => {
        await this.chat.cancel_scheduled(item.id);
        await this.refreshScheduled();
      })),
    ])));
  }
}

const plainKey = (message) => `${message.room_id}:${message.id}`;

const config = JSON.parse($('#chat-config').textContent);
if (config) {
  const page = new ChatPage(config);
  page.start().catch((error) => {
    $('#loading').hidden = true;
    page.error(`cannot start the chat: ${rejectText(error)}`);
  });
}
