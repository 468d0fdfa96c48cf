// The swipe feed: one video a screen in a CSS scroll-snap list (For You or Following),
// moved by swipe, wheel or the up/down keys. The video on screen plays (muted until the
// viewer unmutes, once for all) and the next one is preloaded (`preload="auto"` on that
// element only); its source is the canister's 360p rendition on a narrow screen (<= 480
// px) and 720p otherwise, with the poster image first. The overlay links the creator and
// the caption's #hashtags and @mentions, and holds like (live count), super-like,
// comments, share, tip, report and "why this video". Sensitive videos stay blurred until
// tapped. Leaving a video reports how long it was watched (`record_view`); the next page
// of the feed is read as the viewer nears the end.

import { IDL } from '../icframework/ic.js';
import {
  $, $$, button, captionText, compact, element, opt, rejectText, tagOf, unopt, variant,
} from './dom.js';

const PAGE = 6;
const LOAD_AHEAD = 3;          // read the next page this many videos before the end
const NARROW_PX = 480;
const WHEEL_STEP = 40;         // wheel delta that moves one video
const U32_MAX = 4294967295;

export class Reels {
  constructor(app) {
    this.app = app;
    this.kind = 'foryou';
    this.cursor = null;
    this.done = false;
    this.loading = null;
    this.active = null;
    this.muted = true;
    this.watch = new Map();    // video id text -> { ms, last }
    this.cards = new Map();    // video id text -> VideoCard
    this.wheelLock = false;
  }

  bind() {
    this.list = $('#reels');
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (entry.isIntersecting && entry.intersectionRatio >= 0.6) this.activate(entry.target);
      }
    }, { root: this.list, threshold: [0.6] });
    document.addEventListener('keydown', (event) => this.onKey(event));
    this.list.addEventListener('wheel', (event) => this.onWheel(event), { passive: false });
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) { this.flush(this.active); this.pause(); } else if (this.app.view === 'feed') this.play(this.active);
    });
    window.addEventListener('pagehide', () => this.flush(this.active));
    this.app.onLive('video', (topic, bytes) => this.onLive(topic, bytes));
    window.addEventListener('resize', () => this.fit());
  }

  // The feed fills the window below the page's header and tabs.
  fit() {
    if (this.app.view !== 'feed') return;
    const top = this.list.getBoundingClientRect().top + window.scrollY;
    const below = window.innerWidth <= NARROW_PX ? 8 : 40;
    this.list.style.height = `${Math.max(320, window.innerHeight - top - below)}px`;
  }

  // Open the feed `kind` ('foryou' or 'following'), starting at video `start` if given.
  async open(kind, start, nav) {
    if (kind === 'following') await this.app.requireMe('see the people you follow');
    const same = kind === this.kind && this.list.children.length > 0 && start === undefined;
    $('#feed').dataset.kind = kind;
    this.fit();
    if (same) { this.play(this.active); return; }
    this.flush(this.active);
    this.kind = kind;
    this.cursor = null;
    this.done = false;
    this.active = null;
    this.cards.clear();
    this.list.replaceChildren();
    $('#feed').dataset.ready = 'false';
    if (start !== undefined) {
      const card = unopt(await this.app.api.card(start));
      if (!this.app.isCurrent(nav)) return;
      if (card) this.append([card]);
      else this.app.say(`Video ${start} is not available: it was deleted, hidden, or is still processing.`, true);
    }
    await this.more(nav);
    if (!this.app.isCurrent(nav)) return;
    const empty = this.list.children.length === 0;
    $('#feed-empty').hidden = !empty;
    $('#feed-empty-text').textContent = kind === 'following'
      ? 'Nobody you follow has posted yet. Find people in For You or search.'
      : 'No videos yet.';
    $('#feed').dataset.ready = 'true';
    if (!empty) this.scrollTo(this.list.firstElementChild, 'instant');
    this.list.focus({ preventScroll: true });
  }

  // The next page of the feed, once at a time.
  more(nav) {
    if (this.done) return Promise.resolve();
    if (!this.loading) {
      this.loading = (async () => {
        const api = this.app.api;
        const page = this.kind === 'following'
          ? await api.following_feed(opt(this.cursor), PAGE)
          : await api.for_you(opt(this.cursor), PAGE);
        if (!this.app.isCurrent(nav) && nav !== undefined) return;
        this.cursor = unopt(page.next);
        this.done = this.cursor === null || page.items.length === 0;
        this.append(page.items);
      })().finally(() => { this.loading = null; });
    }
    return this.loading;
  }

  append(cards) {
    for (const card of cards) {
      const key = String(card.video.id);
      if (this.cards.has(key)) continue;
      this.cards.set(key, card);
      const item = this.reelItem(card);
      this.list.append(item);
      this.observer.observe(item);
    }
    $('#feed-empty').hidden = this.list.children.length > 0;
  }

  // -- one video ---------------------------------------------------------------------------------

  sourceFor(video) {
    const narrow = window.innerWidth <= NARROW_PX;
    const order = narrow ? ['r360', 'r720'] : ['r720', 'r360'];
    for (const kind of order) {
      const found = this.app.rendition(video, kind);
      if (found) return found;
    }
    return null;
  }

  reelItem(card) {
    const { video } = card;
    const id = String(video.id);
    const source = this.sourceFor(video);
    const player = element('video', {
      className: 'reel-video',
      attrs: {
        playsinline: true, loop: true, preload: 'none', muted: true,
        poster: this.app.posterUrl(video), 'aria-label': video.caption || `Video ${id}`,
        'data-rendition': source ? tagOf(source.kind) : null,
      },
    });
    player.muted = this.muted;
    if (source) player.src = this.app.mediaUrl(source.path);
    player.addEventListener('click', () => this.togglePlay(player));
    player.addEventListener('timeupdate', () => this.tick(id, player));
    player.addEventListener('seeked', () => { this.watchOf(id).last = player.currentTime; });
    player.addEventListener('playing', () => {
      item.dataset.playing = 'true';
      this.watchOf(id).last = player.currentTime;
    });
    player.addEventListener('pause', () => { item.dataset.playing = 'false'; });

    const creator = card.creator;
    const { handle } = creator;
    const item = element('li', {
      className: `reel${video.sensitive ? ' sensitive' : ''}`,
      attrs: { 'data-video': id, 'data-playing': 'false', 'aria-label': `Video by @${handle}` },
    }, [
      element('div', { className: 'reel-stage' }, [player]),
      video.sensitive ? button('Sensitive content — tap to view', () => this.reveal(item), {
        className: 'reel-reveal btn-secondary',
      }) : null,
      this.muteButton(),
      element('div', { className: 'reel-info' }, [
        element('a', { className: 'reel-creator', text: `@${handle}`, attrs: { href: `#u=${encodeURIComponent(handle)}` } }),
        creator.name ? element('span', { className: 'reel-name small', text: ` ${creator.name}` }) : null,
        this.followButton(card),
        captionText(video.caption, 'p', 'caption reel-caption'),
      ]),
      element('div', { className: 'reel-actions' }, this.actionButtons(card)),
    ]);
    return item;
  }

  muteButton() {
    const node = button(this.muted ? '🔇' : '🔊', () => this.setMuted(!this.muted), {
      className: 'btn-icon reel-mute', attrs: { 'aria-label': this.muted ? 'Unmute' : 'Mute', 'aria-pressed': String(!this.muted) },
    });
    return node;
  }

  setMuted(muted) {
    this.muted = muted;
    for (const player of $$('.reel-video', this.list)) player.muted = muted;
    for (const control of $$('.reel-mute', this.list)) {
      control.textContent = muted ? '🔇' : '🔊';
      control.setAttribute('aria-label', muted ? 'Unmute' : 'Mute');
      control.setAttribute('aria-pressed', String(!muted));
    }
  }

  followButton(card) {
    if (this.app.isMine(card.video.creator) || card.following_creator) return null;
    const node = button('Follow', () => this.app.busy(node, async () => {
      await this.app.requireMe('follow');
      await this.app.api.follow(card.video.creator);
      card.following_creator = true;
      node.remove();
      this.app.toast(`You follow @${card.creator.handle}`);
    }), { className: 'btn-sm btn-secondary reel-follow' });
    return node;
  }

  actionButtons(card) {
    const id = card.video.id;
    const stats = card.stats;
    const action = (name, icon, label, count, handler, extra = {}) => {
      const node = element('button', {
        className: `reel-action reel-${name}`,
        attrs: { type: 'button', 'aria-label': label, 'data-action': name, ...extra },
      }, [
        element('span', { className: 'reel-icon', text: icon, attrs: { 'aria-hidden': 'true' } }),
        count === null ? null : element('span', { className: 'reel-count', text: compact(count), attrs: { 'data-count': String(count) } }),
      ]);
      node.addEventListener('click', () => this.app.busy(node, () => handler(node)));
      return node;
    };
    return [
      action('like', card.liked_by_me ? '❤️' : '🤍', 'Like', stats.likes, () => this.toggleLike(id),
        { 'aria-pressed': String(Boolean(card.liked_by_me)) }),
      action('super', '⭐', 'Super-like', stats.super_likes, () => this.superLike(id)),
      action('comments', '💬', 'Comments', stats.comments, () => this.app.comments.open(id)),
      action('share', '↗', 'Share', stats.shares, () => this.share(id)),
      this.app.isMine(card.video.creator) ? null
        : action('tip', '🪙', 'Tip the creator', null, () => this.app.wallet.tip(this.cards.get(String(id)))),
      action('why', 'ℹ️', 'Why this video', null, () => this.why(id)),
      this.app.isMine(card.video.creator) ? null
        : action('report', '⚑', 'Report', null, () => this.report(id)),
      element('span', { className: 'reel-views small', text: `${compact(stats.views)} views`, attrs: { 'data-count': String(stats.views) } }),
    ];
  }

  itemOf(id) {
    return this.list.querySelector(`li.reel[data-video="${String(id)}"]`);
  }

  // Show `stats` (and `liked`, when known) on the video `id`'s overlay.
  showStats(id, stats, liked) {
    const item = this.itemOf(id);
    const card = this.cards.get(String(id));
    if (card) {
      card.stats = { ...card.stats, ...stats };
      if (liked !== undefined) card.liked_by_me = liked;
    }
    if (!item) return;
    const set = (name, value) => {
      const count = $(`.reel-${name} .reel-count`, item);
      if (count && value !== undefined) { count.textContent = compact(value); count.dataset.count = String(value); }
    };
    set('like', stats.likes);
    set('super', stats.super_likes);
    set('comments', stats.comments);
    set('share', stats.shares);
    if (stats.views !== undefined) {
      const views = $('.reel-views', item);
      views.textContent = `${compact(stats.views)} views`;
      views.dataset.count = String(stats.views);
    }
    if (liked !== undefined) {
      const like = $('.reel-like', item);
      like.setAttribute('aria-pressed', String(liked));
      $('.reel-icon', like).textContent = liked ? '❤️' : '🤍';
    }
  }

  // Read the video's card again (after this viewer changed something).
  async refresh(id) {
    const card = unopt(await this.app.api.card(id));
    if (card) this.showStats(id, card.stats, card.liked_by_me);
    return card;
  }

  async toggleLike(id) {
    await this.app.requireMe('like videos');
    const card = this.cards.get(String(id));
    if (card && card.liked_by_me) await this.app.api.unlike(id);
    else await this.app.api.like(id);
    await this.refresh(id);
  }

  async superLike(id) {
    await this.app.requireMe('super-like videos');
    const left = await this.app.api.super_like(id);
    await this.refresh(id);
    this.app.toast(`Super-liked: the creator is told, and the video ranks higher. ${left} super-likes left today.`);
  }

  async share(id) {
    const link = `${location.origin}${location.pathname}#v=${id}`;
    let copied = false;
    try {
      await navigator.clipboard.writeText(link);
      copied = true;
    } catch (error) {
      copied = false;  // no clipboard here (permissions): the link is shown instead
    }
    if (this.app.me) {
      await this.app.api.share(id);
      await this.refresh(id);
    }
    this.app.toast(copied ? `Link copied: ${link}` : `Share this link: ${link}`);
  }

  async report(id) {
    await this.app.requireMe('report videos');
    const dialog = $('#report');
    const form = $('#report-form');
    $('#report-title').textContent = 'Report this video';
    const submitted = await new Promise((resolve) => {
      const onSubmit = (event) => { event.preventDefault(); cleanup(); resolve(true); };
      const onClose = () => { cleanup(); resolve(false); };
      const cleanup = () => { form.removeEventListener('submit', onSubmit); dialog.removeEventListener('close', onClose); };
      form.addEventListener('submit', onSubmit);
      dialog.addEventListener('close', onClose);
      for (const close of $$('.close', dialog)) close.onclick = () => dialog.close();
      dialog.showModal();
    });
    if (!submitted) return;
    const reason = form.reason.value;
    dialog.close();
    await this.app.api.report(variant('video', id), reason);
    this.app.toast('Thanks: a moderator will look at it.');
  }

  // "Why this video": every term of its For You score for this viewer (`explain_score`),
  // or its counters when it is not in the For You ranking.
  async why(id) {
    const card = this.cards.get(String(id));
    if (!card) return;
    const { stats } = card;
    const terms = unopt(await this.app.api.explain_score(id));
    const pct = (x) => `${(100 * x).toFixed(1)}%`;
    const lines = terms ? [
      `Score ${terms.score.toFixed(4)} = engagement × recency × follow × seen.`,
      `Engagement ${terms.engagement.toFixed(3)}: watch time ${pct(terms.watch)}, completion ${pct(terms.completion)}, likes ${pct(terms.like)}, super-likes ${pct(terms.super_like)}, comments ${pct(terms.comment)}, shares ${pct(terms.share)} per view (smoothed).`,
      `Recency ×${terms.recency.toFixed(3)} (newer videos rank higher).`,
      card.following_creator ? `Follow bonus ×${terms.follow.toFixed(2)}: you follow the creator.` : `Follow ×${terms.follow.toFixed(2)}: you do not follow the creator.`,
      terms.seen < 1 ? `Seen ×${terms.seen.toFixed(2)}: you watched it already.` : 'Not seen by you yet.',
    ] : [
      `${compact(stats.likes)} likes, ${compact(stats.comments)} comments and ${compact(stats.shares)} shares from ${compact(stats.views)} views.`,
      'It is not in your For You ranking (it is new, or you opened it from a link).',
    ];
    $('#why-terms').replaceChildren(...lines.map((t) => element('li', { text: t })));
    const dialog = $('#why');
    for (const close of $$('.close', dialog)) close.onclick = () => dialog.close();
    dialog.showModal();
  }

  reveal(item) {
    item.classList.remove('sensitive');
    item.classList.add('revealed');
    const control = $('.reel-reveal', item);
    if (control) control.remove();
    if (item === this.active) this.play(item);
  }

  // -- which video plays -----------------------------------------------------------------------

  activate(item) {
    if (this.active === item || this.app.view !== 'feed') return;
    const previous = this.active;
    this.flush(previous);
    if (previous) {
      const player = $('video', previous);
      player.pause();
    }
    this.active = item;
    for (const other of $$('li.reel', this.list)) other.classList.toggle('active', other === item);
    this.preload(item);
    this.play(item);
    const id = item.dataset.video;
    history.replaceState(null, '', `#v=${id}`);
    this.app.watchTopics([`video:${id}`]);
    const index = [...this.list.children].indexOf(item);
    if (index >= this.list.children.length - LOAD_AHEAD) {
      this.more().catch((error) => this.app.say(rejectText(error), true));
    }
  }

  // `preload="auto"` on the next video only; the rest keep what they have loaded.
  preload(item) {
    const next = item.nextElementSibling;
    for (const other of $$('li.reel video', this.list)) {
      const reel = other.closest('li.reel');
      if (reel === next) other.preload = 'auto';
      else if (reel !== item) other.preload = other.readyState > 0 ? 'metadata' : 'none';
      else other.preload = 'auto';
    }
  }

  play(item) {
    if (!item || item.classList.contains('sensitive')) return;
    const player = $('video', item);
    player.muted = this.muted;
    const started = player.play();
    if (started) started.catch(() => { item.dataset.playing = 'false'; });
  }

  pause() {
    for (const player of $$('video', this.list)) player.pause();
  }

  // The feed goes off screen: report the watch time so far and stop playing.
  leave() {
    this.flush(this.active);
    this.pause();
  }

  togglePlay(player) {
    if (player.paused) player.play().catch(() => {});
    else player.pause();
  }

  step(direction) {
    const current = this.active || this.list.firstElementChild;
    if (!current) return;
    const target = direction > 0 ? current.nextElementSibling : current.previousElementSibling;
    if (target) this.scrollTo(target, 'smooth');
  }

  // Bring `item` on screen inside the feed only (the page itself does not move).
  scrollTo(item, behavior) {
    this.list.scrollTo({ top: item.offsetTop, behavior });
  }

  onKey(event) {
    if (this.app.view !== 'feed') return;
    const tag = (event.target.tagName || '').toLowerCase();
    if (['input', 'textarea', 'select'].includes(tag) || event.target.isContentEditable) return;
    if ($('dialog[open]') || !$('#comments').hidden) return;
    if (event.key === 'ArrowDown' || event.key === 'PageDown' || event.key === 'j') { event.preventDefault(); this.step(1); }
    if (event.key === 'ArrowUp' || event.key === 'PageUp' || event.key === 'k') { event.preventDefault(); this.step(-1); }
    if (event.key === 'm') this.setMuted(!this.muted);
    if (event.key === ' ' && this.active) { event.preventDefault(); this.togglePlay($('video', this.active)); }
  }

  // One wheel gesture moves one video (a trackpad's many small deltas add up to one step).
  onWheel(event) {
    if (Math.abs(event.deltaY) < 1) return;
    event.preventDefault();
    if (this.wheelLock) return;
    this.wheelDelta = (this.wheelDelta || 0) + event.deltaY;
    if (Math.abs(this.wheelDelta) < WHEEL_STEP) return;
    this.step(Math.sign(this.wheelDelta));
    this.wheelDelta = 0;
    this.wheelLock = true;
    setTimeout(() => { this.wheelLock = false; }, 500);
  }

  // -- watch time ------------------------------------------------------------------------------

  watchOf(id) {
    if (!this.watch.has(id)) this.watch.set(id, { ms: 0, last: null });
    return this.watch.get(id);
  }

  // Add the time played since the last look (not a seek: a jump of 2 s or more; a loop
  // back to the start counts from there).
  tick(id, player) {
    const state = this.watchOf(id);
    const now = player.currentTime;
    if (state.last !== null && now > state.last && now - state.last < 2 && !player.paused) {
      state.ms += (now - state.last) * 1000;
    }
    state.last = now;
  }

  // Report how long the video in `item` was watched since last reported.
  flush(item) {
    if (!item) return;
    const id = item.dataset.video;
    const state = this.watchOf(id);
    const player = $('video', item);
    if (player) this.tick(id, player);
    const watched = Math.min(U32_MAX, Math.round(state.ms));
    state.ms = 0;
    state.last = null;
    if (watched < 1) return;
    this.app.api.record_view(BigInt(id), watched)
      .then(() => this.refresh(BigInt(id)))
      .catch((error) => console.warn(`the view of video ${id} was not recorded: ${rejectText(error)}`));
  }

  // -- live counters -------------------------------------------------------------------------------

  async onLive(topic, bytes) {
    const id = topic.split(':')[1];
    const type = this.app.eventType('VideoLive', IDL.Record({
      video_id: IDL.Nat64, likes: IDL.Nat64, comments: IDL.Nat64, views: IDL.Nat64,
    }));
    let live = null;
    try {
      [live] = IDL.decode([type], bytes);
    } catch (error) {
      live = null;
    }
    if (live) this.showStats(id, { likes: live.likes, comments: live.comments, views: live.views });
    else await this.refresh(BigInt(id));
    if (!$('#comments').hidden && $('#comments').dataset.video === id) await this.app.comments.reload();
  }
}
