// The thread panel of the chat page: one thread (its root and replies) next to the room,
// live, with its own compose form (docs/chat.md "Threads").
//
// Replies come from `thread` pages and, live, as `message` events with `thread_root`
// set (the page routes them here); the root's `edited` event carries the new reply count.
// Opening the panel, and each reply seen while it is open, moves the user's read marker
// in the thread (`mark_thread_read`), which clears the thread's unread count.

const PAGE = 100;

export class ThreadPanel {
  // `page`: the ChatPage (its actor, keys and message rendering).
  constructor(page) {
    this.page = page;
    this.roomId = null;
    this.root = null;
    this.replies = new Map();     // reply id (string) -> MessageView
    this.box = document.querySelector('#thread-panel');
    this.list = document.querySelector('#thread-replies');
    this.form = document.querySelector('#thread-compose');
    this.form.addEventListener('submit', (event) => { event.preventDefault(); this.send(); });
    this.form.text.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); this.send(); }
    });
    document.querySelector('#thread-close').addEventListener('click', () => this.close());
  }

  isOpen(roomId, rootId) {
    return this.root !== null && this.roomId === roomId && (rootId === undefined || this.root.id === rootId);
  }

  async open(root) {
    this.roomId = root.room_id;
    this.root = root;
    this.replies = new Map();
    this.list.replaceChildren();
    this.box.hidden = false;
    this.box.dataset.rootId = String(root.id);
    this.box.dataset.ready = 'false';
    this.renderRoot();
    const page = await this.page.chat.thread(root.room_id, root.id, [], PAGE);
    if (!this.isOpen(root.room_id, root.id)) return;
    this.root = page.root;
    this.renderRoot();
    for (const reply of page.replies) this.upsert(reply);
    await this.markRead();
    this.box.dataset.ready = 'true';
    this.form.text.focus();
  }

  close() {
    this.root = null;
    this.roomId = null;
    this.box.hidden = true;
    this.list.replaceChildren();
  }

  renderRoot() {
    const holder = document.querySelector('#thread-root');
    holder.replaceChildren(this.page.renderMessage(this.root, { inThread: true }));
    const count = this.root.thread.length ? this.root.thread[0].reply_count : 0;
    document.querySelector('#thread-count').textContent = `${count} ${count === 1 ? 'reply' : 'replies'}`;
  }

  // A reply (new, changed or from a page): shown in id order.
  upsert(reply) {
    const shown = this.replies.get(String(reply.id));
    if (shown && shown.seq > reply.seq) return;
    this.replies.set(String(reply.id), reply);
    if (reply.sealed.length) this.page.revealOnce(reply);
    const node = this.page.renderMessage(reply, { inThread: true });
    const existing = this.list.querySelector(`li[data-message-id="${reply.id}"]`);
    if (existing) { existing.replaceWith(node); return; }
    const after = [...this.list.children].find((li) => BigInt(li.dataset.messageId) > reply.id);
    this.list.insertBefore(node, after || null);
    node.scrollIntoView({ block: 'nearest' });
  }

  // Events of the open room that concern threads.
  onReply(reply) {
    if (!this.isOpen(reply.room_id, reply.thread_root[0])) return;
    this.upsert(reply);
    if (document.visibilityState === 'visible') this.markRead();
  }

  onRoot(root) {
    if (this.isOpen(root.room_id, root.id)) { this.root = root; this.renderRoot(); }
  }

  onDeleted(roomId, messageId) {
    if (!this.isOpen(roomId)) return;
    this.replies.delete(String(messageId));
    const node = this.list.querySelector(`li[data-message-id="${messageId}"]`);
    if (node) node.remove();
  }

  async markRead() {
    let last = 0n;
    for (const reply of this.replies.values()) if (reply.id > last) last = reply.id;
    if (last === 0n || !this.root) return;
    await this.page.chat.mark_thread_read(this.roomId, this.root.id, last).catch(() => {});
    this.page.threadRead(this.roomId, this.root.id);
  }

  send() {
    const text = this.form.text.value;
    if (!text.trim() || !this.root) return;
    const { roomId, root } = this;
    this.page.run(async () => {
      const reply = this.page.isSealedRoom(roomId)
        ? await this.page.chat.send_sealed_thread_reply(roomId, root.id, await this.page.keys.seal(roomId, text))
        : await this.page.chat.send_thread_reply(roomId, root.id, text);
      this.form.text.value = '';
      if (this.isOpen(roomId, root.id)) this.upsert(reply);
    });
  }
}
