// The comments drawer of a video: threads (top-level comments, their replies on demand),
// like / unlike a comment, reply, delete your own (the video's creator and moderators may
// delete any), and the next page as asked. It reloads when the video's live counter says
// the comments changed.

import {
  $, button, captionText, compact, element, opt, timeElement, unopt,
} from './dom.js';

const itemsOf = (page) => page.items;

export class Comments {
  constructor(app) {
    this.app = app;
    this.videoId = null;
    this.next = null;
    this.parent = null;
  }

  bind() {
    const form = $('#comment-form');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.app.busy(form, () => this.post(form));
    });
    $('#comments-close').addEventListener('click', () => this.close());
    $('#comments-more').addEventListener('click', () => this.app.guard(() => this.more()));
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !$('#comments').hidden) this.close();
    });
  }

  async open(videoId) {
    this.videoId = videoId;
    const drawer = $('#comments');
    drawer.dataset.video = String(videoId);
    drawer.dataset.ready = 'false';
    drawer.hidden = false;
    this.replyTo(null);
    await this.reload();
    $('#comment-form').text.focus();
  }

  close() {
    $('#comments').hidden = true;
    this.videoId = null;
  }

  async reload() {
    if (this.videoId === null) return;
    const page = await this.app.api.comments(this.videoId, []);
    const items = itemsOf(page);
    $('#comment-list').replaceChildren(...items.map((c) => this.commentItem(c)));
    if (!items.length) $('#comment-list').append(element('li', { className: 'muted small empty', text: 'No comments yet: say something.' }));
    this.next = unopt(page.next);
    $('#comments-more').hidden = !this.next;
    $('#comments').dataset.ready = 'true';
  }

  async more() {
    const page = await this.app.api.comments(this.videoId, opt(this.next));
    $('#comment-list').append(...itemsOf(page).map((c) => this.commentItem(c)));
    this.next = unopt(page.next);
    $('#comments-more').hidden = !this.next;
  }

  replyTo(comment) {
    this.parent = comment ? comment.id : null;
    const note = $('#comment-replying');
    note.hidden = !comment;
    note.replaceChildren();
    if (comment) {
      note.append(`Replying to @${comment.author.handle} `, button('cancel', () => this.replyTo(null), { className: 'btn-link small' }));
      $('#comment-form').text.focus();
    }
  }

  async post(form) {
    await this.app.requireMe('comment');
    const text = form.text.value.trim();
    if (!text) return;
    await this.app.api.comment(this.videoId, opt(this.parent), text);
    form.text.value = '';
    const parent = this.parent;
    this.replyTo(null);
    await this.reload();
    if (parent !== null) {
      const item = $(`#comment-list li[data-comment="${parent}"]`);
      if (item) await this.showReplies(item, parent);
    }
    await this.app.reels.refresh(this.videoId);
  }

  commentItem(comment) {
    const who = comment.author.handle;
    const replies = Number(comment.replies);
    const liked = Boolean(comment.liked_by_me);
    const id = String(comment.id);
    const item = element('li', { className: 'row comment', attrs: { 'data-comment': id } }, [
      element('div', { className: 'list-main' }, [
        element('span', { className: 'list-title' }, [
          element('a', { text: `@${who}`, attrs: { href: `#u=${encodeURIComponent(who)}` } }),
          ' ', timeElement(comment.created_at),
        ]),
        captionText(comment.text, 'p', 'comment-text caption'),
        element('span', { className: 'cluster small comment-actions' }, [
          button(`${liked ? '♥' : '♡'} ${compact(comment.likes)}`, (event) => this.app.busy(event.target, async () => {
            await this.app.requireMe('like comments');
            if (liked) await this.app.api.unlike_comment(comment.id);
            else await this.app.api.like_comment(comment.id);
            await this.reload();
          }), { className: 'btn-link comment-like', attrs: { 'aria-pressed': String(liked), 'aria-label': liked ? 'Unlike comment' : 'Like comment' } }),
          unopt(comment.parent) !== null ? null
            : button('Reply', () => this.replyTo(comment), { className: 'btn-link' }),
          replies ? button(`${replies} ${replies === 1 ? 'reply' : 'replies'}`, () => this.app.guard(() => this.showReplies(item, comment.id)), { className: 'btn-link comment-replies' }) : null,
          comment.can_delete ? button('Delete', (event) => this.app.busy(event.target, async () => {
            await this.app.api.delete_comment(comment.id);
            await this.reload();
            await this.app.reels.refresh(this.videoId);
          }), { className: 'btn-link comment-delete' }) : null,
        ]),
      ]),
    ]);
    return item;
  }

  async showReplies(item, commentId) {
    let list = item.querySelector('ol.replies');
    if (!list) {
      list = element('ol', { className: 'list replies' });
      item.append(list);
    }
    const page = await this.app.api.replies(commentId, []);
    list.replaceChildren(...itemsOf(page).map((c) => this.commentItem(c)));
  }
}
