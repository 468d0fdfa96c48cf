// DOM and value helpers of the social page: elements built with DOM methods only (text
// is always textContent, never parsed as HTML), Candid option and variant shapes,
// times, reject messages, and the plain-text rendering of posts with #hashtag and
// @mention links.

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
export const tagOf = (variant) => Object.keys(variant)[0];
export const variant = (tag) => ({ [tag]: null });

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

/** A date input's value ("2024-05-01") as nanoseconds, or null when empty. */
export function dateToNs(value) {
  if (!value) return null;
  return BigInt(Date.parse(`${value}T00:00:00Z`)) * NS_PER_MS;
}

/** Nanoseconds as a date input's value. */
export function nsToDate(ns) {
  if (ns === null || ns === undefined) return '';
  return timeOf(ns).toISOString().slice(0, 10);
}

/** Month and year of a canister time, or "now". */
export function monthOf(ns) {
  if (ns === null || ns === undefined) return 'now';
  return timeOf(ns).toLocaleDateString([], { year: 'numeric', month: 'short', timeZone: 'UTC' });
}

export const shortPrincipal = (principal) => `${String(principal).slice(0, 11)}…`;

function hue(text) {
  let h = 0;
  for (const ch of String(text)) h = (h * 31 + ch.codePointAt(0)) % 8;
  return h;
}

/**
 * An avatar: the picture at `url` if any, else the initial on a colour from `name`;
 * loaded when scrolled near unless `eager`.
 */
export function avatar(name, url, size = '', { eager = false } = {}) {
  const classes = `avatar ${size} avatar-hue-${hue(name)}`.trim();
  if (url) return element('img', { className: classes, attrs: { src: url, alt: '', loading: eager ? 'eager' : 'lazy' } });
  return element('span', { className: classes, text: (String(name || '?').replace(/^@/, '')[0] || '?').toUpperCase(), attrs: { 'aria-hidden': 'true' } });
}

const TOKEN = /(#[\p{L}\p{N}_]+|@[A-Za-z0-9_]+|https?:\/\/[^\s<>"']+)/gu;

/**
 * `text` as a paragraph of text nodes and links: `#tag` calls `onTag(tag)`, `@handle`
 * calls `onHandle(handle)`, and http(s) URLs become links that leave the page safely.
 */
export function richText(text, { onTag, onHandle } = {}, tag = 'p') {
  const out = element(tag, { className: 'prewrap' });
  let last = 0;
  for (const match of String(text).matchAll(TOKEN)) {
    if (match.index > last) out.append(text.slice(last, match.index));
    const token = match[0];
    if (token[0] === '#' && onTag) {
      out.append(button(token, () => onTag(token.slice(1).toLowerCase()), { className: 'btn-link hashtag' }));
    } else if (token[0] === '@' && onHandle) {
      out.append(button(token, () => onHandle(token.slice(1)), { className: 'btn-link mention' }));
    } else if (token.startsWith('http')) {
      out.append(element('a', { text: token, attrs: { href: token, rel: 'noopener noreferrer nofollow', target: '_blank' } }));
    } else {
      out.append(token);
    }
    last = match.index + token.length;
  }
  if (last < text.length) out.append(text.slice(last));
  return out;
}

/** Plural: "1 connection", "2 connections". */
export const plural = (count, word) => `${count} ${word}${Number(count) === 1 ? '' : 's'}`;

/** A degree badge's text: "you", "1st", "2nd" or "3rd+". */
export function degreeLabel(degree) {
  const n = Number(degree);
  if (n === 0) return 'you';
  if (n === 1) return '1st';
  if (n === 2) return '2nd';
  return '3rd+';
}
