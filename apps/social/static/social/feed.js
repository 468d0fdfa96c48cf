// The feed section: the composer (text, a picture uploaded in chunks with progress,
// #hashtags and @mentions), the home feed newest-first or "top" with each item's score
// parts shown, hashtag pages, and each post's reactions, threaded comments (with their
// own reactions, edited and deleted by their authors), reposts with a comment, edit and
// delete, and reports.

import {
  $, $$, avatar, button, element, opt, plural, richText, tagOf, timeElement, unopt, variant,
} from './dom.js';

const FEED_PAGE = 20;
const COMMENT_PAGE = 50;
const REACTIONS = [
  ['like', '👍', 'Like'], ['celebrate', '👏', 'Celebrate'], ['support', '🤝', 'Support'],
  ['insightful', '💡', 'Insightful'], ['curious', '🤔', 'Curious'], ['love', '❤️', 'Love'],
];
const EMOJI = Object.fromEntries(REACTIONS.map(([kind, emoji]) => [kind, emoji]));
const REASON = {
  you: 'your post', connection: 'from your network', following: 'you follow the author',
  organisation: 'an organisation you follow', hashtag: 'a hashtag you follow', group: 'from your group',
};

export class Feed {
  constructor(app) {
    this.app = app;
    this.order = 'newest';
    this.tag = null;          // the hashtag page shown, or null for the home feed
    this.cursor = null;
  }

  get api() { return this.app.api; }

  bind() {
    this.app.onSubmit('#composer', (form) => this.app.busy(form, () => this.post(form)));
    $('#composer [name=image]').addEventListener('change', (event) => {
      const file = event.target.files[0];
      $('#composer-file').textContent = file ? `${file.name} (${Math.ceil(file.size / 1024)} KiB)` : '';
    });
    for (const choice of $$('[data-order]')) {
      choice.addEventListener('click', () => {
        this.order = choice.dataset.order;
        for (const other of $$('[data-order]')) other.setAttribute('aria-pressed', String(other === choice));
        this.app.guard(() => this.load(true));
      });
    }
    $('#feed-more').addEventListener('click', () => this.app.guard(() => this.load(false)));
    $('#feed-home').addEventListener('click', () => { location.hash = ''; this.app.open('feed'); });
    $('#tag-follow').addEventListener('click', (event) => this.app.busy(event.currentTarget, async () => {
      const following = $('#tag-follow').getAttribute('aria-pressed') === 'true';
      this.showTag(following ? await this.api.unfollow_hashtag(this.tag) : await this.api.follow_hashtag(this.tag));
    }));
  }

  async open(arg) {
    this.tag = arg && arg.tag ? arg.tag : null;
    this.renderSide();
    await Promise.all([this.load(true), this.app.people.sidePymk()]);
  }

  renderSide() {
    const me = this.app.me;
    $('#side-me').replaceChildren(
      this.app.personLink({ ...me, degree: 0 }),
      button('Edit profile', () => { location.hash = ''; this.app.open('profile').then(() => this.app.people.edit()); }),
    );
  }

  // The first page (reset) or the next one, of the home feed or the hashtag page.
  async load(reset) {
    if (reset) this.cursor = null;
    const list = $('#posts');
    let items;
    let next;
    $('#feed-home').hidden = this.tag === null;
    $('#tag-follow').hidden = this.tag === null;
    if (this.tag !== null) {
      if (reset) this.showTag(await this.api.hashtag(this.tag));
      const page = await this.api.hashtag_posts(this.tag, opt(this.cursor), FEED_PAGE);
      items = page.posts.map((post) => ({ post, reason: '', score: [] }));
      next = unopt(page.next_cursor);
    } else {
      const page = await this.api.home_feed(variant(this.order), opt(this.cursor), FEED_PAGE);
      $('#feed-title').textContent = 'Home feed';
      items = page.items;
      next = unopt(page.next_cursor);
    }
    const nodes = items.map((item) => this.postItem(item.post, item));
    if (reset) list.replaceChildren(...nodes); else list.append(...nodes);
    this.cursor = next;
    $('#feed-more').hidden = next === null;
    $('#feed-empty').hidden = list.children.length > 0;
    $('#score-help').hidden = this.order !== 'top' || this.tag !== null;
    $('#score-help').textContent = 'Top: score = (1 + reactions + 2 × comments) × affinity × 1,000,000 ÷ (age in hours + 2)² — affinity 4 for you and your connections, 2 for 2nd degree, 1 otherwise.';
    $('#feed').dataset.ready = 'true';
  }

  // The hashtag page's follow button and post count.
  showTag(view) {
    const follow = $('#tag-follow');
    follow.textContent = view.following ? `Following #${view.tag}` : `Follow #${view.tag}`;
    follow.setAttribute('aria-pressed', String(view.following));
    $('#feed-title').textContent = `#${view.tag} · ${plural(view.post_count, 'post')}`;
  }

  async post(form) {
    const file = form.image.files[0];
    const imageIds = file ? [await this.uploadImage(file, $('#composer-progress'))] : [];
    const view = await this.api.create_post({
      text: form.text.value, image_ids: imageIds, audience: variant('public'), org_id: [], group_id: [],
    });
    form.reset();
    $('#composer-file').textContent = '';
    this.app.toast('Posted.');
    $('#posts').prepend(this.postItem(view, { reason: 'you', score: [] }));
    $('#feed-empty').hidden = true;
    return view;
  }

  uploadImage(file, progress) {
    return this.app.upload(file, progress, {
      begin: (type, size) => this.api.begin_post_image(type, size),
      chunk: (id, n, bytes) => this.api.upload_post_image_chunk(id, n, bytes),
      finish: (id) => this.api.commit_post_image(id),
    });
  }

  // A post as a list item: author, text with tag and mention links, pictures, the
  // reposted post, score parts, and its actions.
  postItem(post, item) {
    const author = post.author;
    const handle = unopt(author.handle) || author.principal.toText();
    const node = element('li', { className: 'card post', attrs: { 'data-post': String(post.id) } });
    const head = element('div', { className: 'post-head' }, [
      avatar(handle, null, 'avatar-sm'),
      element('div', { className: 'post-by' }, [
        element('a', { className: 'post-author', text: `@${handle}`, attrs: { href: `#profile=${author.principal.toText()}` } }),
        element('span', { className: 'small muted' }, [
          timeElement(post.created_at),
          unopt(post.edited_at) !== null ? ' · edited' : '',
          item && item.reason ? ` · ${REASON[item.reason] || item.reason}` : '',
        ]),
      ]),
    ]);
    node.append(head);
    node.append(this.body(post));
    const original = unopt(post.repost_of);
    if (original) node.append(element('blockquote', { className: 'repost' }, [this.postItem(original, null)]));
    else if (unopt(post.repost_id) !== null) node.append(element('p', { className: 'small muted', text: 'The reposted post is not available.' }));
    const score = item ? unopt(item.score) : null;
    if (score) node.append(this.scoreLine(score));
    node.append(this.actions(post, node));
    return node;
  }

  body(post) {
    const out = element('div', { className: 'post-body' });
    if (post.text) {
      out.append(richText(post.text, {
        onTag: (tag) => { location.hash = `tag=${encodeURIComponent(tag)}`; },
        onHandle: (h) => this.app.openProfileByHandle(h),
      }));
    }
    for (const path of post.images) {
      out.append(element('img', { className: 'post-image', attrs: { src: this.app.imageUrl(path), alt: 'picture in the post', loading: 'lazy' } }));
    }
    return out;
  }

  scoreLine(score) {
    return element('p', { className: 'score small muted', attrs: { 'data-score': String(score.score) } }, [
      element('strong', { text: `score ${score.score}` }),
      ` = (1 + ${score.reactions} reactions + 2 × ${score.comments} comments) × affinity ${score.affinity}`
        + ` (${score.degree === 0 ? 'you' : `degree ${score.degree}`}) × 1,000,000 ÷ (${score.age_hours} h + 2)²`,
    ]);
  }

  reactionSummary(post) {
    const total = post.reactions.reduce((n, r) => n + Number(r.count), 0);
    if (!total) return '';
    return post.reactions.map((r) => `${EMOJI[tagOf(r.kind)]} ${r.count}`).join(' ');
  }

  actions(post, node) {
    const mine = post.author.principal.toText() === this.app.principal.toText();
    const summary = element('span', { className: 'small reactions', text: this.reactionSummary(post) });
    const current = unopt(post.my_reaction);
    const picker = element('div', { className: 'cluster reaction-picker', attrs: { role: 'group', 'aria-label': 'React' } },
      REACTIONS.map(([kind, emoji, label]) => {
        const pressed = current !== null && tagOf(current) === kind;
        const b = button(emoji, () => this.app.busy(b, async () => {
          const updated = await this.api.react(post.id, pressed ? [] : [variant(kind)]);
          node.replaceWith(this.postItem(updated, null));
        }), { className: 'btn-sm btn-ghost', attrs: { 'aria-label': label, 'aria-pressed': String(pressed), title: label } });
        return b;
      }));
    const comments = element('div', { className: 'comments stack-sm', attrs: { hidden: true } });
    const bar = element('div', { className: 'cluster post-actions' }, [
      picker, summary,
      button(`💬 ${plural(post.comment_count, 'comment')}`, () => this.toggleComments(post, comments), { className: 'btn-sm btn-ghost toggle-comments' }),
      button(`🔁 Repost${post.repost_count ? ` (${post.repost_count})` : ''}`, () => this.repostForm(post, node), { className: 'btn-sm btn-ghost' }),
      mine ? button('Edit', () => this.editForm(post, node), { className: 'btn-sm btn-ghost' }) : null,
      mine ? button('Delete', () => this.app.busy(node, async () => {
        await this.api.delete_post(post.id);
        node.remove();
      }), { className: 'btn-sm btn-ghost' }) : null,
      mine ? null : button('Report', () => this.reportForm((reason) => this.api.report_post(post.id, reason), node), { className: 'btn-sm btn-ghost' }),
    ]);
    return element('div', { className: 'stack-sm' }, [bar, comments]);
  }

  // -- comments ---------------------------------------------------------------------------

  async toggleComments(post, box) {
    if (!box.hidden) { box.hidden = true; return; }
    box.hidden = false;
    await this.app.guard(() => this.loadComments(post, box));
  }

  // Top-level comments oldest first, each with its replies (one level of threads).
  async loadComments(post, box) {
    const page = await this.api.post_comments(post.id, [], COMMENT_PAGE);
    const threads = await Promise.all(page.comments.map(async (c) => {
      const replies = c.reply_count > 0
        ? (await this.api.comment_replies(post.id, c.id, [], COMMENT_PAGE)).comments : [];
      const nested = element('ol', { className: 'comment-list replies' },
        replies.map((r) => this.commentItem(post, r, box, null)));
      return this.commentItem(post, c, box, nested);
    }));
    box.replaceChildren(element('ol', { className: 'comment-list' }, threads), this.commentForm(post, null, box));
  }

  commentItem(post, comment, box, replies) {
    const handle = unopt(comment.author.handle) || comment.author.principal.toText();
    const item = element('li', { className: 'comment', attrs: { 'data-comment': String(comment.id) } });
    if (comment.deleted) {
      item.append(element('p', { className: 'small muted', text: 'This comment was deleted.' }));
      if (replies) item.append(replies);
      return item;
    }
    const current = unopt(comment.my_reaction);
    const likes = comment.reactions.reduce((n, r) => n + Number(r.count), 0);
    const like = button(`👍${likes ? ` ${likes}` : ''}`, () => this.app.busy(like, async () => {
      await this.api.react_to_comment(post.id, comment.id, current !== null ? [] : [variant('like')]);
      await this.loadComments(post, box);
    }), { className: 'btn-sm btn-ghost', attrs: { 'aria-pressed': String(current !== null), 'aria-label': 'Like this comment' } });
    const reply = element('div', { attrs: { hidden: true } });
    const topLevel = unopt(comment.parent_id) === null;
    const mine = comment.author.principal.toText() === this.app.principal.toText();
    const actions = element('div', { className: 'cluster' }, [
      like,
      topLevel && button('Reply', () => {
        reply.hidden = !reply.hidden;
        if (!reply.hidden) {
          reply.replaceChildren(this.commentForm(post, comment.id, box));
          $('textarea', reply).focus();
        }
      }, { className: 'btn-sm btn-ghost' }),
      mine && button('Edit', () => this.editCommentForm(post, comment, item, box), { className: 'btn-sm btn-ghost edit-comment' }),
      mine
        ? button('Delete', () => this.app.busy(item, async () => {
          await this.api.delete_comment(post.id, comment.id);
          await this.loadComments(post, box);
        }), { className: 'btn-sm btn-ghost' })
        : button('Report', () => this.reportForm((reason) => this.api.report_comment(post.id, comment.id, reason), item), { className: 'btn-sm btn-ghost' }),
    ]);
    item.append(
      element('div', { className: 'comment-head small' }, [
        element('a', { text: `@${handle}`, attrs: { href: `#profile=${comment.author.principal.toText()}` } }), ' · ', timeElement(comment.created_at),
        unopt(comment.edited_at) !== null ? element('span', { className: 'muted comment-edited', text: ' · edited' }) : null,
      ]),
      richText(comment.text, { onHandle: (h) => this.app.openProfileByHandle(h) }),
      actions, reply,
    );
    if (replies) item.append(replies);
    return item;
  }

  commentForm(post, parentId, box) {
    const form = element('form', { className: 'form-row comment-form' }, [
      element('textarea', { attrs: { name: 'text', rows: 1, maxlength: 1500, required: true, placeholder: parentId === null ? 'Add a comment' : 'Reply', 'aria-label': parentId === null ? 'Comment' : 'Reply' } }),
      element('button', { text: parentId === null ? 'Comment' : 'Reply', attrs: { type: 'submit' } }),
    ]);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.app.busy(form, async () => {
        await this.api.add_comment(post.id, opt(parentId), form.text.value);
        await this.loadComments(post, box);
        const counter = $(`[data-post="${post.id}"] .toggle-comments`);
        if (counter) counter.textContent = `💬 ${plural($$('.comment', box).length, 'comment')}`;
      });
    });
    return form;
  }

  // -- repost, edit, report ------------------------------------------------------------------

  inlineForm(node, fields, submitText, onSubmit) {
    for (const old of $$(':scope > form.inline', node)) old.remove();
    const form = element('form', { className: 'stack-sm inline panel' }, [
      ...fields,
      element('div', { className: 'cluster' }, [
        element('button', { text: submitText, attrs: { type: 'submit' } }),
        button('Cancel', () => form.remove(), { className: 'btn-ghost' }),
      ]),
    ]);
    form.addEventListener('submit', (event) => { event.preventDefault(); this.app.busy(form, () => onSubmit(form)); });
    node.append(form);
    $('textarea, input', form).focus();
    return form;
  }

  repostForm(post, node) {
    this.inlineForm(node, [
      element('textarea', { attrs: { name: 'text', rows: 2, maxlength: 3000, placeholder: 'Add your thoughts (optional)', 'aria-label': 'Repost comment' } }),
    ], 'Repost', async (form) => {
      const view = await this.api.repost(post.id, form.text.value, variant('public'));
      form.remove();
      this.app.toast('Reposted.');
      $('#posts').prepend(this.postItem(view, { reason: 'you', score: [] }));
    });
  }

  editForm(post, node) {
    const area = element('textarea', { attrs: { name: 'text', rows: 3, maxlength: 3000, 'aria-label': 'Post text' } });
    area.value = post.text;
    this.inlineForm(node, [area], 'Save', async () => {
      const view = await this.api.edit_post(post.id, area.value);
      node.replaceWith(this.postItem(view, null));
    });
  }

  // The author's own comment, edited in place; the thread reloads with the new text.
  editCommentForm(post, comment, item, box) {
    const area = element('textarea', { attrs: { name: 'text', rows: 2, maxlength: 1500, required: true, 'aria-label': 'Comment text' } });
    area.value = comment.text;
    this.inlineForm(item, [area], 'Save', async () => {
      await this.api.edit_comment(post.id, comment.id, area.value);
      await this.loadComments(post, box);
    });
  }

  // An inline form asking for a reason, then `send(reason)`.
  reportForm(send, node) {
    this.inlineForm(node, [
      element('input', { attrs: { name: 'reason', required: true, maxlength: 500, placeholder: 'What is wrong?', 'aria-label': 'Reason for the report' } }),
    ], 'Report', async (form) => {
      await send(form.reason.value);
      form.remove();
      this.app.toast('Reported to the moderators.');
    });
  }

  // A single post (from a notification).
  async openPost(postId) {
    await this.app.open('feed');
    await this.app.guard(async () => {
      const post = await this.api.get_post(postId);
      const item = this.postItem(post, null);
      $('#posts').prepend(item);
      const comments = $('.comments', item);
      await this.toggleComments(post, comments);
      item.scrollIntoView({ block: 'start' });
    });
  }

  // Posts of one author, an organisation or a group, compact.
  async postsInto(list, page) {
    list.replaceChildren(...page.posts.map((p) => this.postItem(p, null)));
    if (!page.posts.length) list.append(element('li', { className: 'muted small', text: 'No posts yet.' }));
  }
}
