// The canister page's method form: every method of the canister's candid:service as a form
// with typed inputs, called with this browser's own key, the reply shown as Candid text.
//
// The interface is the canister's own metadata (served at data-candid), read by the bundle's
// .did reader; calls go through @dfinity/agent signed by browserIdentity (a non-extractable
// WebCrypto key in IndexedDB, the same key the apps of this origin use). Inputs follow the
// argument types: text and numbers as fields, bool as a checkbox, opt as a checkbox that
// opens its value, vec as a list with add and remove, record as a group of fields, variant
// as a choice of tag, blob as hex. Replies and rejects are text (textContent, never HTML).

import {
  Actor, HttpAgent, IDL, Principal, browserIdentity, parseDid,
} from './ic.js';

class InputError extends Error {}

let counter = 0;
const uid = () => `field-${(counter += 1)}`;

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'text') node.textContent = value;
    else if (value !== false && value !== undefined) node.setAttribute(key, value === true ? '' : value);
  }
  node.append(...children);
  return node;
}

function labelled(text, control, hint) {
  const id = uid();
  control.id = id;
  const row = el('div', { class: 'field' }, el('label', { for: id, text }), control);
  if (hint) row.append(el('span', { class: 'field-hint', text: hint }));
  return row;
}

function bigint(text, signed, where) {
  const trimmed = text.trim().replaceAll('_', '');
  if (!(signed ? /^[-+]?\d+$/ : /^\+?\d+$/).test(trimmed)) {
    throw new InputError(`${where}: ${JSON.stringify(text)} is not ${signed ? 'an integer' : 'a natural number'}`);
  }
  return BigInt(trimmed);
}

// A widget for `type`: { node, read() } where read() returns the JS value @dfinity/candid encodes.
function widget(type, name, path) {
  if (type instanceof IDL.RecClass) return widget(type.getType(), name, path);
  const shown = `${name} : ${type.display()}`;
  if (type instanceof IDL.TextClass) {
    const input = el('input', { type: 'text', name: path });
    return { node: labelled(shown, input), read: () => input.value };
  }
  if (type instanceof IDL.BoolClass) {
    const input = el('input', { type: 'checkbox', name: path });
    return { node: labelled(shown, input), read: () => input.checked };
  }
  if (type instanceof IDL.NatClass || type instanceof IDL.IntClass
      || type instanceof IDL.FixedNatClass || type instanceof IDL.FixedIntClass) {
    const signed = type instanceof IDL.IntClass || type instanceof IDL.FixedIntClass;
    const input = el('input', { type: 'text', inputmode: 'numeric', name: path, value: '0' });
    const small = (type instanceof IDL.FixedNatClass || type instanceof IDL.FixedIntClass) && type._bits < 64;
    return {
      node: labelled(shown, input),
      read: () => { const n = bigint(input.value, signed, path); return small ? Number(n) : n; },
    };
  }
  if (type instanceof IDL.FloatClass) {
    const input = el('input', { type: 'text', inputmode: 'decimal', name: path, value: '0' });
    return {
      node: labelled(shown, input),
      read: () => {
        const value = Number(input.value);
        if (input.value.trim() === '' || Number.isNaN(value)) throw new InputError(`${path}: ${JSON.stringify(input.value)} is not a number`);
        return value;
      },
    };
  }
  if (type instanceof IDL.PrincipalClass || type instanceof IDL.ServiceClass) {
    const input = el('input', { type: 'text', name: path, placeholder: 'aaaaa-aa' });
    return {
      node: labelled(shown, input),
      read: () => {
        try { return Principal.fromText(input.value.trim()); } catch {
          throw new InputError(`${path}: ${JSON.stringify(input.value)} is not a principal`);
        }
      },
    };
  }
  if (type instanceof IDL.NullClass || type instanceof IDL.ReservedClass) {
    return { node: el('p', { class: 'muted small', text: shown }), read: () => null };
  }
  if (type instanceof IDL.VecClass && type._type instanceof IDL.FixedNatClass && type._type._bits === 8) {
    const input = el('input', { type: 'text', name: path, placeholder: 'hex bytes, e.g. 00ff' });
    return {
      node: labelled(shown, input, 'hex'),
      read: () => {
        const hex = input.value.replace(/\s+/g, '');
        if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new InputError(`${path}: ${JSON.stringify(input.value)} is not hex bytes`);
        return Uint8Array.from(hex.match(/../g) || [], (b) => parseInt(b, 16));
      },
    };
  }
  if (type instanceof IDL.OptClass) {
    const box = el('input', { type: 'checkbox', name: `${path}?` });
    const slot = el('div', { class: 'dash-nested' });
    let inner = null;
    box.addEventListener('change', () => {
      if (box.checked && !inner) { inner = widget(type._type, 'value', `${path}.value`); slot.append(inner.node); }
      slot.hidden = !box.checked;
    });
    const node = el('fieldset', { class: 'dash-group' }, el('legend', { text: shown }), labelled('has a value', box), slot);
    return { node, read: () => (box.checked && inner ? [inner.read()] : []) };
  }
  if (type instanceof IDL.VecClass) {
    const items = [];
    const list = el('div', { class: 'dash-nested stack-sm' });
    const add = el('button', { type: 'button', class: 'btn btn-sm btn-secondary', text: 'Add an item' });
    add.addEventListener('click', () => {
      const item = widget(type._type, `[${items.length}]`, `${path}.${items.length}`);
      const remove = el('button', { type: 'button', class: 'btn btn-sm btn-ghost', text: 'Remove' });
      const row = el('div', { class: 'dash-item' }, item.node, remove);
      remove.addEventListener('click', () => { items.splice(items.indexOf(item), 1); row.remove(); });
      items.push(item);
      list.append(row);
    });
    const node = el('fieldset', { class: 'dash-group' }, el('legend', { text: shown }), list, add);
    return { node, read: () => items.map((item) => item.read()) };
  }
  if (type instanceof IDL.TupleClass) {
    const parts = type._components.map((t, i) => widget(t, String(i), `${path}.${i}`));
    const node = el('fieldset', { class: 'dash-group' }, el('legend', { text: shown }), ...parts.map((p) => p.node));
    return { node, read: () => parts.map((p) => p.read()) };
  }
  if (type instanceof IDL.RecordClass) {
    const parts = type._fields.map(([key, t]) => [key, widget(t, key, `${path}.${key}`)]);
    const node = el('fieldset', { class: 'dash-group' }, el('legend', { text: shown }), ...parts.map(([, p]) => p.node));
    return { node, read: () => Object.fromEntries(parts.map(([key, p]) => [key, p.read()])) };
  }
  if (type instanceof IDL.VariantClass) {
    const select = el('select', { name: path }, ...type._fields.map(([key]) => el('option', { value: key, text: key })));
    const slot = el('div', { class: 'dash-nested' });
    let inner = null;
    const choose = () => {
      const [, t] = type._fields.find(([key]) => key === select.value);
      inner = widget(t, select.value, `${path}.${select.value}`);
      slot.replaceChildren(inner.node);
    };
    select.addEventListener('change', choose);
    if (type._fields.length) choose();
    const node = el('fieldset', { class: 'dash-group' }, el('legend', { text: shown }), labelled('tag', select), slot);
    return { node, read: () => ({ [select.value]: inner.read() }) };
  }
  return {
    node: el('p', { class: 'muted small', text: `${shown} (this form cannot build a value of this type)` }),
    read: () => { throw new InputError(`${path}: the form cannot build a ${type.display()}`); },
  };
}

// The agent's error without its "Call context" (request body and HTTP headers): the reject
// code, text and IC error code are what a developer reads.
function rejectText(error) {
  const text = error.message || String(error);
  return text.split(/\n\s*Call context:/)[0].trim();
}

function candidText(types, values) {
  return `(${types.map((t, i) => t.valueToString(values[i])).join(', ')})`;
}

function methodForm(actor, name, func) {
  const kind = func.annotations.includes('query') || func.annotations.includes('composite_query') ? 'query' : 'update';
  const args = func.argTypes.map((t, i) => widget(t, `argument ${i + 1}`, `arg${i}`));
  const output = el('output', { class: 'dash-reply', 'aria-live': 'polite' });
  const button = el('button', { type: 'submit', class: 'btn', text: kind === 'query' ? 'Query' : 'Call' });
  const signature = `${name} : (${func.argTypes.map((t) => t.display()).join(', ')}) -> (${func.retTypes.map((t) => t.display()).join(', ')})${func.annotations.map((a) => ` ${a}`).join('')}`;
  const form = el('form', { class: 'card dash-method', 'data-method': name },
    el('h3', {}, el('code', { text: signature })), ...args.map((a) => a.node), el('div', { class: 'cluster' }, button), output);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    output.className = 'dash-reply';
    let values;
    try {
      values = args.map((a) => a.read());
    } catch (error) {
      output.classList.add('dash-error');
      output.textContent = error.message;
      return;
    }
    button.disabled = true;
    output.textContent = kind === 'query' ? 'querying…' : 'calling…';
    try {
      const result = await actor[name](...values);
      const replies = func.retTypes.length === 1 ? [result] : (result || []);
      output.textContent = candidText(func.retTypes, replies);
      output.classList.add('dash-ok');
    } catch (error) {
      output.classList.add('dash-error');
      output.textContent = rejectText(error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

async function start() {
  const page = document.getElementById('canister-page');
  const place = document.getElementById('method-forms');
  try {
    const did = await (await fetch(page.dataset.candid)).text();
    const { idlFactory } = parseDid(IDL, did);
    const service = idlFactory({ IDL });
    const identity = await browserIdentity();
    document.getElementById('caller').textContent = identity.getPrincipal().toText();
    const agent = await HttpAgent.create({ host: location.origin, identity, shouldFetchRootKey: true });
    const actor = Actor.createActor(idlFactory, { agent, canisterId: page.dataset.canister });
    place.replaceChildren(...service._fields.map(([name, func]) => methodForm(actor, name, func)));
    place.dataset.ready = 'true';
  } catch (error) {
    place.replaceChildren(el('p', { class: 'alert alert-danger', text: `The method form could not start: ${error.message}` }));
  }
}

start();
