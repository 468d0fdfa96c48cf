// DOM and value helpers of the video page: elements built with DOM methods only (text is
// always textContent, never parsed as HTML), Candid option and variant shapes, times,
// counts, reject messages, and captions with #hashtag and @mention links.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** A new element: `className`, `text` (textContent), `attrs`, then `children` appended. */
export function element(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** A button that runs `action` on click. */
export function button(text, action, { className = 'btn-sm', attrs } = {}) {
  const node = element('button', { className, text, attrs: { type: 'button', ...(attrs || {}) } });
  node.addEventListener('click', action);
  return node;
}

export const unopt = (value) => (Array.isArray(value) && value.length ? value[0] : null);
export const opt = (value) => (value === null || value === undefined || value === '' ? [] : [value]);
export const tagOf = (variant) => (variant && typeof variant === 'object' ? Object.keys(variant)[0] : String(variant));
export const variant = (tag, value = null) => ({ [tag]: value });

/** The canister's reject message of a refused call, or the error's own message. */
export function rejectText(error) {
  const code = error && error.cause && error.cause.code;
  if (code && code.rejectMessage) return code.rejectMessage;
  const message = String((error && error.message) || error);
  const found = /Reject text: (.*)/.exec(message);
  return found ? found[1].trim() : message;
}

const NS_PER_MS = 1000000n;

/** A canister time (nanoseconds since the epoch) as a Date. */
export const timeOf = (ns) => new Date(Number(BigInt(ns) / NS_PER_MS));

/** "3 h ago" style age of a canister time. */
export function ago(ns) {
  const seconds = Math.max(0, (Date.now() - timeOf(ns).getTime()) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return timeOf(ns).toLocaleDateString([], { dateStyle: 'medium' });
}

/** A <time> element for a canister time. */
export function timeElement(ns) {
  return element('time', { text: ago(ns), attrs: { datetime: timeOf(ns).toISOString(), title: timeOf(ns).toLocaleString() } });
}

/** A count as people read it on a video: 999, 1.2K, 3.4M. */
export function compact(count) {
  const n = Number(count || 0);
  if (n < 1000) return String(n);
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0).replace(/\.0$/, '')}K`;
  return `${(n / 1e6).toFixed(1).replace(/\.0$/, '')}M`;
}

/** Bytes as "12.3 MB". */
export function bytesText(bytes) {
  const n = Number(bytes);
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** Milliseconds as "0:42". */
export function durationText(ms) {
  const seconds = Math.round(Number(ms) / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** Plural: "1 follower", "2 followers". */
export const plural = (count, word) => `${compact(count)} ${word}${Number(count) === 1 ? '' : 's'}`;

/** The hex text of bytes (a Uint8Array or an array of numbers). */
export const hex = (bytes) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');

function hue(text) {
  let h = 0;
  for (const ch of String(text)) h = (h * 31 + ch.codePointAt(0)) % 8;
  return h;
}

/** An avatar: the initial of `name` on a colour of its own. */
export function avatar(name, size = '') {
  const classes = `avatar ${size} avatar-hue-${hue(name)}`.trim();
  return element('span', { className: classes, text: (String(name || '?').replace(/^@/, '')[0] || '?').toUpperCase(), attrs: { 'aria-hidden': 'true' } });
}

const TOKEN = /(#[\p{L}\p{N}_]+|@[A-Za-z0-9_]+)/gu;

/** `text` with `#tag` links to the hashtag page and `@handle` links to the profile. */
export function captionText(text, tag = 'p', className = 'caption') {
  const out = element(tag, { className });
  const value = String(text || '');
  let last = 0;
  for (const match of value.matchAll(TOKEN)) {
    if (match.index > last) out.append(value.slice(last, match.index));
    const token = match[0];
    const href = token[0] === '#'
      ? `#tag=${encodeURIComponent(token.slice(1).toLowerCase())}`
      : `#u=${encodeURIComponent(token.slice(1))}`;
    out.append(element('a', { className: token[0] === '#' ? 'hashtag' : 'mention', text: token, attrs: { href } }));
    last = match.index + token.length;
  }
  if (last < value.length) out.append(value.slice(last));
  return out;
}

/** Open a <dialog>; resolves with the submitted form, or null when closed otherwise. */
export function ask(dialog, form) {
  return new Promise((resolve) => {
    const done = (value) => {
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('close', onClose);
      resolve(value);
    };
    const onSubmit = (event) => { event.preventDefault(); done(form); };
    const onClose = () => done(null);
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose);
    for (const close of $$('.close', dialog)) close.onclick = () => dialog.close();
    if (!dialog.open) dialog.showModal();
  });
}
