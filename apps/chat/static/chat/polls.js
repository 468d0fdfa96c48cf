// Polls and disappearing messages on the chat page.
//
// A poll is drawn under its message from the `PollView` the canister sends (counts, and
// the voters unless it is anonymous); voting calls `vote` and shows the answer, and the
// `edited` events that follow bring everyone's counts (docs/chat.md "Polls"). An event
// view carries no `mine`, so the page keeps the choices this browser made. The poll form
// (question, 2–10 options, multiple choice, anonymous, closing time) calls `create_poll`.
//
// Disappearing messages: the room header's select sets the room's time-to-live
// (`set_room_ttl`, owners and admins of a group, either user of a direct room) and shows
// the current one; a message that expired is hidden (its `expired` flag, or a `deleted`
// event the canister itself sent).

const opt = (value) => (value === undefined || value === null ? [] : [value]);
const NS_PER_SECOND = 1_000_000_000n;

function node(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

export class Polls {
  constructor(page) {
    this.page = page;
    this.mine = new Map();        // "room:message" -> choices (numbers) this browser voted
  }

  // Wire the poll form and the time-to-live select of the page.
  bind() {
    const form = document.querySelector('#poll-form');
    document.querySelector('#open-poll').addEventListener('click', () => {
      form.hidden = !form.hidden;
      if (!form.hidden) form.question.focus();
    });
    document.querySelector('#poll-cancel').addEventListener('click', () => { form.reset(); form.hidden = true; });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const roomId = this.page.roomId;
      if (roomId === null) return;
      const options = form.options.value.split('\n').map((line) => line.trim()).filter(Boolean);
      const minutes = form.closes.value ? BigInt(form.closes.value) : null;
      const closesAt = minutes === null ? null : BigInt(Date.now()) * 1_000_000n + minutes * 60n * NS_PER_SECOND;
      this.page.run(async () => {
        const view = await this.page.chat.create_poll(roomId, {
          question: form.question.value,
          options,
          multiple: form.multiple.checked,
          anonymous: form.anonymous.checked,
          closes_at: opt(closesAt),
        });
        form.reset();
        form.hidden = true;
        if (view.room_id === this.page.roomId) this.page.upsert(view);
      });
    });
    document.querySelector('#room-ttl').addEventListener('change', (event) => {
      const roomId = this.page.roomId;
      const value = event.target.value;
      if (roomId === null) return;
      this.page.run(async () => {
        await this.page.chat.set_room_ttl(roomId, value ? [BigInt(value) * NS_PER_SECOND] : []);
        this.page.notify(value ? 'New messages in this room now disappear.' : 'New messages in this room now stay.');
      });
    });
  }

  // Show the open room's time-to-live in the header; only those who may change it can.
  showTtl(view, mayChange) {
    const select = document.querySelector('#room-ttl');
    const box = document.querySelector('#room-ttl-box');
    if (!view) { box.hidden = true; return; }
    const ttl = view.room.ttl_ns && view.room.ttl_ns.length ? view.room.ttl_ns[0] : null;
    const seconds = ttl === null ? '' : String(ttl / NS_PER_SECOND);
    if (![...select.options].some((option) => option.value === seconds)) {
      select.append(node('option', '', `after ${seconds} s`));
      select.lastChild.value = seconds;
    }
    select.value = seconds;
    select.disabled = !mayChange;
    box.hidden = false;
    box.dataset.ttl = seconds;
  }

  // The poll of ``message`` as nodes to append to it (empty when it has none).
  nodes(message) {
    const poll = message.poll && message.poll.length ? message.poll[0] : null;
    if (!poll || message.deleted) return [];
    const key = `${message.room_id}:${message.id}`;
    if (poll.mine.length) this.mine.set(key, poll.mine.map(Number));
    const mine = new Set(this.mine.get(key) || []);
    const closesAt = poll.closes_at.length ? new Date(Number(poll.closes_at[0] / 1_000_000n)) : null;
    const closed = poll.closed || (closesAt !== null && closesAt <= new Date());
    const box = node('div', closed ? 'poll closed' : 'poll');
    box.dataset.voters = String(poll.voters);
    const total = poll.options.reduce((sum, option) => sum + option.votes, 0);
    const list = node('ol', 'poll-options');
    poll.options.forEach((option, index) => {
      const share = total ? Math.round((100 * option.votes) / total) : 0;
      const row = node('li', mine.has(index) ? 'poll-option mine' : 'poll-option');
      row.dataset.votes = String(option.votes);
      const choose = node('button', 'poll-choose', option.label);
      choose.type = 'button';
      choose.disabled = closed;
      choose.setAttribute('aria-pressed', mine.has(index) ? 'true' : 'false');
      choose.addEventListener('click', () => this.vote(message, index, poll.multiple));
      const bar = node('span', 'poll-bar');
      bar.style.setProperty('--share', `${share}%`);
      row.append(choose, bar, node('span', 'poll-count', `${option.votes} · ${share}%`));
      if (option.voters.length) row.append(node('span', 'muted small poll-voters', option.voters.map((h) => `@${h}`).join(' ')));
      list.append(row);
    });
    const about = [poll.multiple ? 'multiple choice' : 'one choice', poll.anonymous ? 'anonymous' : 'voters shown',
      `${poll.voters} voted`];
    if (closed) about.push('closed');
    else if (closesAt) about.push(`closes ${closesAt.toLocaleString()}`);
    box.append(list, node('p', 'muted small poll-about', about.join(' · ')));
    if (!closed && (message.author.toText() === this.page.principal || this.page.isManager())) {
      const close = node('button', 'btn-sm btn-ghost poll-close', 'Close poll');
      close.type = 'button';
      close.addEventListener('click', () => this.page.run(async () => {
        await this.page.chat.close_poll(message.room_id, message.id);
      }));
      box.append(close);
    }
    return [box];
  }

  vote(message, index, multiple) {
    const key = `${message.room_id}:${message.id}`;
    const chosen = new Set(this.mine.get(key) || []);
    let next;
    if (multiple) {
      if (chosen.has(index)) chosen.delete(index); else chosen.add(index);
      next = [...chosen].sort((a, b) => a - b);
    } else {
      next = chosen.has(index) && chosen.size === 1 ? [] : [index];
    }
    this.page.run(async () => {
      const view = await this.page.chat.vote(message.room_id, message.id, next);
      this.mine.set(key, view.mine.map(Number));
      const shown = this.page.messages.get(String(message.id));
      if (shown) this.page.upsert({ ...shown, poll: [view] });
    });
  }
}

// Whether a `deleted` event is the canister erasing a message at its time-to-live.
export function expiredBy(event, canisterId) {
  return event.by.toText() === canisterId;
}

