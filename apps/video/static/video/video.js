// The short-video page: a full-screen swipe feed (For You / Following), uploads kept on
// the canister, profiles, hashtag pages, search, the inbox and, for moderators, the
// review queue.
//
// Everything runs here with the browser's own key (browserIdentity in the framework
// bundle: a non-extractable WebCrypto key in IndexedDB, shared by every app of this
// origin): queries and signed calls go to the video canister through @dfinity/agent,
// with the actor built from video.did. Videos and posters are the canister's files on
// its own origin (config.canisterOrigin), streamed with Range answers. Live updates
// arrive over the canister socket (docs/events.md): `user:<me>` (the inbox),
// `uploads:<me>` (an upload's status) and `video:<id>` (the counters of the video on
// screen); while it is down the page polls the unread count and reconnects.
//
// Each section lives in its own module (reels.js, upload.js, people.js, comments.js,
// wallet.js, moderation.js); this one holds the shell: the actor, hash routing, sign-up
// on first need, progress and errors, the socket and the inbox. All text is set with
// textContent.

import {
  Actor, CanisterSocket, HttpAgent, IDL, Principal, browserIdentity, parseDid,
} from '../icframework/ic.js';
import {
  $, $$, ask, element, opt, rejectText, tagOf, timeElement, unopt,
} from './dom.js';
import { Reels } from './reels.js';
import { Uploader } from './upload.js';
import { People } from './people.js';
import { Comments } from './comments.js';
import { Wallet } from './wallet.js';
import { Moderation } from './moderation.js';

// Keys of the older apps of this origin, migrated into the shared browser key once.
const LEGACY_KEYS = ['icframework.chat.identity', 'icframework.market.identity'];
const VIEWS = ['feed', 'upload', 'profile', 'tag', 'search', 'notifications', 'moderation'];
const POLL_MS = 5000;
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 15000;
const NOTIFICATION_PAGE = 30;

const NOTIFICATION_TEXT = {
  like: 'liked your video',
  super_like: 'super-liked your video',
  comment: 'commented on your video',
  reply: 'replied to your comment',
  comment_like: 'liked your comment',
  follow: 'started following you',
  mention: 'mentioned you',
  tip: 'sent you a tip',
  share: 'shared your video',
  processing_done: 'Your video is ready',
  processing_failed: 'Your video could not be processed',
  moderation: 'a moderator reviewed your video',
};

class VideoApp {
  constructor(config) {
    this.config = config;
    this.me = null;               // the caller's ProfileView, once registered
    this.view = null;
    this.socket = null;
    this.connecting = false;
    this.reconnectDelay = RECONNECT_FIRST_MS;
    this.pollTimer = null;
    this.topics = new Set();      // video:<id> topics wanted besides the caller's own
    this.liveHandlers = new Map(); // topic prefix -> handler(topic, bytes)
    this.reels = new Reels(this);
    this.uploader = new Uploader(this);
    this.people = new People(this);
    this.comments = new Comments(this);
    this.wallet = new Wallet(this);
    this.moderation = new Moderation(this);
  }

  async start() {
    this.identity = await browserIdentity({ legacyStorageKeys: LEGACY_KEYS });
    this.principal = this.identity.getPrincipal();
    const did = await (await fetch(this.config.didUrl)).text();
    const { types, idlFactory } = parseDid(IDL, did);
    this.types = types;
    this.agent = await HttpAgent.create({
      host: this.config.host, identity: this.identity, shouldFetchRootKey: true,
    });
    this.canisterId = Principal.fromText(this.config.canisterId);
    this.api = Actor.createActor(idlFactory, { agent: this.agent, canisterId: this.canisterId });
    this.bind();
    this.me = unopt(await this.api.me());
    this.showMe();
    $('#loading').hidden = true;
    $('#app').hidden = false;
    this.connect();
    await this.route();
    if (this.me) await this.guard(() => this.moderation.detect());
  }

  bind() {
    window.addEventListener('hashchange', () => this.route());
    window.addEventListener('online', () => { if (!this.socket) this.connect(); });
    $('#bell').addEventListener('click', () => { location.hash = 'notifications'; });
    $('#mark-read').addEventListener('click', () => this.guard(() => this.markAllRead()));
    $('#notifications-more').addEventListener('click', () => this.guard(() => this.moreNotifications()));
    $('#search-form').addEventListener('submit', (event) => {
      event.preventDefault();
      location.hash = `search=${encodeURIComponent(event.target.q.value.trim())}`;
    });
    const handle = $('#register-form').handle;
    handle.addEventListener('input', () => this.checkHandle(handle));
    this.reels.bind();
    this.uploader.bind();
    this.people.bind();
    this.comments.bind();
    this.wallet.bind();
    this.moderation.bind();
  }

  showMe() {
    const registered = Boolean(this.me);
    $('#me').hidden = !registered;
    $('#me').textContent = registered ? `@${this.me.handle}` : '';
    $('#bell').hidden = !registered;
    $('#upload-link').hidden = false;
  }

  // -- routing ---------------------------------------------------------------------------------

  // #v=<id>, #u=<handle>, #tag=<tag>, #search=<q>, #upload, #me, #following,
  // #notifications, #moderation; anything else is the For You feed.
  async route() {
    const hash = location.hash.replace(/^#/, '');
    const [kind, ...rest] = hash.split('=');
    const value = decodeURIComponent(rest.join('='));
    if (kind === 'v' && /^\d+$/.test(value)) return this.open('feed', { kind: this.reels.kind || 'foryou', start: BigInt(value) });
    if (kind === 'u' && value) return this.open('profile', value.replace(/^@/, ''));
    if (kind === 'me') return this.open('profile', null);
    if (kind === 'tag' && value) return this.open('tag', value.replace(/^#/, '').toLowerCase());
    if (kind === 'search') return this.open('search', value);
    if (kind === 'upload') return this.open('upload');
    if (kind === 'notifications') return this.open('notifications');
    if (kind === 'moderation') return this.open('moderation');
    if (kind === 'following') return this.open('feed', { kind: 'following' });
    return this.open('feed', { kind: 'foryou' });
  }

  // Show one section and load it; a later navigation wins over one still loading.
  async open(view, arg) {
    this.nav = (this.nav || 0) + 1;
    const nav = this.nav;
    if (this.view === 'feed' && view !== 'feed') this.reels.leave();
    this.comments.close();
    this.view = view;
    for (const id of VIEWS) $(`#${id}`).hidden = id !== view;
    document.body.dataset.view = view;
    const own = view === 'profile' && (arg === null || (this.me && arg === this.me.handle));
    const tabName = view === 'feed' ? (arg && arg.kind) || 'foryou'
      : view === 'profile' ? (own ? 'profile' : null) : view;
    for (const tab of $$('.video-tabs [data-view]')) {
      if (tab.dataset.view === tabName) tab.setAttribute('aria-current', 'page');
      else tab.removeAttribute('aria-current');
    }
    this.say('');
    await this.guard(async () => {
      if (view === 'feed') await this.reels.open(arg.kind, arg.start, nav);
      if (view === 'upload') await this.uploader.open();
      if (view === 'profile') await this.people.open(arg, nav);
      if (view === 'tag') await this.people.openTag(arg, nav);
      if (view === 'search') await this.people.search(arg, nav);
      if (view === 'notifications') await this.openNotifications();
      if (view === 'moderation') await this.moderation.open();
    });
  }

  isCurrent(nav) {
    return nav === undefined || nav === this.nav;
  }

  // -- sign-up on first need ---------------------------------------------------------------------

  // The caller's profile; asks for a handle first when there is none (`why` says what for).
  // Throws when the person closes the dialog.
  async requireMe(why) {
    if (this.me) return this.me;
    const dialog = $('#register');
    const form = $('#register-form');
    $('#register-why').textContent = `${why ? `To ${why}, pick` : 'Pick'} a handle. Your key is made in this browser and never leaves it.`;
    for (;;) {
      const submitted = await ask(dialog, form);
      if (!submitted) throw new Error(why ? `you need a handle to ${why}` : 'you need a handle');
      const done = await this.busy(form, async () => {
        this.me = await this.api.register(form.handle.value.trim().replace(/^@/, ''), form.name.value.trim());
        return true;
      });
      if (done) break;
    }
    dialog.close();
    this.me = unopt(await this.api.me()) || this.me;
    this.showMe();
    this.resubscribe();
    await this.refreshUnread();
    await this.guard(() => this.moderation.detect());
    return this.me;
  }

  // Say at once when a well-formed handle is taken (the canister decides at register).
  async checkHandle(input) {
    const wanted = input.value.trim().replace(/^@/, '').toLowerCase();
    input.setCustomValidity('');
    if (!/^[a-z0-9_]{3,30}$/.test(wanted)) return;
    const free = await this.api.handle_available(wanted).catch(() => true);
    if (input.value.trim().replace(/^@/, '').toLowerCase() !== wanted) return;
    input.setCustomValidity(free ? '' : `@${wanted} is taken: pick another`);
    if (!free) input.reportValidity();
  }

  // -- progress and errors -----------------------------------------------------------------------

  say(text, isError = false) {
    const target = isError ? $('#error') : $('#notice');
    (isError ? $('#notice') : $('#error')).hidden = true;
    target.textContent = text;
    target.hidden = !text;
  }

  async guard(work) {
    try { return await work(); } catch (error) { this.say(rejectText(error), true); return undefined; }
  }

  // Run an update from `control` (a form or a button): disabled and busy while it runs; its
  // reject goes to the inline error next to it (or to the page's error line).
  async busy(control, work) {
    const controls = control.tagName === 'FORM' ? $$('button, input, textarea, select', control) : [control];
    const errorBox = this.errorBoxFor(control);
    for (const c of controls) c.disabled = true;
    control.setAttribute('aria-busy', 'true');
    if (errorBox) { errorBox.hidden = true; errorBox.textContent = ''; }
    try {
      return await work();
    } catch (error) {
      const text = rejectText(error);
      if (errorBox) { errorBox.textContent = text; errorBox.hidden = false; } else this.toast(text, true);
      return undefined;
    } finally {
      for (const c of controls) c.disabled = false;
      control.removeAttribute('aria-busy');
    }
  }

  errorBoxFor(control) {
    const form = control.tagName === 'FORM' ? control : control.closest('form, li.row');
    if (!form) return null;
    let box = [...form.children].find((c) => c.classList && c.classList.contains('inline-error'));
    if (!box) {
      box = element('p', { className: 'inline-error alert alert-danger small', attrs: { role: 'alert', hidden: true } });
      form.append(box);
    }
    return box;
  }

  toast(text, isError = false) {
    const toast = element('div', { className: `toast ${isError ? 'toast-danger' : 'toast-success'}`, text });
    $('#toasts').append(toast);
    setTimeout(() => toast.remove(), 5000);
  }

  // -- shared pieces -----------------------------------------------------------------------------

  mediaUrl(path) {
    return path ? `${this.config.canisterOrigin}${path}` : null;
  }

  rendition(video, kind) {
    return video.renditions.find((r) => tagOf(r.kind) === kind) || null;
  }

  posterUrl(video) {
    const poster = this.rendition(video, 'poster');
    return poster ? this.mediaUrl(poster.path) : null;
  }

  isMine(principal) {
    return principal.toText() === this.principal.toText();
  }

  // A record a published event carries: its type from the .did if it names it, else `fallback`.
  eventType(name, fallback) {
    return this.types[name] || fallback;
  }

  // -- the socket: inbox, uploads and live counters -------------------------------------------------

  onLive(prefix, handler) {
    this.liveHandlers.set(prefix, handler);
  }

  ownTopics() {
    const me = this.principal.toText();
    return this.me ? [`user:${me}`, `uploads:${me}`] : [];
  }

  // Keep `video:<id>` subscribed (the video on screen), dropping the previous ones.
  watchTopics(topics) {
    const wanted = new Set(topics);
    const drop = [...this.topics].filter((t) => !wanted.has(t));
    const add = [...wanted].filter((t) => !this.topics.has(t));
    this.topics = wanted;
    if (!this.socket) return;
    if (drop.length) this.socket.unsubscribe(drop).catch(() => {});
    if (add.length) this.socket.subscribe(add).catch(() => {});
  }

  resubscribe() {
    if (this.socket) this.socket.subscribe([...this.ownTopics(), ...this.topics]).catch(() => {});
  }

  setLive(mode) {
    const badge = $('#live');
    badge.hidden = false;
    badge.textContent = mode;
    badge.dataset.mode = mode;
  }

  async connect() {
    if (this.connecting || this.socket) return;
    this.connecting = true;
    this.setLive('connecting');
    let socket = null;
    try {
      socket = await CanisterSocket.connect({
        url: this.config.host, canisterId: this.config.canisterId,
        canisterBytes: this.canisterId.toUint8Array(), identity: this.identity,
      });
      socket.onEvent((frame) => this.receive(frame));
      socket.onClose(() => this.lost(socket));
      const topics = [...this.ownTopics(), ...this.topics];
      if (topics.length) await socket.subscribe(topics);
      this.socket = socket;
      this.reconnectDelay = RECONNECT_FIRST_MS;
      this.stopPolling();
      this.setLive('live');
      if (this.me) await this.refreshUnread();   // what arrived while the socket was down
    } catch (error) {
      if (socket) socket.close();
      this.lost(null);
    } finally {
      this.connecting = false;
    }
  }

  receive(frame) {
    const prefix = frame.topic.split(':')[0];
    const handler = this.liveHandlers.get(prefix);
    if (!handler) return;
    Promise.resolve(handler(frame.topic, frame.value)).catch((error) => {
      this.say(`a live update could not be read: ${rejectText(error)}`, true);
    });
  }

  lost(socket) {
    if (socket && this.socket && socket !== this.socket) return;
    this.socket = null;
    this.setLive('polling');
    if (this.pollTimer === null) {
      this.pollTimer = setInterval(() => {
        if (this.me) this.refreshUnread().catch(() => {});
        this.uploader.poll().catch(() => {});
      }, POLL_MS);
    }
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(delay * 2, RECONNECT_MAX_MS);
    setTimeout(() => this.connect(), delay);
  }

  stopPolling() {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  // -- the inbox ---------------------------------------------------------------------------------

  setUnread(count) {
    const unread = Number(count);
    const badge = $('#unread');
    badge.textContent = String(unread);
    badge.dataset.count = String(unread);
    badge.hidden = unread === 0;
    $('#bell').setAttribute('aria-label', `Notifications, ${unread} unread`);
  }

  async refreshUnread() {
    this.setUnread(await this.api.unread_count());
  }

  async openNotifications() {
    await this.requireMe('see your inbox');
    const page = await this.api.notifications([]);
    const { items } = page;
    this.setUnread(page.unread);
    $('#notification-list').replaceChildren(...items.map((n) => this.notificationItem(n)));
    $('#notifications-empty').hidden = items.length > 0;
    this.notificationsNext = unopt(page.next);
    $('#notifications-more').hidden = !this.notificationsNext;
    if (page.unread > 0) await this.api.mark_read();
    await this.refreshUnread();
  }

  async moreNotifications() {
    const page = await this.api.notifications(opt(this.notificationsNext));
    const { items } = page;
    $('#notification-list').append(...items.map((n) => this.notificationItem(n)));
    this.notificationsNext = unopt(page.next);
    $('#notifications-more').hidden = !this.notificationsNext;
  }

  notificationItem(note) {
    const kind = tagOf(note.kind);
    const actor = unopt(note.actor);
    const who = actor ? actor.handle : null;
    const videoId = unopt(note.video_id);
    const text = note.text ? String(note.text) : '';
    const item = element('li', {
      className: `notification${note.read ? '' : ' unread'}`,
      attrs: { 'data-kind': kind, 'data-id': note.id === undefined ? null : String(note.id) },
    }, [
      element('div', { className: 'list-main' }, [
        element('span', { className: 'list-title' }, [
          who ? element('strong', { text: `@${who} ` }) : null,
          NOTIFICATION_TEXT[kind] || kind.replace(/_/g, ' '),
        ]),
        text ? element('span', { className: 'list-sub', text }) : null,
      ]),
      timeElement(note.created_at),
    ]);
    item.tabIndex = 0;
    const go = () => {
      if (videoId !== null) location.hash = `v=${videoId}`;
      else if (who) location.hash = `u=${who}`;
    };
    item.addEventListener('click', go);
    item.addEventListener('keydown', (event) => { if (event.key === 'Enter') go(); });
    return item;
  }

  async markAllRead() {
    await this.api.mark_read();
    await this.openNotifications();
  }

  // What the canister publishes on `user:<me>` (NotificationEvent): published only, so
  // the .did, which lists what methods take and return, may not name it.
  notificationEventType() {
    return this.types.NotificationEvent || IDL.Record({
      notification: IDL.Opt(this.types.NotificationView), unread: IDL.Nat32,
    });
  }

  // A `user:<me>` event: a new notification, or only the unread count changed.
  onNotification(bytes) {
    const [event] = IDL.decode([this.notificationEventType()], bytes);
    this.setUnread(event.unread);
    const note = unopt(event.notification);
    if (!note) return;
    const actor = unopt(note.actor);
    const kind = tagOf(note.kind);
    this.toast(`${actor ? `@${actor.handle} ` : ''}${NOTIFICATION_TEXT[kind] || kind}`);
    if (this.view === 'notifications') {
      $('#notification-list').prepend(this.notificationItem(note));
      $('#notifications-empty').hidden = true;
    }
  }
}


const config = JSON.parse($('#video-config').textContent);
if (config) {
  const app = new VideoApp(config);
  window.videoApp = app;
  app.onLive('user', (topic, bytes) => app.onNotification(bytes));
  app.start().catch((error) => {
    $('#loading').hidden = true;
    app.say(`cannot start the video page: ${rejectText(error)}`, true);
  });
}
