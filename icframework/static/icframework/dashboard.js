// The dashboard's live part: figures, charts and tables fed by the /ws/dashboard socket.
//
// The server sends a frame of cumulative counters each second (icframework.channels.dashboard);
// rates are the difference of two frames over their `clock`. Charts are small SVG polylines
// drawn here (no library, no inline style: colours come from dashboard.css classes). Every
// text from the replica is set with textContent, never parsed as HTML.

const WINDOW = 60; // frames kept for the charts: about a minute
const SERIES = 8; // colour classes in dashboard.css
const SVG = 'http://www.w3.org/2000/svg';
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

function rate(a, b, pick) {
  const seconds = b.clock - a.clock;
  return seconds > 0 ? Math.max(0, (pick(b) - pick(a)) / seconds) : 0;
}

function label(frame, id) {
  return frame.names[id] || (id.length > 12 ? `${id.slice(0, 11)}…` : id);
}

// One chart: `series` is [{ name, values }], each value a rate per frame pair.
function drawChart(svg, legend, series) {
  svg.replaceChildren();
  legend.replaceChildren();
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  series.forEach((s, index) => {
    const points = s.values.map((v, i) => `${(i * 300) / (WINDOW - 1)},${98 - (v / max) * 94}`);
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points.join(' '));
    line.setAttribute('class', `dash-line series-${index % SERIES}`);
    svg.append(line);
    const last = s.values.length ? s.values[s.values.length - 1] : 0;
    const key = element('span', `${s.name} ${formatRate(last)}/s`, `dash-key series-${index % SERIES}`);
    legend.append(key);
  });
  const top = document.createElementNS(SVG, 'text');
  top.setAttribute('x', '2');
  top.setAttribute('y', '10');
  top.setAttribute('class', 'dash-axis');
  top.textContent = formatRate(max);
  svg.append(top);
}

function pairs() {
  const out = [];
  for (let i = 1; i < frames.length; i += 1) out.push([frames[i - 1], frames[i]]);
  return out;
}

function drawCharts(last) {
  const steps = pairs();
  drawChart($('#chart-subnet'), $('#legend-subnet'), [
    { name: 'rounds', values: steps.map(([a, b]) => rate(a, b, (f) => f.rounds)) },
    { name: 'messages', values: steps.map(([a, b]) => rate(a, b, (f) => f.messages)) },
  ]);
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
    for (const field of ['cycles', 'memory', 'kv']) {
      const cell = tr.querySelector(`[data-field="${field}"]`);
      if (cell) cell.textContent = row[field] === null ? '–' : String(row[field]);
    }
  }
}

function updateCalls(frame) {
  const body = $('#calls');
  const rows = frame.calls.slice(0, 20).map((call) => {
    const tr = element('tr');
    tr.append(
      element('td', new Date(call.at * 1000).toLocaleTimeString()),
      element('td', label(frame, call.canister)),
      element('td', call.method),
      element('td', call.kind),
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
    li.append(element('strong', label(frame, trap.canister)), ' in ', element('code', trap.method));
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
  $('#figure-height').textContent = String(frame.subnet_height);
  if (frames.length > 1) {
    const [a, b] = frames.slice(-2);
    $('#figure-rounds').textContent = formatRate(rate(a, b, (f) => f.rounds));
    $('#figure-messages').textContent = formatRate(rate(a, b, (f) => f.messages));
  }
  drawCharts(frame);
  updateRows(frame);
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
