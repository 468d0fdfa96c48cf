// The landing for a visitor without a profile: the newest public posts (public_feed,
// readable by anyone), the people who wrote them and the open jobs, read-only, next to
// the sign-up form. Whatever would need a profile (opening a person, reacting,
// commenting, applying) brings the visitor to the form with a line saying why.
// Its pictures load at once (one page of posts). All text is set with textContent.

import { $, avatar, button, element, plural, richText, tagOf, timeElement, unopt } from './dom.js';

const PAGE = 10;
const PEOPLE = 6;
const JOBS = 5;

export class Landing {
  constructor(app) {
    this.app = app;
    this.cursor = null;
    this.people = new Map();
    this.loaded = false;
  }

  get api() { return this.app.api; }

  bind() {
    $('#hero-join').addEventListener('click', (event) => {
      event.preventDefault();
      this.prompt('Join to connect, react, comment and apply.');
    });
    $('#public-more').addEventListener('click', () => this.app.guard(() => this.more()));
  }

  // Load the first page of posts and the open jobs (once per visit).
  async load() {
    if (this.loaded) return;
    this.loaded = true;
    const jobs = this.api.search_jobs({
      words: '', org_id: [], workplace: [], seniority: [], skill: [], min_salary: [],
      include_closed: false,
    }, [], JOBS);
    await this.more();
    this.renderJobs((await jobs).jobs);
  }

  async more() {
    const page = await this.api.public_feed(this.cursor === null ? [] : [this.cursor], PAGE);
    this.cursor = unopt(page.next_cursor);
    $('#public-posts').append(...page.items.map((item) => this.postItem(item)));
    for (const item of page.items) {
      const key = item.author.user.toText();
      if (item.author.handle && !this.people.has(key)) this.people.set(key, item.author);
    }
    this.renderPeople();
    $('#public-empty').hidden = $('#public-posts').children.length > 0;
    $('#public-more').hidden = this.cursor === null;
    $('#public-feed').dataset.ready = 'true';
  }

  // Bring the visitor to the sign-up form, saying what it unlocks.
  prompt(reason) {
    $('#signup-prompt').textContent = reason;
    $('#signup-form').scrollIntoView({ behavior: 'smooth', block: 'center' });
    $('#signup-form').handle.focus({ preventScroll: true });
  }

  personButton(card, className = 'person-link') {
    const name = card.name || `@${card.handle}`;
    return button('', () => this.prompt(`Create your profile to see ${name}'s profile and connect.`), {
      className: `btn-link ${className}`, attrs: { 'aria-label': `${name} — create your profile to open it` },
    });
  }

  postItem({ post, author }) {
    const name = author.name || `@${author.handle}`;
    const who = this.personButton(author, 'post-author-link');
    who.append(
      avatar(name, this.app.imageUrl(unopt(author.avatar)), 'avatar-sm', { eager: true }),
      element('span', { className: 'post-by' }, [
        element('strong', { className: 'post-author', text: name }),
        author.headline ? element('span', { className: 'small muted post-headline', text: author.headline }) : null,
      ]),
    );
    const node = element('li', { className: 'card post', attrs: { 'data-post': String(post.id) } }, [
      element('div', { className: 'post-head' }, [who, element('span', { className: 'small muted post-when' }, [timeElement(post.created_at)])]),
      this.body(post),
    ]);
    const original = unopt(post.repost_of);
    if (original) {
      node.append(element('blockquote', { className: 'repost' }, [
        element('div', { className: 'card post' }, [
          element('span', { className: 'small muted', text: `@${unopt(original.author.handle) || '…'}` }),
          this.body(original),
        ]),
      ]));
    }
    node.append(this.counts(post, name));
    return node;
  }

  body(post) {
    const ask = () => this.prompt('Create your profile to follow hashtags and see who is mentioned.');
    const out = element('div', { className: 'post-body' });
    if (post.text) out.append(richText(post.text, { onTag: ask, onHandle: ask }));
    for (const path of post.images) {
      // eager: the landing holds one page of posts, and a visitor sees them whole
      out.append(element('img', { className: 'post-image', attrs: { src: this.app.imageUrl(path), alt: 'picture in the post' } }));
    }
    return out;
  }

  // Reaction and comment counts, and one button that leads to sign-up.
  counts(post, name) {
    const reactions = post.reactions.reduce((n, r) => n + Number(r.count), 0);
    const kinds = post.reactions.map((r) => tagOf(r.kind)).join(', ');
    return element('div', { className: 'cluster post-actions public-counts' }, [
      element('span', { className: 'small reactions', text: `${plural(reactions, 'reaction')} · ${plural(post.comment_count, 'comment')}`, attrs: { title: kinds || null } }),
      button('Join to react and comment', () => this.prompt(`Create your profile to react to ${name}'s post and join the conversation.`), {
        className: 'btn-sm btn-secondary public-join',
      }),
    ]);
  }

  renderPeople() {
    const cards = [...this.people.values()].slice(0, PEOPLE);
    $('#public-people').replaceChildren(...cards.map((card) => {
      const link = this.personButton(card);
      link.append(
        avatar(card.name || card.handle, this.app.imageUrl(unopt(card.avatar)), 'avatar-sm', { eager: true }),
        element('span', { className: 'person-text' }, [
          element('strong', { text: card.name || `@${card.handle}` }),
          card.headline ? element('span', { className: 'small person-headline', text: card.headline }) : null,
        ]),
      );
      return element('li', { className: 'person' }, [link]);
    }));
    if (!cards.length) $('#public-people').append(element('li', { className: 'small muted', text: 'People appear here as they post.' }));
  }

  renderJobs(jobs) {
    $('#public-jobs').replaceChildren(...jobs.map(({ job, org_name: org }) => {
      const open = button('', () => this.prompt(`Create your profile to apply for ${job.title} at ${org}.`), {
        className: 'btn-link public-job',
      });
      open.append(
        element('strong', { text: job.title }),
        element('span', { className: 'small muted', text: [org, job.location, tagOf(job.workplace)].filter(Boolean).join(' · ') }),
      );
      return element('li', {}, [open]);
    }));
    if (!jobs.length) $('#public-jobs').append(element('li', { className: 'small muted', text: 'No open jobs right now.' }));
  }
}
