// Uploads: the file's SHA-256 is computed here (crypto.subtle.digest), `begin_upload`
// answers with a ticket (the chunk size, how many chunks, which the canister already
// has), and the missing 1 MiB chunks go up four at a time with a progress bar, then
// `finish_upload`. A reload resumes: the canister gives the same video back for the
// same creator and SHA-256 with the chunks it received, and the page keeps the open
// upload in localStorage (keyed by file name, size and hash) to say so. A file whose
// media the canister already has is not sent again (`deduplicated`). The status then
// moves uploading → processing → ready or rejected, shown live from the socket topic
// `uploads:<me>` (or read by query while the socket is down). "Your videos" lists all
// of the caller's videos, with each rejection's reason, caption editing and delete.

import { IDL } from '../icframework/ic.js';
import {
  $, button, bytesText, captionText, durationText, element, hex, tagOf, timeElement, unopt,
} from './dom.js';

const PARALLEL = 4;
const STORE_PREFIX = 'icframework.video.upload:';
const STATUS_TEXT = {
  uploading: 'uploading',
  processing: 'processing',
  ready: 'ready',
  rejected: 'rejected',
};

export class Uploader {
  constructor(app) {
    this.app = app;
    this.current = null;   // { id, file, key } of the upload on the form
    this.stopped = false;
  }

  bind() {
    const form = $('#upload-form');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.app.busy(form, () => this.upload(form.file.files[0], form.caption.value));
    });
    form.caption.addEventListener('input', () => this.countCaption());
    $('#upload-cancel').addEventListener('click', () => { this.stopped = true; });
    this.app.onLive('uploads', (topic, bytes) => this.onProgress(bytes));
    this.showLimits();
  }

  countCaption() {
    const form = $('#upload-form');
    const max = this.app.config.limits.captionChars;
    form.caption.maxLength = max;
    $('#caption-count').textContent = `${[...form.caption.value].length} / ${max}`;
  }

  showLimits() {
    const limits = this.app.config.limits || {};
    const parts = [];
    if (limits.maxBytes) parts.push(`up to ${bytesText(limits.maxBytes)}`);
    if (limits.maxDurationMs) parts.push(`at most ${durationText(limits.maxDurationMs)} long`);
    parts.push('MP4, WebM or QuickTime');
    parts.push(`captions up to ${limits.captionChars} characters`);
    $('#upload-limits').textContent = `Videos ${parts.join(', ')}. The canister keeps a 720p and a 360p copy and a poster.`;
    this.countCaption();
  }

  async open() {
    await this.app.requireMe('upload videos');
    const interrupted = Object.keys(localStorage).filter((k) => k.startsWith(STORE_PREFIX));
    if (interrupted.length && !this.current) {
      const names = interrupted.map((k) => k.slice(STORE_PREFIX.length).split(':')[0]);
      this.app.say(`An upload of ${names.join(', ')} was interrupted: pick the same file again to resume where it stopped.`);
    }
    await this.listMine();
  }

  setState(status, detail) {
    $('#upload-state').hidden = false;
    const badge = $('#upload-status');
    badge.textContent = STATUS_TEXT[status] || status;
    badge.dataset.status = status;
    badge.className = `badge ${status === 'ready' ? 'badge-success' : status === 'rejected' ? 'badge-danger' : 'badge-info'}`;
    const where = $('#upload-detail');
    where.replaceChildren();
    if (detail) where.append(detail);
  }

  setProgress(done, total) {
    const bar = $('#upload-progress');
    bar.max = total;
    bar.value = done;
    bar.dataset.done = String(done);
    bar.dataset.total = String(total);
  }

  async upload(file, caption) {
    if (!file) throw new Error('pick a video file first');
    await this.app.requireMe('upload videos');
    const limits = this.app.config.limits || {};
    if (limits.maxBytes && file.size > limits.maxBytes) {
      throw new Error(`${file.name} is ${bytesText(file.size)}; videos are at most ${bytesText(limits.maxBytes)}: trim it first`);
    }
    this.stopped = false;
    this.setState('uploading', 'reading the file…');
    this.setProgress(0, 1);
    const bytes = new Uint8Array(await file.arrayBuffer());
    const sha256 = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    const key = `${STORE_PREFIX}${file.name}:${file.size}:${hex(sha256)}`;
    const ticket = await this.app.api.begin_upload({
      caption, size: BigInt(bytes.length), sha256, content_type: file.type || 'video/mp4',
    });
    const id = ticket.video_id;
    this.current = { id, file, key };
    if (ticket.deduplicated) {
      localStorage.removeItem(key);
      this.setProgress(1, 1);
      await this.showVideo(id);
      this.app.toast('This video was already on the canister: nothing to send.');
      return;
    }
    localStorage.setItem(key, String(id));
    const chunks = Number(ticket.chunks);
    const chunkBytes = Number(ticket.chunk_bytes);
    const have = new Set(ticket.received.map(Number));
    if (have.size) this.app.say(`Resuming: the canister already has ${have.size} of ${chunks} chunks.`);
    const todo = [];
    for (let n = 0; n < chunks; n += 1) if (!have.has(n)) todo.push(n);
    let done = have.size;
    this.setProgress(done, chunks);
    this.setState('uploading', `${done} of ${chunks} chunks`);
    $('#upload-cancel').hidden = false;
    const send = async () => {
      while (todo.length && !this.stopped) {
        const index = todo.shift();
        await this.app.api.put_chunk(id, index, bytes.subarray(index * chunkBytes, (index + 1) * chunkBytes));
        done += 1;
        this.setProgress(done, chunks);
        this.setState('uploading', `${done} of ${chunks} chunks`);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(PARALLEL, todo.length) }, send));
    } finally {
      $('#upload-cancel').hidden = true;
    }
    if (this.stopped) {
      this.setState('uploading', `stopped at ${done} of ${chunks} chunks: pick the same file to go on`);
      return;
    }
    const video = await this.app.api.finish_upload(id);
    localStorage.removeItem(key);
    $('#upload-form').reset();
    this.countCaption();
    this.show(video);
    await this.listMine();
  }

  // The status of the upload on the form, from its Video record.
  show(video) {
    const status = tagOf(video.status);
    const reason = unopt(video.reason);
    if (status === 'ready') {
      this.setState('ready', element('a', { text: 'Watch it', attrs: { href: `#v=${video.id}` } }));
    } else if (status === 'rejected') {
      this.setState('rejected', reason || 'rejected');
    } else if (status === 'processing') {
      this.setState('processing', 'making the 720p and 360p copies and the poster…');
    } else {
      this.setState(status, '');
    }
  }

  async showVideo(id) {
    const video = unopt(await this.app.api.video(id));
    if (video) this.show(video);
  }

  // An `uploads:<me>` event (UploadProgress): the status of one of the caller's uploads.
  async onProgress(bytes) {
    const type = this.app.eventType('UploadProgress', null);
    let progress = null;
    if (type) {
      try { [progress] = IDL.decode([type], bytes); } catch (error) { progress = null; }
    }
    if (progress && this.current && progress.video_id === this.current.id) {
      const status = tagOf(progress.status);
      if (status === 'uploading') this.setProgress(Number(progress.received), Number(progress.chunks));
      else await this.showVideo(progress.video_id);
    } else if (!progress && this.current) {
      await this.showVideo(this.current.id);
    }
    if (this.app.view === 'upload') await this.listMine();
  }

  // While the socket is down: read the status of the upload on the form.
  async poll() {
    if (!this.current) return;
    const status = $('#upload-status').dataset.status;
    if (status === 'processing') await this.showVideo(this.current.id);
  }

  // -- your videos -----------------------------------------------------------------------------

  async listMine() {
    if (!this.app.me) return;
    const videos = await this.app.api.my_videos();
    videos.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    $('#my-videos').replaceChildren(...videos.map((v) => this.mineItem(v)));
    $('#my-videos-empty').hidden = videos.length > 0;
  }

  mineItem(video) {
    const status = tagOf(video.status);
    const reason = unopt(video.reason);
    const poster = this.app.posterUrl(video);
    const id = String(video.id);
    const item = element('li', { className: 'row mine', attrs: { 'data-video': id, 'data-status': status } }, [
      poster ? element('img', { className: 'mine-poster', attrs: { src: poster, alt: '', loading: 'lazy' } })
        : element('span', { className: 'mine-poster mine-none', text: '🎬', attrs: { 'aria-hidden': 'true' } }),
      element('div', { className: 'list-main' }, [
        captionText(video.caption || '(no caption)', 'span', 'list-title caption'),
        element('span', { className: 'list-sub' }, [
          element('span', {
            className: `badge ${status === 'ready' ? 'badge-success' : status === 'rejected' ? 'badge-danger' : 'badge-info'}`,
            text: STATUS_TEXT[status] || status, attrs: { 'data-status': status },
          }),
          reason ? element('span', { className: 'mine-reason', text: ` ${reason}` }) : null,
          video.sensitive ? element('span', { className: 'badge badge-warning', text: 'sensitive' }) : null,
          ' ', timeElement(video.created_at),
          Number(video.duration_ms) ? ` · ${durationText(video.duration_ms)}` : '',
        ]),
      ]),
      element('div', { className: 'cluster mine-actions' }, [
        status === 'ready' ? element('a', { className: 'btn btn-sm', text: 'Watch', attrs: { href: `#v=${id}` } }) : null,
        button('Edit caption', () => this.editCaption(item, video)),
        button(video.sensitive ? 'Unmark sensitive' : 'Mark sensitive', (event) => this.app.busy(event.target, async () => {
          await this.app.api.set_sensitive(video.id, !video.sensitive);
          await this.listMine();
        })),
        button('Delete', (event) => this.app.busy(event.target, async () => {
          if (!window.confirm('Delete this video for good?')) return;
          await this.app.api.delete_video(video.id);
          this.app.toast('Deleted.');
          await this.listMine();
        }), { className: 'btn-sm btn-danger' }),
      ]),
    ]);
    return item;
  }

  editCaption(item, video) {
    if (item.querySelector('form')) return;
    const form = element('form', { className: 'form-row caption-editor' }, [
      element('input', { attrs: { name: 'caption', maxlength: this.app.config.limits.captionChars, 'aria-label': 'Caption', autocomplete: 'off' } }),
      element('button', { className: 'btn-sm btn-primary', text: 'Save', attrs: { type: 'submit' } }),
    ]);
    form.caption.value = video.caption;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.app.busy(form, async () => {
        await this.app.api.edit_caption(video.id, form.caption.value);
        await this.listMine();
      });
    });
    item.append(form);
    form.caption.focus();
  }
}
