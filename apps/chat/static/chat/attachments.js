// Attachments on the chat page: the compose tray that uploads files in chunks with a
// progress bar, and the media shown in messages.
//
// Picking files starts their uploads at once (docs/chat.md "Attachments"): each is
// announced with `begin_attachment`, its 1 MiB chunks go up four at a time with
// `put_attachment_chunk` while a <progress> fills, and `commit_attachment` checks it.
// Sending the message then ties the committed attachments to it (`send_attachments`);
// removing one from the tray cancels it. In messages, attachments are loaded from the
// canister's own origin (`config.canisterOrigin`, `<canister-id>.localhost`), never this
// page's: images are shown scaled by CSS (no thumbnail is made; the browser scales the
// original), video and audio play in the browser's own players, which fetch with Range
// requests, and files are links to download. Every text is set with DOM methods.
//
// In a direct room files are sealed end to end (e2e.js, docs/chat.md "Sealed
// attachments"): the page encrypts every chunk with the room's file key before it goes up
// (`begin_sealed_attachment`), and a typed caption goes as a sealed message of its own
// after the files (the canister stores attachment captions as text). To show one, the
// page fetches the ciphertext whole from the canister's origin, decrypts it in memory and
// shows it from a blob: URL, kept for the page's life; no Range requests (a sealed video
// plays once it has all arrived), which is why sealed files are limited to 20 MiB. The
// name, type and size of a sealed file stay visible to the canister.

import { PLAIN_CHUNK_BYTES, SEALED_CHUNK_BYTES, sealedChunkCount, sealedSize } from './e2e.js';

const PARALLEL = 4;
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

const formatSize = (bytes) => {
  const n = Number(bytes);
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
};

function node(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

// The compose tray: files being uploaded or ready to send with the next message.
export class AttachmentTray {
  constructor({ chat, roomId, list, onError, sealed, keys }) {
    this.chat = chat;
    this.roomId = roomId;          // () => BigInt of the open room, or null
    this.sealed = sealed;          // (room id) => whether files there are sealed end to end
    this.keys = keys;              // () => DirectKeys of the page
    this.list = list;              // the <ul> that shows the tray
    this.onError = onError;
    this.items = [];               // { file, id, state: 'uploading'|'ready'|'failed', row, bar }
  }

  // Upload each picked file for the open room; resolves when all are committed or failed.
  async add(files) {
    const roomId = this.roomId();
    if (roomId === null) return;
    await Promise.all([...files].map((file) => this.upload(roomId, file)));
  }

  async upload(roomId, file) {
    const item = { file, id: null, state: 'uploading', roomId };
    item.row = node('li', 'attachment-pending');
    item.row.dataset.state = 'uploading';
    item.bar = node('progress');
    item.bar.max = 1;
    item.bar.value = 0;
    const remove = node('button', 'btn-sm btn-ghost', '✕');
    remove.type = 'button';
    remove.title = `remove ${file.name}`;
    remove.addEventListener('click', () => this.remove(item));
    item.row.append(node('span', 'attachment-name', `📎 ${file.name}`),
      node('span', 'muted small', formatSize(file.size)), item.bar, remove);
    this.items.push(item);
    this.list.append(item.row);
    this.list.hidden = false;
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const type = file.type || 'application/octet-stream';
      const sealed = this.sealed(roomId);
      const ticket = sealed
        ? await this.chat.begin_sealed_attachment(roomId, file.name, type, BigInt(sealedSize(bytes.length)))
        : await this.chat.begin_attachment(roomId, file.name, type, BigInt(bytes.length));
      item.id = ticket.id;
      const chunkBytes = Number(ticket.chunk_bytes);
      let chunkAt = (index) => bytes.subarray(index * chunkBytes, (index + 1) * chunkBytes);
      if (sealed) {
        if (chunkBytes !== SEALED_CHUNK_BYTES || Number(ticket.chunks) !== sealedChunkCount(bytes.length)) {
          throw new Error(`the canister cuts files in ${chunkBytes}-byte chunks; this page seals ${SEALED_CHUNK_BYTES}-byte ones: reload the page`);
        }
        const chunks = await this.keys().sealFile(roomId, ticket.id, bytes);
        chunkAt = (index) => chunks[index];
      }
      const todo = [...Array(Number(ticket.chunks)).keys()];
      let done = 0;
      const send = async () => {
        while (todo.length && item.state === 'uploading') {
          const index = todo.shift();
          await this.chat.put_attachment_chunk(ticket.id, index, chunkAt(index));
          done += 1;
          item.bar.value = done / Number(ticket.chunks);
        }
      };
      await Promise.all(Array.from({ length: Math.min(PARALLEL, todo.length) }, send));
      if (item.state !== 'uploading') return;
      await this.chat.commit_attachment(ticket.id);
      item.state = 'ready';
      item.row.dataset.state = 'ready';
    } catch (error) {
      if (item.state === 'removed') return;
      item.state = 'failed';
      item.row.dataset.state = 'failed';
      this.onError(error);
    }
  }

  remove(item) {
    item.state = 'removed';
    item.row.remove();
    this.items = this.items.filter((other) => other !== item);
    this.list.hidden = this.items.length === 0;
    if (item.id !== null) this.chat.cancel_attachment(item.id).catch(() => {});
  }

  // Whether the next message carries attachments (all committed: none still uploading).
  hasFiles() { return this.items.length > 0; }

  busy() { return this.items.some((item) => item.state === 'uploading'); }

  // Post the ready attachments of ``roomId`` with ``text``; the tray empties. Where files
  // are sealed the caption is sealed too, as a message of its own after the files.
  async send(roomId, text, replyTo) {
    if (this.busy()) throw new Error('wait until the attachments are uploaded');
    const ready = this.items.filter((item) => item.state === 'ready' && item.roomId === roomId);
    if (!ready.length) throw new Error('no attachment is ready to send: remove the failed ones');
    const sealed = this.sealed(roomId);
    const view = await this.chat.send_attachments(roomId, sealed ? '' : text, replyTo, ready.map((item) => item.id));
    this.clear();
    if (sealed && text.trim()) {
      await this.chat.send_sealed(roomId, await this.keys().seal(roomId, text), []);
    }
    return view;
  }

  // Empty the tray; with ``cancel`` (the room changed) unsent uploads are cancelled too.
  clear({ cancel = false } = {}) {
    for (const item of this.items) {
      if (cancel && item.id !== null && item.state !== 'failed') {
        this.chat.cancel_attachment(item.id).catch(() => {});
      }
      item.state = 'removed';
    }
    this.items = [];
    this.list.replaceChildren();
    this.list.hidden = true;
  }
}

// The media of ``message`` as nodes to append to its body (empty when it has none);
// ``keys`` (DirectKeys) opens sealed ones.
export function attachmentNodes(message, origin, keys) {
  if (!message.attachments || !message.attachments.length || message.deleted) return [];
  const box = node('div', 'attachments');
  for (const attachment of message.attachments) {
    const kind = Object.keys(attachment.kind)[0];
    const figure = node('figure', `attachment attachment-${kind}`);
    figure.dataset.attachmentId = String(attachment.id);
    const caption = node('figcaption', 'muted small', `${attachment.name} · ${formatSize(shownSize(attachment))}`);
    if (attachment.sealed) {
      figure.dataset.sealed = 'pending';
      const status = node('span', 'attachment-sealed muted small', '🔒 decrypting…');
      figure.append(status, caption);
      openSealed(message.room_id, attachment, origin, keys).then(
        (url) => {
          figure.dataset.sealed = 'open';
          status.replaceWith(mediaNode(kind, attachment, url));
        },
        () => {
          figure.dataset.sealed = 'failed';
          status.textContent = '🔒 this file cannot be decrypted here';
        },
      );
    } else {
      figure.append(mediaNode(kind, attachment, `${origin}${attachment.path}`), caption);
    }
    box.append(figure);
  }
  return [box];
}

// The size of the file itself: a sealed one's `size` counts each chunk's nonce and tag.
function shownSize(attachment) {
  if (!attachment.sealed) return attachment.size;
  const size = Number(attachment.size);
  const chunks = Math.ceil(size / SEALED_CHUNK_BYTES);
  return size - chunks * (SEALED_CHUNK_BYTES - PLAIN_CHUNK_BYTES);
}

const opened = new Map();   // attachment path -> Promise of its blob: URL

// A sealed attachment decrypted into a blob: URL (fetched once per page).
function openSealed(roomId, attachment, origin, keys) {
  if (!opened.has(attachment.path)) {
    const made = (async () => {
      if (!keys) throw new Error('no end-to-end keys on this page');
      const response = await fetch(`${origin}${attachment.path}`, { credentials: 'omit' });
      if (!response.ok) throw new Error(`attachment ${attachment.id}: HTTP ${response.status}`);
      const parts = await keys.openFile(roomId, attachment.id, await response.arrayBuffer());
      return URL.createObjectURL(new Blob(parts, { type: attachment.content_type }));
    })();
    made.catch((error) => {
      console.warn(`sealed attachment ${attachment.id}:`, error);
      opened.delete(attachment.path);
    });
    opened.set(attachment.path, made);
  }
  return opened.get(attachment.path);
}

// How an attachment of ``kind`` at ``url`` is shown: image, player or download link.
function mediaNode(kind, attachment, url) {
  if (kind === 'image' && IMAGE_TYPES.includes(attachment.content_type)) {
    const link = node('a');
    link.href = url;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    const image = node('img');
    image.src = url;
    image.alt = attachment.name;
    image.loading = 'lazy';
    link.append(image);
    return link;
  }
  if (kind === 'video' || kind === 'audio') {
    const player = node(kind);
    player.src = url;
    player.controls = true;
    player.preload = 'metadata';
    if (kind === 'video') player.playsInline = true;
    return player;
  }
  const link = node('a', 'attachment-file', `📄 ${attachment.name}`);
  link.href = url;
  link.download = attachment.name;
  link.rel = 'noopener noreferrer';
  return link;
}

// The page's tray: files picked with the compose form's 📎 input upload at once.
export function bindTray(page) {
  const tray = new AttachmentTray({
    chat: page.chat,
    roomId: () => page.roomId,
    list: document.querySelector('#attachment-tray'),
    onError: (error) => page.run(() => Promise.reject(error)),
    sealed: (roomId) => page.isSealedRoom(roomId),
    keys: () => page.keys,
  });
  const input = document.querySelector('#attach-input');
  input.addEventListener('change', () => {
    const files = [...input.files];
    input.value = '';
    tray.add(files);
  });
  return tray;
}
