// The moderators' review queue: reported (and auto-hidden) videos and people, with the
// reports' reasons, each decided with keep, blur (marked sensitive) or remove. The tab
// shows only to the canister's moderators: the queue answers them and refuses others.

import {
  $, button, captionText, compact, element, opt, tagOf, unopt, variant,
} from './dom.js';

const itemsOf = (page) => page.items;

export class Moderation {
  constructor(app) {
    this.app = app;
    this.isModerator = false;
    this.next = null;
  }

  bind() {
    $('#review-more').addEventListener('click', () => this.app.guard(() => this.more()));
  }

  // Show the Review tab when the canister lets the caller read the queue.
  async detect() {
    this.isModerator = await this.app.api.i_am_moderator();
    $('#moderation-tab').hidden = !this.isModerator;
  }

  async open() {
    const section = $('#moderation');
    section.dataset.ready = 'false';
    const page = await this.app.api.moderation_queue([]);
    const items = itemsOf(page);
    $('#review-list').replaceChildren(...await Promise.all(items.map((e) => this.entryItem(e))));
    $('#review-empty').hidden = items.length > 0;
    this.next = unopt(page.next);
    $('#review-more').hidden = !this.next;
    section.dataset.ready = 'true';
  }

  async more() {
    const page = await this.app.api.moderation_queue(opt(this.next));
    $('#review-list').append(...await Promise.all(itemsOf(page).map((e) => this.entryItem(e))));
    this.next = unopt(page.next);
    $('#review-more').hidden = !this.next;
  }

  // One case: the reported video or person, how many reported it and why.
  async entryItem(entry) {
    const { target } = entry;
    const kind = tagOf(target);
    const video = kind === 'video' ? unopt(await this.app.api.video(target.video)) : null;
    const reasons = [...new Set(entry.reports.map((r) => r.reason))];
    const reports = entry.reporters;
    const poster = video ? this.app.posterUrl(video) : null;
    const label = kind === 'video' ? `Video ${target.video}` : `User ${target.user.toText()}`;
    const item = element('li', { className: 'row review', attrs: { 'data-kind': kind, 'data-case': String(entry.id) } }, [
      poster ? element('img', { className: 'mine-poster', attrs: { src: poster, alt: '' } }) : null,
      element('div', { className: 'list-main' }, [
        kind === 'video'
          ? element('a', { className: 'list-title', text: label, attrs: { href: `#v=${target.video}` } })
          : element('span', { className: 'list-title', text: label }),
        video ? captionText(video.caption, 'p', 'caption small') : null,
        element('span', { className: 'list-sub', text: `${compact(Number(reports))} ${Number(reports) === 1 ? 'person' : 'people'} reported${reasons.length ? `: ${reasons.join(', ')}` : ''}` }),
        entry.hidden ? element('span', { className: 'badge badge-warning', text: 'hidden' }) : null,
      ]),
      element('div', { className: 'cluster' }, ['keep', 'blur', 'remove'].map((decision) => button(
        decision[0].toUpperCase() + decision.slice(1),
        (event) => this.app.busy(event.target, async () => {
          await this.app.api.moderate(target, variant(decision));
          item.remove();
          this.app.toast(`Decided: ${decision}.`);
        }),
        { className: decision === 'remove' ? 'btn-sm btn-danger' : 'btn-sm', attrs: { 'data-decision': decision } },
      ))),
    ]);
    return item;
  }
}
