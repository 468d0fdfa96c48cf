// The dashboard's live part: figures, charts and tables fed by the /ws/dashboard socket.
//
// The server sends a frame of cumulative counters each second (icframework.channels.dashboard);
// rates are the difference of two frames over their `clock`. Charts are small SVG polylines
// drawn here (no library, no inline style: colours come from dashboard.css classes); a chart
// whose every value is zero says it is idle instead. Every text from the replica is set with
// textContent, never parsed as HTML. Cycles, bytes and counts are written as the server
// writes them (icframework/templatetags/icframework_dashboard.py): short forms rounded down,
// the exact value in the cell's title.

const WINDOW = 60; // frames kept for the charts: about a minute
const SERIES = 8; // colour classes in dashboard.css
const SVG = 'http://www.w3.org/2000/svg';
const CYCLE_UNITS = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'k']];
const BYTE_UNITS = [[2 ** 30, 'GiB'], [2 ** 20, 'MiB'], [2 ** 10, 'KiB']];
const frames = [];
const $ = (selector) => document.querySelector(selector);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function formatRate(value) {
  if (!Number.isFinite(value)) return '–';
  if (value >= 1e9) return `${(value / 1e9).toFixed(2)} G`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(value < 10 ? 1 : 0);
}

// A count with thousands separators: 99,999,644,376,836 (beyond 2^53 the socket's JSON
// number is already approximate, so it says so).
function exactCount(value) {
  const text = Math.trunc(value).toLocaleString('en-US');
  return Number.isSafeInteger(value) ? text : `≈${text}`;
}

// `value` in the largest unit it reaches, rounded down to `decimals` places.
function shorten(value, units, decimals, plain) {
  for (const [factor, suffix] of units) {
    if (value >= factor) {
      const scaled = Math.floor((value * 10 ** decimals) / factor) / 10 ** decimals;
      const text = scaled.toLocaleString('en-US', {
        minimumFractionDigits: decimals, maximumFractionDigits: decimals,
      });
      return `${text} ${suffix}`;
    }
  }
  return plain(value);
}

const formatCycles = (value) => shorten(value, CYCLE_UNITS, 2, String);
const formatBytes = (value) => shorten(value, BYTE_UNITS, 1, (v) => `${v} B`);

// Each live table cell: how to write it, and what its title calls the exact value.
const FIELDS = { cycles: [formatCycles, 'cycles'], memory: [formatBytes, 'bytes'], kv: [formatBytes, 'bytes'] };

function rate(a, b, pick) {
  const seconds = b.clock - a.clock;
  return seconds > 0 ? Math.max(0, (pick(b) - pick(a)) / seconds) : 0;
}

function label(frame, id) {
  return frame.names[id] || (id.length > 12 ? `${id.slice(0, 11)}…` : id);
}

function chartText(text, className, x, y) {
  const node = document.createElementNS(SVG, 'text');
  node.setAttribute('x', String(x));
  node.setAttribute('y', String(y));
  node.setAttribute('class', className);
  node.textContent = text;
  return node;
}

const allZero = (values) => !values.some((v) => v > 0);

// One chart: `series` is [{ name, values }], each value a rate per frame pair. An idle
// chart (by default: every value zero) draws no lines, only says so; the legend stays.
function drawChart(svg, legend, series, idle = allZero(series.flatMap((s) => s.values))) {
  svg.replaceChildren();
  legend.replaceChildren();
  const values = series.flatMap((s) => s.values);
  // waiting: one frame so far, so no rate yet
  svg.dataset.state = values.length ? (idle ? 'idle' : 'drawn') : 'waiting';
  if (idle) {
    const text = values.length ? 'idle — no messages in the last minute' : 'waiting for the first figures…';
    svg.append(chartText(text, 'dash-idle', 150, 54));
  }
  const max = Math.max(...values, 0) || 1;
  series.forEach((s, index) => {
    // newest at the right edge; a lone rate is drawn as a short level step, not a dot
    const shown = s.values.length === 1 ? [s.values[0], s.values[0]] : s.values;
    const points = shown.map((v, i) => `${300 - ((shown.length - 1 - i) * 300) / (WINDOW - 1)},${98 - (v / max) * 94}`);
    if (!idle) {
      const line = document.createElementNS(SVG, 'polyline');
      line.setAttribute('points', points.join(' '));
      line.setAttribute('class', `dash-line series-${index % SERIES}`);
      svg.append(line);
    }
    const last = s.values.length ? s.values[s.values.length - 1] : 0;
    const key = element('span', `${s.name} ${formatRate(last)}/s`, `dash-key series-${index % SERIES}`);
    legend.append(key);
  });
  if (!idle) svg.append(chartText(`${formatRate(max)}/s`, 'dash-axis', 2, 10));
}

function pairs() {
  const out = [];
  for (let i = 1; i < frames.length; i += 1) out.push([frames[i - 1], frames[i]]);
  return out;
}

function drawCharts(last) {
  const steps = pairs();
  const messages = steps.map(([a, b]) => rate(a, b, (f) => f.messages));
  // rounds tick on without work, so the subnet is idle when no message ran
  drawChart($('#chart-subnet'), $('#legend-subnet'), [
    { name: 'rounds', values: steps.map(([a, b]) => rate(a, b, (f) => f.rounds)) },
    { name: 'messages', values: messages },
  ], allZero(messages));
  const ids = Object.keys(last.canisters).sort((x, y) => label(last, x).localeCompare(label(last, y)));
  for (const [chart, field] of [['instructions', 'instructions'], ['cycles', 'cycles_burned']]) {
    drawChart($(`#chart-${chart}`), $(`#legend-${chart}`), ids.map((id) => ({
      name: label(last, id),
      values: steps.map(([a, b]) => rate(a, b, (f) => (f.canisters[id] ? f.canisters[id][field] : 0))),
    })));
  }
}

function updateRows(frame) {
  for (const row of frame.rows) {
    const tr = document.querySelector(`tr[data-canister="${CSS.escape(row.id)}"]`);
    if (!tr) continue;
    for (const [field, [format, unit]] of Object.entries(FIELDS)) {
      const cell = tr.querySelector(`[data-field="${field}"]`);
      if (!cell) continue;
      const value = row[field];
      cell.textContent = value === null ? '–' : format(value);
      if (value === null) cell.removeAttribute('title');
      else cell.title = `${exactCount(value)} ${unit}`;
    }
  }
}

// One row per subnet on a cluster front end: each subnet's height moves as this front
// end's copy of it refreshes; the committed height and the lag are the writer's.
function updateSubnets(frame) {
  for (const subnet of frame.subnets || []) {
    const tr = document.querySelector(`tr[data-subnet="${CSS.escape(subnet.name)}"]`);
    if (!tr) continue;
    const cell = (field) => tr.querySelector(`[data-field="${field}"]`);
    if (cell('height')) cell('height').textContent = exactCount(subnet.height);
    if (cell('committed')) {
      cell('committed').textContent = exactCount(subnet.committed_height);
      if (subnet.lag) cell('committed').append(' ', element('span', `(${subnet.lag} behind)`, 'muted small'));
    }
    if (cell('age')) cell('age').textContent = subnet.age_s === null ? '–' : `${subnet.age_s.toFixed(1)} s`;
    if (cell('lease')) {
      const lease = cell('lease');
      if (subnet.lease_holder) {
        lease.replaceChildren(`${subnet.lease_holder} `, element('span', `epoch ${subnet.lease_epoch}`, 'muted small'));
      } else if (subnet.lease_epoch !== null) {
        lease.replaceChildren(element('span', `free (epoch ${subnet.lease_epoch})`, 'muted'));
      } else {
        lease.replaceChildren(element('span', 'none', 'muted'));
      }
    }
  }
}

function updateCalls(frame) {
  const body = $('#calls');
  const rows = frame.calls.slice(0, 20).map((call) => {
    const tr = element('tr');
    const canister = element('td', label(frame, call.canister));
    canister.title = call.canister;
    tr.append(
      element('td', new Date(call.at * 1000).toISOString().slice(11, 19)),
      canister,
      element('td', call.method),
      element('td', call.kind, 'dash-secondary'),
      element('td', call.status, call.status === 'rejected' ? 'dash-rejected' : ''),
      element('td', call.latency_ms.toFixed(1), 'num'),
    );
    if (call.reject) tr.title = call.reject;
    return tr;
  });
  if (!rows.length) {
    const empty = element('td', 'No calls since the replica started.', 'muted');
    empty.colSpan = 6;
    rows.push(element('tr'));
    rows[0].append(empty);
  }
  body.replaceChildren(...rows);
}

function updateTraps(frame) {
  const list = $('#traps');
  const items = frame.traps.map((trap) => {
    const li = element('li');
    const canister = element('strong', label(frame, trap.canister));
    canister.title = trap.canister;
    li.append(canister, ' in ', element('code', trap.method));
    if (trap.location) li.append(' at ', element('code', trap.location, 'dash-location'));
    li.append(element('pre', trap.message, 'small'));
    return li;
  });
  if (!items.length) items.push(element('li', 'No traps since the replica started.', 'muted'));
  list.replaceChildren(...items);
}

function show(frame) {
  frames.push(frame);
  while (frames.length > WINDOW) frames.shift();
  $('#figure-height').textContent = exactCount(frame.subnet_height);
  if (frames.length > 1) {
    const [a, b] = frames.slice(-2);
    $('#figure-rounds').textContent = formatRate(rate(a, b, (f) => f.rounds));
    $('#figure-messages').textContent = formatRate(rate(a, b, (f) => f.messages));
  }
  drawCharts(frame);
  updateRows(frame);
  updateSubnets(frame);
  updateCalls(frame);
  updateTraps(frame);
}

function status(text, kind) {
  const badge = element('span', text, `badge ${kind}`);
  $('#live-status').replaceChildren(badge);
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/ws/dashboard`);
  socket.addEventListener('open', () => status('live', 'badge-success'));
  socket.addEventListener('message', (event) => show(JSON.parse(event.data)));
  socket.addEventListener('close', () => {
    status('reconnecting…', 'badge-warning');
    setTimeout(connect, 2000);
  });
}

connect();
