// Profiles, hashtag pages and search: a creator's profile (counts, follow / unfollow,
// followers and following lists, a grid of posters that open the video in the feed),
// the caller's own (profile editor; "Your videos" with processing and rejected ones is
// on the upload page), a hashtag's grid, and search over videos, people and hashtags
// next to the trending hashtags.

import {
  $, avatar, button, compact, element, opt, plural, unopt,
} from './dom.js';

const GRID_PAGE = 18;
const SEARCH_LIMIT = 20;
const TRENDING = 12;


export class People {
  constructor(app) {
    this.app = app;
    this.shown = null;      // the ProfileView on the page
    this.gridNext = null;
    this.tagNext = null;
    this.peopleNext = null;
    this.peopleKind = null;
  }

  bind() {
    $('#profile-following').addEventListener('click', () => this.app.guard(() => this.openPeople('following')));
    $('#profile-followers').addEventListener('click', () => this.app.guard(() => this.openPeople('followers')));
    $('#people-more').addEventListener('click', () => this.app.guard(() => this.morePeople()));
    $('#profile-more').addEventListener('click', () => this.app.guard(() => this.moreGrid()));
    $('#tag-more').addEventListener('click', () => this.app.guard(() => this.moreTag()));
    const editor = $('#profile-editor');
    editor.addEventListener('submit', (event) => {
      event.preventDefault();
      this.app.busy(editor, async () => {
        await this.app.api.update_profile({ name: editor.name.value, bio: editor.bio.value });
        editor.hidden = true;
        this.app.me = unopt(await this.app.api.me());
        await this.open(null);
      });
    });
    $('.close', editor).addEventListener('click', () => { editor.hidden = true; });
  }

  // The profile of `handle`, or the caller's own when `handle` is null.
  async open(handle, nav) {
    const section = $('#profile');
    section.dataset.ready = 'false';
    $('#people-list').hidden = true;
    $('#profile-editor').hidden = true;
    let profile;
    if (handle === null) {
      await this.app.requireMe('have a profile');
      profile = unopt(await this.app.api.me());
    } else {
      profile = unopt(await this.app.api.profile_by_handle(handle));
    }
    if (!this.app.isCurrent(nav)) return;
    if (!profile) throw new Error(`nobody has the handle @${handle}: check the spelling`);
    this.shown = profile;
    this.render(profile);
    await this.loadGrid(nav);
    section.dataset.ready = 'true';
  }

  render(profile) {
    const handle = profile.handle;
    const name = profile.name || `@${handle}`;
    const mine = this.app.isMine(profile.principal);
    $('#profile-avatar').replaceWith(Object.assign(avatar(name, 'avatar-lg'), { id: 'profile-avatar' }));
    $('#profile-name').textContent = name;
    $('#profile-handle').textContent = `@${handle}`;
    $('#profile-bio').textContent = profile.bio || '';
    $('#profile-following').textContent = `${compact(profile.following)} following`;
    $('#profile-followers').textContent = plural(profile.followers, 'follower');
    $('#profile-likes').textContent = `${compact(profile.likes_received)} likes · ${plural(profile.videos, 'video')}`;
    const actions = [];
    if (mine) {
      actions.push(button('Edit profile', () => this.edit(profile)));
      actions.push(element('a', { className: 'btn btn-sm', text: 'Your videos', attrs: { href: '#upload' } }));
      if (this.app.config.ledgerId) {
        const tips = element('span', { className: 'badge badge-success', attrs: { id: 'tips-received' } });
        actions.push(tips);
        this.app.guard(async () => {
          const [received] = await Promise.all([this.app.api.tips_received(), this.app.wallet.connect()]);
          tips.textContent = `🪙 ${this.app.wallet.format(received.total)} in ${plural(received.count, 'tip')}`;
        });
      }
    } else {
      const following = profile.followed_by_me;
      const follow = button(following ? 'Following' : 'Follow', () => this.app.busy(follow, async () => {
        await this.app.requireMe('follow');
        const target = profile.principal;
        if (following) await this.app.api.unfollow(target);
        else await this.app.api.follow(target);
        const again = unopt(await this.app.api.profile(target));
        if (again) { this.shown = again; this.render(again); }
      }), { className: following ? 'btn-sm btn-secondary' : 'btn-sm btn-primary', attrs: { 'aria-pressed': String(following), 'data-action': 'follow' } });
      actions.push(follow);
      if (this.app.me) {
        const block = button('Block', () => this.app.busy(block, async () => {
          if (!window.confirm(`Block @${handle}? Neither of you will see the other's videos.`)) return;
          await this.app.api.block(profile.principal);
          this.app.toast(`@${handle} is blocked.`);
        }), { className: 'btn-sm btn-ghost' });
        const report = button('Report', () => this.app.busy(report, async () => {
          const reason = window.prompt(`Why report @${handle}?`);
          if (!reason) return;
          await this.app.api.report({ user: profile.principal }, reason);
          this.app.toast('Thanks: a moderator will look at it.');
        }), { className: 'btn-sm btn-ghost' });
        actions.push(block, report);
      }
    }
    $('#profile-actions').replaceChildren(...actions);
  }

  edit(profile) {
    const editor = $('#profile-editor');
    editor.name.value = profile.name || '';
    editor.bio.value = profile.bio || '';
    editor.hidden = false;
    editor.name.focus();
  }

  // -- the grid of posters ------------------------------------------------------------------

  posterItem(card) {
    const { video } = card;
    const poster = this.app.posterUrl(video);
    const link = element('a', {
      className: `poster${video.sensitive ? ' sensitive' : ''}`,
      attrs: { href: `#v=${video.id}`, 'data-video': String(video.id), 'aria-label': video.caption || `Video ${video.id}` },
    }, [
      poster ? element('img', { attrs: { src: poster, alt: '', loading: 'lazy' } })
        : element('span', { className: 'poster-none', text: '🎬', attrs: { 'aria-hidden': 'true' } }),
      element('span', { className: 'poster-views', text: `▶ ${compact(card.stats ? card.stats.views : 0)}` }),
    ]);
    return element('li', {}, [link]);
  }

  async loadGrid(nav) {
    const page = await this.app.api.creator_videos(this.shown.principal, [], GRID_PAGE);
    if (!this.app.isCurrent(nav)) return;
    $('#profile-grid').replaceChildren(...page.items.map((c) => this.posterItem(c)));
    $('#profile-empty').hidden = page.items.length > 0;
    this.gridNext = unopt(page.next);
    $('#profile-more').hidden = !this.gridNext;
  }

  async moreGrid() {
    const page = await this.app.api.creator_videos(this.shown.principal, opt(this.gridNext), GRID_PAGE);
    $('#profile-grid').append(...page.items.map((c) => this.posterItem(c)));
    this.gridNext = unopt(page.next);
    $('#profile-more').hidden = !this.gridNext;
  }

  // -- followers and following -------------------------------------------------------------

  personItem(person) {
    const handle = person.handle;
    return element('li', {}, [
      element('a', { className: 'person-link', attrs: { href: `#u=${encodeURIComponent(handle)}` } }, [
        avatar(person.name || handle, 'avatar-sm'),
        element('strong', { text: ` ${person.name || ''}` }),
        element('span', { className: 'small muted', text: ` @${handle}` }),
      ]),
    ]);
  }

  async openPeople(kind) {
    this.peopleKind = kind;
    $('#people-title').textContent = kind === 'followers' ? 'Followers' : 'Following';
    $('#people').replaceChildren();
    this.peopleNext = null;
    $('#people-list').hidden = false;
    await this.morePeople(true);
  }

  async morePeople(first = false) {
    const target = this.shown.principal;
    const cursor = first ? [] : opt(this.peopleNext);
    const page = this.peopleKind === 'followers'
      ? await this.app.api.followers(target, cursor)
      : await this.app.api.following(target, cursor);
    const people = page.items;
    $('#people').append(...people.map((p) => this.personItem(p)));
    if (first && !people.length) $('#people').append(element('li', { className: 'muted small', text: 'Nobody yet.' }));
    this.peopleNext = unopt(page.next);
    $('#people-more').hidden = !this.peopleNext;
  }

  // -- hashtags ----------------------------------------------------------------------------------

  async openTag(tag, nav) {
    const section = $('#tag');
    section.dataset.ready = 'false';
    $('#tag-title').textContent = `#${tag}`;
    this.tag = tag;
    const page = await this.app.api.hashtag(tag, [], GRID_PAGE);
    if (!this.app.isCurrent(nav)) return;
    $('#tag-grid').replaceChildren(...page.items.map((c) => this.posterItem(c)));
    $('#tag-empty').hidden = page.items.length > 0;
    this.tagNext = unopt(page.next);
    $('#tag-more').hidden = !this.tagNext;
    section.dataset.ready = 'true';
  }

  async moreTag() {
    const page = await this.app.api.hashtag(this.tag, opt(this.tagNext), GRID_PAGE);
    $('#tag-grid').append(...page.items.map((c) => this.posterItem(c)));
    this.tagNext = unopt(page.next);
    $('#tag-more').hidden = !this.tagNext;
  }

  tagItem(tag) {
    const { tag: name, count: uses } = tag;
    return element('li', {}, [
      element('a', { className: 'badge badge-info hashtag', text: `#${name} · ${compact(uses)}`, attrs: { href: `#tag=${encodeURIComponent(name)}` } }),
    ]);
  }

  // -- search ------------------------------------------------------------------------------------

  async search(query, nav) {
    const text = String(query || '').trim();
    const section = $('#search');
    section.dataset.ready = 'false';
    $('#search-form').q.value = text;
    $('#search-title').textContent = text ? `Results for “${text}”` : 'Search';
    const trending = await this.app.api.trending_tags(TRENDING);
    if (!this.app.isCurrent(nav)) return;
    $('#trending').replaceChildren(...trending.map((t) => this.tagItem(t)));
    if (!text) {
      for (const id of ['#found-tags', '#found-users', '#found-videos']) $(id).replaceChildren();
      section.dataset.ready = 'true';
      return;
    }
    const found = await this.app.api.search(text, SEARCH_LIMIT);
    if (!this.app.isCurrent(nav)) return;
    const none = (what) => element('li', { className: 'muted small', text: `No ${what} found.` });
    $('#found-tags').replaceChildren(...(found.tags.length ? found.tags.map((t) => this.tagItem(t)) : [none('hashtags')]));
    $('#found-users').replaceChildren(...(found.users.length ? found.users.map((p) => this.personItem(p)) : [none('people')]));
    $('#found-videos').replaceChildren(...(found.videos.length ? found.videos.map((c) => this.posterItem(c)) : [none('videos')]));
    section.dataset.results = String(found.tags.length + found.users.length + found.videos.length);
    section.dataset.ready = 'true';
  }
}
