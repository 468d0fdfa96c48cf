// The professional network page: sign-up, a home feed with a composer, profiles and the
// profile editor, the network (requests, connections, people you may know), jobs,
// organisations, groups and events, notifications, search and, for moderators, the
// report queue.
//
// Everything runs here with the browser's own key (browserIdentity in the framework
// bundle: a non-extractable WebCrypto key in IndexedDB, shared by every app of this
// origin, so the chat page's "Message" conversation uses the same principal): queries
// and signed calls go to the social canister through @dfinity/agent, with the actor
// built from social.did. Notifications arrive live over the canister socket
// (docs/events.md) on the topic `user:<principal>`; while it is down the page polls the
// unread count and reconnects with back-off. Pictures come from the canister's
// http_request on its own origin (config.canisterOrigin). Attested roles show a
// verified badge only once certified.js has checked the replica's certificate.
//
// Each section lives in its own module (feed.js, people.js, work.js, groups.js,
// moderation.js); this one holds the shell: the actor, navigation, progress and
// errors, the socket, notifications and search. All text is set with textContent.

import {
  Actor, CanisterSocket, HttpAgent, IDL, Principal, browserIdentity, parseDid,
} from '../icframework/ic.js';
import {
  $, $$, avatar, degreeLabel, element, plural, rejectText, tagOf, timeElement, unopt,
} from './dom.js';
import { Feed } from './feed.js';
import { People } from './people.js';
import { Work } from './work.js';
import { Groups } from './groups.js';
import { Landing } from './landing.js';
import { Moderation } from './moderation.js';

const LEGACY_KEYS = ['icframework.chat.identity', 'icframework.market.identity'];
const VIEWS = ['feed', 'profile', 'network', 'jobs', 'orgs', 'groups', 'notifications', 'search', 'moderation'];
const POLL_MS = 5000;
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 15000;
const NOTIFICATION_PAGE = 50;
const SEARCH_LIMIT = 20;
export const CHUNK_BYTES = 512 * 1024;

const NOTIFICATION_TEXT = {
  request: 'wants to connect',
  accepted: 'accepted your connection request',
  endorsement: 'endorsed you',
  recommendation: 'recommendation',
  comment: 'commented',
  reaction: 'reacted',
  mention: 'mentioned you',
  job_stage: 'moved your application',
  repost: 'reposted your post',
  group_request: 'asked to join your group',
  group_joined: 'joined your group',
};

class SocialApp {
  constructor(config) {
    this.config = config;
    this.identity = null;
    this.principal = null;
    this.me = null;           // the caller's Profile, once registered
    this.view = null;
    this.socket = null;
    this.connecting = false;
    this.reconnectDelay = RECONNECT_FIRST_MS;
    this.pollTimer = null;
    this.unread = 0;
    this.feed = new Feed(this);
    this.people = new People(this);
    this.work = new Work(this);
    this.groups = new Groups(this);
    this.landing = new Landing(this);
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
    if (this.me) await this.enter();
    else {
      this.show('signup');
      await this.guard(() => this.landing.load());
    }
  }

  show(section) {
    $('#loading').hidden = true;
    $('#signup').hidden = section !== 'signup';
    $('#app').hidden = section !== 'app';
  }

  bind() {
    this.onSubmit('#signup-form', (form) => this.busy(form, async () => {
      this.me = await this.api.register(form.handle.value.trim().replace(/^@/, ''), {
        name: form.name.value, headline: form.headline.value, about: '', location: '',
        links: [], open_to_work: false,
      });
      await this.enter();
    }));
    for (const tab of $$('[data-view]')) {
      tab.addEventListener('click', () => this.open(tab.dataset.view));
    }
    this.onSubmit('#search-form', (form) => this.open('search', form.q.value.trim()));
    $('#mark-read').addEventListener('click', () => this.guard(() => this.markAllRead()));
    window.addEventListener('hashchange', () => this.route());
    window.addEventListener('online', () => { if (!this.socket) this.connect(); });
    this.feed.bind();
    this.people.bind();
    this.work.bind();
    this.groups.bind();
    this.landing.bind();
    this.moderation.bind();
  }

  async enter() {
    $('#me').textContent = `@${this.me.handle}`;
    $('#me').hidden = false;
    $('#bell').hidden = false;
    this.show('app');
    await this.refreshUnread();
    this.connect();
    if (!(await this.route())) await this.open('feed');
    // After the first view: a click on the tab then is not undone by that view opening.
    await this.guard(() => this.moderation.detect());
  }

  // #profile=<principal>, #tag=<hashtag>, #job=<id>, #org=<id>, #group=<id>: shareable places.
  async route() {
    if (!this.me) return false;
    const found = /^#(profile|tag|job|org|group)=(.+)$/.exec(location.hash);
    if (!found) return false;
    const [, kind, value] = found;
    const arg = decodeURIComponent(value);
    if (kind === 'profile') await this.open('profile', arg);
    if (kind === 'tag') await this.open('feed', { tag: arg });
    if (kind === 'job') await this.open('jobs', BigInt(arg));
    if (kind === 'org') await this.open('orgs', BigInt(arg));
    if (kind === 'group') await this.open('groups', BigInt(arg));
    return true;
  }

  // Show one section and load it; a later navigation wins over one still loading.
  async open(view, arg) {
    this.nav = (this.nav || 0) + 1;
    const nav = this.nav;
    this.view = view;
    for (const id of VIEWS) $(`#${id}`).hidden = id !== view;
    const own = view === 'profile' && (arg === undefined || [this.principal.toText(), this.me.handle].includes(String(arg)));
    for (const tab of $$('.social-tabs [data-view]')) {
      const current = tab.dataset.view === view && (view !== 'profile' || own);
      if (current) tab.setAttribute('aria-current', 'page'); else tab.removeAttribute('aria-current');
    }
    this.say('');
    await this.guard(async () => {
      if (view === 'feed') await this.feed.open(arg);
      if (view === 'profile') await this.people.openProfile(own ? this.principal.toText() : String(arg), nav);
      if (view === 'network') await this.people.openNetwork();
      if (view === 'jobs') await this.work.openJobs(arg);
      if (view === 'orgs') await this.work.openOrgs(arg);
      if (view === 'groups') await this.groups.open(arg);
      if (view === 'notifications') await this.openNotifications();
      if (view === 'search') await this.search(arg);
      if (view === 'moderation') await this.moderation.open();
    });
    if (nav === this.nav) $('#content').focus({ preventScroll: true });
  }

  isCurrent(nav) {
    return nav === undefined || nav === this.nav;
  }

  // -- progress and errors -----------------------------------------------------------------

  say(text, isError = false) {
    const target = isError ? $('#error') : $('#notice');
    (isError ? $('#notice') : $('#error')).hidden = true;
    target.textContent = text;
    target.hidden = !text;
  }

  async guard(work) {
    try { return await work(); } catch (error) { this.say(rejectText(error), true); return undefined; }
  }

  // Run an update from `control` (a form or a button): disabled and marked busy while it
  // runs; its reject goes to the inline error next to it (or the page's error line).
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
      if (errorBox) { errorBox.textContent = text; errorBox.hidden = false; } else this.say(text, true);
      return undefined;
    } finally {
      for (const c of controls) c.disabled = false;
      control.removeAttribute('aria-busy');
    }
  }

  // The inline error line of a form (created on first use, at its end).
  errorBoxFor(control) {
    const form = control.tagName === 'FORM' ? control : control.closest('form, li, article');
    if (!form) return null;
    let box = [...form.children].find((c) => c.classList && c.classList.contains('inline-error'));
    if (!box) {
      box = element('p', { className: 'inline-error alert alert-danger small', attrs: { role: 'alert', hidden: true } });
      form.append(box);
    }
    return box;
  }

  onSubmit(selector, handler) {
    $(selector).addEventListener('submit', (event) => { event.preventDefault(); handler(event.target); });
  }

  toast(text) {
    const toast = element('div', { className: 'toast toast-success', text });
    $('#toasts').append(toast);
    setTimeout(() => toast.remove(), 5000);
  }

  // -- shared pieces -------------------------------------------------------------------------

  imageUrl(path) {
    return path ? `${this.config.canisterOrigin}${path}` : null;
  }

  // A person line: avatar, name, handle and degree, opening the profile on click.
  personLink(person, extra = []) {
    const degree = Number(person.degree);
    const link = element('a', {
      className: 'person-link', attrs: { href: `#profile=${person.user.toText()}` },
    }, [
      avatar(person.name || person.handle, this.imageUrl(unopt(person.avatar)), 'avatar-sm'),
      element('span', { className: 'person-text' }, [
        element('strong', { text: person.name || `@${person.handle}` }),
        element('span', { className: 'small muted', text: ` @${person.handle}` }),
        degree ? element('span', { className: 'badge badge-info degree', text: degreeLabel(degree) }) : null,
        person.headline ? element('span', { className: 'small person-headline', text: person.headline }) : null,
      ]),
    ]);
    return element('div', { className: 'person' }, [link, ...extra]);
  }

  openProfile(principal) {
    location.hash = `profile=${principal.toText ? principal.toText() : principal}`;
  }

  openProfileByHandle(handle) {
    location.hash = `profile=${handle}`;
  }

  // Upload `file` in chunks with `progress` (a <progress>) moving; resolves with what the
  // `finish` step returns.
  async upload(file, progress, { begin, chunk, finish }) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
    if (progress) { progress.hidden = false; progress.value = 0; progress.max = chunks + 1; }
    try {
      const id = await begin(file.type, bytes.length);
      for (let n = 0; n < chunks; n += 1) {
        await chunk(id, n, bytes.slice(n * CHUNK_BYTES, (n + 1) * CHUNK_BYTES));
        if (progress) progress.value = n + 1;
      }
      const done = await finish(id);
      if (progress) progress.value = chunks + 1;
      return done;
    } finally {
      if (progress) setTimeout(() => { progress.hidden = true; }, 600);
    }
  }

  // -- notifications, live ---------------------------------------------------------------------

  setUnread(count) {
    this.unread = Number(count);
    const badge = $('#unread');
    badge.textContent = String(this.unread);
    badge.dataset.count = String(this.unread);
    badge.hidden = this.unread === 0;
    $('#bell').setAttribute('aria-label', `Notifications, ${this.unread} unread`);
  }

  async refreshUnread() {
    this.setUnread(await this.api.unread_notifications());
  }

  async openNotifications() {
    const page = await this.api.my_notifications([], NOTIFICATION_PAGE);
    this.setUnread(page.unread);
    const list = $('#notification-list');
    list.replaceChildren(...page.notifications.map((n) => this.notificationItem(n)));
    $('#notifications-empty').hidden = page.notifications.length > 0;
    if (page.notifications.length && page.unread > 0) {
      await this.api.mark_notifications_read(page.notifications[0].id);
    }
  }

  notificationItem(note) {
    const kind = tagOf(note.kind);
    const who = unopt(note.actor.handle);
    const item = element('li', {
      className: `notification${note.read ? '' : ' unread'}`,
      attrs: { 'data-kind': kind, 'data-id': String(note.id) },
    }, [
      element('div', { className: 'list-main' }, [
        element('span', { className: 'list-title' }, [
          element('strong', { text: who ? `@${who}` : 'someone' }),
          ` ${NOTIFICATION_TEXT[kind] || kind}`,
        ]),
        note.subject ? element('span', { className: 'list-sub', text: note.subject }) : null,
      ]),
      timeElement(note.created_at),
    ]);
    item.tabIndex = 0;
    const go = () => this.follow(note.ref);
    item.addEventListener('click', go);
    item.addEventListener('keydown', (event) => { if (event.key === 'Enter') go(); });
    return item;
  }

  // Open what a notification's `ref` points at.
  follow(ref) {
    const [kind, first] = ref.split(':');
    if (kind === 'profile') location.hash = `profile=${first}`;
    else if (kind === 'post' || kind === 'comment') this.feed.openPost(BigInt(first));
    else if (kind === 'job') location.hash = `job=${first}`;
    else if (kind === 'application') this.open('jobs');
    else if (kind === 'group') location.hash = `group=${first}`;
  }

  async markAllRead() {
    await this.api.mark_all_notifications_read();
    await this.openNotifications();
  }

  onNotification(event) {
    this.setUnread(event.unread);
    const note = unopt(event.notification);
    if (!note) return;
    const who = unopt(note.actor.handle);
    this.toast(`${who ? `@${who}` : 'someone'} ${NOTIFICATION_TEXT[tagOf(note.kind)] || ''}`);
    if (this.view === 'notifications') {
      $('#notification-list').prepend(this.notificationItem(note));
      $('#notifications-empty').hidden = true;
    }
  }

  // What the canister publishes on `user:<principal>` (notifications.NotificationEvent):
  // published only, so the .did, which lists what methods take and return, may not name it.
  notificationEventType() {
    return this.types.NotificationEvent || IDL.Record({
      notification: IDL.Opt(this.types.NotificationView), unread: IDL.Nat32,
    });
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
      const eventType = this.notificationEventType();
      socket.onEvent((frame) => {
        try {
          const [event] = IDL.decode([eventType], frame.value);
          this.onNotification(event);
        } catch (error) {
          this.say(`a live notification could not be read: ${rejectText(error)}`, true);
        }
      });
      socket.onClose(() => this.lost(socket));
      const { topics } = await socket.subscribe([`user:${this.principal.toText()}`]);
      if (!topics.length) throw new Error('the canister refused the notification topic');
      this.socket = socket;
      this.reconnectDelay = RECONNECT_FIRST_MS;
      this.stopPolling();
      this.setLive('live');
      await this.refreshUnread();   // what arrived while the socket was down
    } catch (error) {
      if (socket) socket.close();
      this.lost(null);
    } finally {
      this.connecting = false;
    }
  }

  lost(socket) {
    if (socket && this.socket && socket !== this.socket) return;
    this.socket = null;
    this.setLive('polling');
    if (this.pollTimer === null) {
      this.pollTimer = setInterval(() => this.refreshUnread().catch(() => {}), POLL_MS);
    }
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(delay * 2, RECONNECT_MAX_MS);
    setTimeout(() => this.connect(), delay);
  }

  stopPolling() {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  // -- search ----------------------------------------------------------------------------------

  async search(query) {
    const text = String(query || '').trim();
    $('#search-title').textContent = text ? `Results for “${text}”` : 'Search';
    if (!text) return;
    const [people, posts, jobs] = await Promise.all([
      this.api.search_people(text, [], SEARCH_LIMIT),
      this.api.search_posts(text, [], SEARCH_LIMIT),
      this.work.findJobs({ words: text }),
    ]);
    $('#found-people').replaceChildren(...people.people.map((p) => element('li', {}, [this.personLink(p)])));
    $('#found-posts').replaceChildren(...posts.posts.map((p) => this.feed.postItem(p, null)));
    $('#found-jobs').replaceChildren(...jobs.jobs.map((j) => this.work.jobItem(j)));
    for (const [id, count, word] of [['#found-people', people.people.length, 'person'],
      ['#found-posts', posts.posts.length, 'post'], ['#found-jobs', jobs.jobs.length, 'job']]) {
      if (!count) $(id).replaceChildren(element('li', { className: 'muted small', text: `No ${word} found.` }));
    }
    $('#search').dataset.results = plural(people.people.length + posts.posts.length + jobs.jobs.length, 'result');
  }
}


const config = JSON.parse($('#social-config').textContent);
if (config) {
  const app = new SocialApp(config);
  window.socialApp = app;
  app.start().catch((error) => {
    $('#loading').hidden = true;
    app.say(`cannot start the social page: ${rejectText(error)}`, true);
  });
}
