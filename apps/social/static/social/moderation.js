// The moderators' queue: reports by status (open first), each with what was reported
// (the post's or comment's text, the person, organisation, job or recommendation) and
// why, and its actions: resolve or dismiss with a note, or delete the reported post or
// comment (the existing delete calls, which moderators may make) and resolve. The tab
// shows only when `is_moderator()` says so; the canister checks every call anyway.

import { $, $$, element, opt, plural, tagOf, timeElement, unopt, variant } from './dom.js';

const PAGE = 20;
const COMMENT_PAGE = 50;

export class Moderation {
  constructor(app) {
    this.app = app;
    this.status = 'open';
    this.cursor = null;
  }

  get api() { return this.app.api; }

  bind() {
    for (const choice of $$('[data-report-status]')) {
      choice.addEventListener('click', () => {
        this.status = choice.dataset.reportStatus;
        for (const other of $$('[data-report-status]')) other.setAttribute('aria-pressed', String(other === choice));
        this.app.guard(() => this.load(true));
      });
    }
    $('#reports-more').addEventListener('click', () => this.app.guard(() => this.load(false)));
  }

  // Show the Moderation tab to moderators only.
  async detect() {
    $('#moderation-tab').hidden = !(await this.api.is_moderator());
  }

  async open() {
    await this.load(true);
  }

  async load(reset) {
    const section = $('#moderation');
    section.dataset.ready = 'false';
    if (reset) this.cursor = null;
    const page = await this.api.report_queue(variant(this.status), opt(this.cursor), PAGE);
    const reporters = await this.api.people_cards([...new Map(page.reports.map((r) => [r.reporter.toText(), r.reporter])).values()]);
    const byPrincipal = new Map(reporters.map((p) => [p.user.toText(), p]));
    const items = page.reports.map((r) => this.reportItem(r, byPrincipal.get(r.reporter.toText())));
    const list = $('#report-list');
    if (reset) list.replaceChildren(...items); else list.append(...items);
    this.cursor = unopt(page.next);
    $('#reports-more').hidden = this.cursor === null;
    $('#reports-empty').hidden = list.children.length > 0;
    $('#reports-empty').textContent = `No ${this.status} reports.`;
    section.dataset.ready = 'true';
  }

  reportItem(report, reporter) {
    const status = tagOf(report.status);
    const target = element('div', { className: 'report-target stack-sm' }, [
      element('p', { className: 'small muted', text: `loading ${report.kind} ${report.target_id}…` }),
    ]);
    const li = element('li', {
      className: 'card report stack-sm',
      attrs: { 'data-report': String(report.id), 'data-kind': report.kind, 'data-target': report.target_id, 'data-status': status },
    }, [
      element('div', { className: 'cluster report-head' }, [
        element('span', { className: 'badge badge-warning', text: report.kind }),
        element('span', { className: 'small' }, [
          'reported by ', reporter ? element('a', { text: `@${reporter.handle}`, attrs: { href: `#profile=${reporter.user.toText()}` } }) : report.reporter.toText(),
          ' · ', timeElement(report.created_at),
        ]),
      ]),
      element('p', { className: 'report-reason prewrap' }, [element('strong', { text: 'Why: ' }), report.reason]),
      target,
    ]);
    if (status !== 'open') {
      li.append(element('p', { className: 'small muted report-note', text: `${status}${report.note ? `: ${report.note}` : ''}` }));
    }
    this.app.guard(() => this.showTarget(report, target, li));
    return li;
  }

  // What was reported, fetched by kind; for an open report, the actions that fit it.
  async showTarget(report, box, li) {
    const open = tagOf(report.status) === 'open';
    let remove = null;   // deletes the reported post or comment, when it is still there
    let shown;
    try {
      if (report.kind === 'post') {
        const post = await this.api.get_post(BigInt(report.target_id));
        shown = this.quote(post.author, post.text, `#post ${post.id}`, post.images.length);
        remove = { label: 'Delete post', work: () => this.api.delete_post(post.id) };
      } else if (report.kind === 'comment') {
        const postId = await this.api.comment_post(BigInt(report.target_id));
        const comment = await this.findComment(postId, BigInt(report.target_id));
        if (!comment || comment.deleted) throw new Error('the comment is gone');
        shown = this.quote(comment.author, comment.text, `comment on post ${postId}`, 0);
        remove = { label: 'Delete comment', work: () => this.api.delete_comment(postId, comment.id) };
      } else if (report.kind === 'user') {
        const view = unopt(await this.api.profile(report.target_id));
        if (!view) throw new Error('no such profile');
        shown = this.app.personLink({ ...view, degree: 0 });
      } else if (report.kind === 'org') {
        const view = unopt(await this.api.org(BigInt(report.target_id)));
        if (!view) throw new Error('no such organisation');
        shown = element('a', { text: view.org.name, attrs: { href: `#org=${view.org.id}` } });
      } else if (report.kind === 'job') {
        const view = unopt(await this.api.job(BigInt(report.target_id)));
        if (!view) throw new Error('no such job');
        shown = element('a', { text: `${view.job.title} · ${view.org_name}`, attrs: { href: `#job=${view.job.id}` } });
      } else {
        shown = element('p', { className: 'small', text: `${report.kind} ${report.target_id}` });
      }
    } catch (error) {
      shown = element('p', { className: 'small muted', text: `${report.kind} ${report.target_id} is no longer there (deleted, or hidden from you).` });
    }
    box.replaceChildren(shown);
    if (open) li.append(this.resolveForm(report, li, remove));
  }

  quote(author, text, where, images) {
    const handle = unopt(author.handle) || author.principal.toText();
    return element('blockquote', { className: 'reported' }, [
      element('p', { className: 'small muted' }, [
        element('a', { text: `@${handle}`, attrs: { href: `#profile=${author.principal.toText()}` } }), ` · ${where}`,
        images ? ` · ${plural(images, 'picture')}` : '',
      ]),
      element('p', { className: 'prewrap', text: text || '(no text)' }),
    ]);
  }

  // A comment by id: among the post's top-level comments, then among their replies.
  async findComment(postId, commentId) {
    const top = (await this.api.post_comments(postId, [], COMMENT_PAGE)).comments;
    const hit = top.find((c) => c.id === commentId);
    if (hit) return hit;
    for (const thread of top.filter((c) => c.reply_count > 0)) {
      const replies = (await this.api.comment_replies(postId, thread.id, [], COMMENT_PAGE)).comments;
      const reply = replies.find((c) => c.id === commentId);
      if (reply) return reply;
    }
    return null;
  }

  resolveForm(report, li, remove) {
    const note = element('input', { attrs: { name: 'note', maxlength: 1000, placeholder: 'Note (optional)', 'aria-label': 'Moderator note', autocomplete: 'off' } });
    const form = element('form', { className: 'form-row resolve-form' });
    const finish = async (status, fallback) => {
      const done = await this.api.resolve_report(report.id, variant(status), note.value || fallback);
      this.app.toast(`Report ${report.id} ${tagOf(done.status)}.`);
      li.remove();  // only open reports have this form, and the open queue is shown
      $('#reports-empty').hidden = $('#report-list').children.length > 0;
    };
    const act = (label, className) => element('button', { className, text: label, attrs: { type: 'button', 'data-action': label } });
    const buttons = [
      remove ? act(remove.label, 'btn-sm btn-danger') : null,
      act('Resolve', 'btn-sm btn-primary'),
      act('Dismiss', 'btn-sm btn-ghost'),
    ].filter(Boolean);
    for (const b of buttons) {
      b.addEventListener('click', () => this.app.busy(form, async () => {
        if (remove && b.dataset.action === remove.label) {
          await remove.work();
          await finish('resolved', `${report.kind} deleted`);
        } else {
          await finish(b.dataset.action === 'Resolve' ? 'resolved' : 'dismissed', '');
        }
      }));
    }
    form.addEventListener('submit', (event) => event.preventDefault());
    form.append(note, ...buttons);
    return form;
  }
}
