// The pgferry console page: polls /api/state and draws it. Every value reaches the page
// through text nodes (el() below), never as HTML: queue names and payloads are user data.
const REFRESH_MS = 1000;
const $ = (id) => document.getElementById(id);
let write = false;
let selected = null; // { database, queue, consumer }

/** An element with attributes and children; strings and numbers become text nodes. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'onclick') node.addEventListener('click', v);
    else if (k === 'indent') node.style.marginLeft = `${v * 1.5}em`; // CSSOM: allowed by the CSP, unlike style=
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function table(headers, rows) {
  return el('table', {}, el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))), el('tbody', {}, rows));
}

const num = (v, attrs = {}) => el('td', { class: 'num', ...attrs }, v === null || v === undefined ? '-' : v);

function duration(s) {
  if (s === null || s === undefined) return '-';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function bytes(n) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

/** A payload as text: indented when it is JSON, as it is otherwise. */
function pretty(data) {
  if (data === null || data === undefined) return '(null)';
  try {
    return JSON.stringify(JSON.parse(data), null, 2);
  } catch {
    return data;
  }
}

const time = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

async function getJson(url) {
  const res = await fetch(url, { headers: { Accept: 'application/json' } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

/** POST an action with the token; the answer (or its error) is shown in the status line. */
async function act(view, name, args) {
  try {
    return await post(view, name, args);
  } catch (err) {
    $('status').textContent = `${name}: ${err.message}`;
    return false;
  }
}

async function post(view, name, args) {
  const res = await fetch(`/api/action/${encodeURIComponent(view)}/${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${$('token').value.trim()}` },
    body: JSON.stringify({ by: $('operator').value, args }),
  });
  const body = await res.json();
  await refresh();
  if (selected) await showConsumer(selected);
  $('status').textContent = res.ok ? '' : `${name}: ${body.error}`;
  return res.ok;
}

function actionButton(label, view, name, args, attrs = {}) {
  return el('button', { type: 'button', class: 'write-only', 'data-action': name, ...attrs, onclick: () => act(view, name, args) }, label);
}

function rotation(q) {
  const b = q.rotationBlocker;
  if (!b || b.kind === null) return 'due, nothing in the way';
  if (b.kind === 'not_due') return 'not due';
  return [el('span', { class: 'badge state-error' }, `blocked: ${b.kind}`), ' ', q.rotationBlockedBy ?? '', b.hint ? el('div', { class: 'muted' }, b.hint) : null];
}

function eventTables(q) {
  if (!q.eventTables) return el('span', { class: 'muted' }, `${q.ntables} (sizes need pgferry_admin)`);
  return q.eventTables.map((t) => el('div', { class: t.isCurrent ? 'current' : '' }, `${t.tableName}${t.isCurrent ? ' (current)' : ''}: ${bytes(t.bytes)}${t.estimatedRows === null ? '' : `, ~${Math.round(t.estimatedRows)} rows`}`));
}

function renderQueues(section) {
  const body = $('queues').querySelector('.body');
  if (!section.ok) return body.replaceChildren(el('p', { class: 'error' }, section.error));
  const parts = [];
  for (const db of section.data) {
    parts.push(el('h3', {}, `database ${db.database}`));
    if (db.error) parts.push(el('p', { class: 'error' }, db.error));
    if (!db.queues.length && !db.error) parts.push(el('p', { class: 'muted' }, '(no queues)'));
    for (const q of db.queues) {
      const args = { database: db.database, queue: q.queueName };
      parts.push(
        table(['queue', 'events/s', 'ticker lag', 'not ticked', 'last tick', 'ticker', 'rotation', 'event tables', 'retry', 'dead'], [
          el('tr', { 'data-queue': q.queueName },
            el('td', { class: 'queue-name' }, q.queueName),
            num(q.eventsPerSecond === null ? null : q.eventsPerSecond.toFixed(1)),
            num(duration(q.tickerLagSeconds)),
            num(q.eventsSinceTick),
            num(q.lastTickId),
            el('td', {}, q.tickerPaused ? el('span', { class: 'badge state-error' }, 'paused') : 'running',
              q.tickerPaused ? actionButton('resume', 'queues', 'resume-queue', args) : actionButton('pause', 'queues', 'pause-queue', args)),
            el('td', {}, rotation(q)),
            el('td', {}, eventTables(q)),
            num(q.retryPending),
            num(q.deadLetters)),
          q.statusError ? el('tr', {}, el('td', { colspan: 10, class: 'error' }, q.statusError)) : null,
        ]),
        table(['consumer', 'pending age', 'pending events', 'ticks behind', 'position', 'batch', 'retry', 'dead letters', ''],
          q.consumerList.map((c) =>
            el('tr', { 'data-consumer': c.consumerName, 'data-queue': q.queueName },
              el('td', { class: 'consumer-name' }, c.consumerName),
              num(duration(c.pendingAgeSeconds), { class: 'num pending-age' }),
              num(c.pendingEvents, { class: 'num pending-events' }),
              num(c.ticksBehind),
              num(c.lastTick),
              num(c.currentBatch === null ? null : `${c.currentBatch} (${duration(c.batchAgeSeconds)})`),
              num(c.retryPending),
              num(c.deadLetters, { class: 'num dead-letters' }),
              el('td', {}, el('button', { type: 'button', class: 'show-consumer', onclick: () => showConsumer({ ...args, consumer: c.consumerName }) }, 'details'))),
          )),
      );
    }
  }
  body.replaceChildren(...parts);
}

async function showConsumer(c) {
  selected = c;
  $('consumer').hidden = false;
  $('consumer-name').textContent = `${c.consumer} on ${c.queue} (${c.database})`;
  const params = new URLSearchParams({ database: c.database, queue: c.queue, consumer: c.consumer });
  let list;
  try {
    list = await getJson(`/api/read/queues/dead-letters?${params}`);
  } catch (err) {
    return $('dead-letters').replaceChildren(el('p', { class: 'error' }, err.message));
  }
  if (!list.length) return $('dead-letters').replaceChildren(el('p', { class: 'muted' }, '(no dead letters)'));
  $('dead-letters').replaceChildren(
    table(['id', 'when', 'event', 'type', 'retries', 'reason', ''], list.map((d) =>
      el('tr', { 'data-dead-letter': d.id },
        num(d.id), el('td', {}, time(d.time)), num(d.eventId), el('td', {}, d.type ?? '-'), num(d.retry), el('td', {}, d.reason ?? '-'),
        el('td', {},
          el('button', { type: 'button', class: 'inspect', onclick: () => { $('payload').textContent = pretty(d.data); } }, 'inspect'),
          actionButton('replay', 'queues', 'replay-dead-letters', { database: c.database, queue: c.queue, consumer: c.consumer, ids: [d.id] }))))),
  );
}

function copyProgress(t) {
  const p = t.copy;
  if (!p) return '-';
  const done = p.committedRows ?? p.rows;
  const pct = p.percent ?? (p.estimatedRows ? Math.min((100 * p.rows) / p.estimatedRows, 100) : null);
  return [
    pct === null ? null : el('progress', { max: 100, value: pct.toFixed(1) }),
    ` ${done}${p.estimatedRows ? ` / ~${p.estimatedRows}` : ''} rows`,
    pct === null ? '' : ` (${pct.toFixed(1)}%)`,
    `, ${bytes(p.bytes)}, ${Math.round(p.rate)} rows/s`,
    t.state === 'in-copy' && p.etaSeconds !== null ? `, ETA ${duration(p.etaSeconds)}` : '',
  ];
}

function cascadeTree(nodes) {
  return el('ul', { class: 'cascade' }, nodes.map((n) =>
    el('li', { class: 'tree-node', 'data-node': n.node, indent: n.depth },
      `${n.depth ? '└─ ' : ''}${n.node} (${n.type ?? '?'})`,
      n.provider ? ` ← ${n.provider}` : '',
      n.appliedTick !== null ? `, tick ${n.appliedTick}` : '',
      n.lagSeconds !== null ? `, hop lag ${duration(n.lagSeconds)}, ~${n.pendingEvents} pending` : '',
      n.lastError ? el('span', { class: 'error' }, ` error: ${n.lastError}`) : '',
      n.unreachable ? el('span', { class: 'error' }, ` unreachable: ${n.unreachable}`) : '')));
}

function renderReplication(section) {
  $('replication').hidden = false;
  const body = $('replication').querySelector('.body');
  if (!section.ok) return body.replaceChildren(el('p', { class: 'error' }, section.error));
  const parts = [];
  for (const s of section.data) {
    parts.push(el('h3', {}, `subscription ${s.subscription}`));
    if (s.cascade) parts.push(cascadeTree(s.cascade));
    if (s.cascadeError) parts.push(el('p', { class: 'error' }, `cascade: ${s.cascadeError}`));
    if (s.statusError) parts.push(el('p', { class: 'error' }, s.statusError));
    const st = s.status;
    if (!st) continue;
    parts.push(el('p', { class: 'subscription-summary' },
      `queue ${st.queue}, tick ${st.appliedTick ?? '-'}, ${st.eventsApplied} events applied`,
      st.lagSeconds !== null ? `, lag ${duration(st.lagSeconds)}, ~${st.pendingEvents} pending` : '',
      st.currentBatch !== null ? `, batch ${st.currentBatch} open ${duration(st.batchAgeSeconds)}` : ''));
    if (st.lastError) parts.push(el('p', { class: 'error' }, `error: ${st.lastError}`));
    if (st.providerError) parts.push(el('p', { class: 'error' }, `provider: ${st.providerError}`));
    parts.push(table(['table', 'state', 'handler', 'copy', 'error', ''], st.tables.map((t) => {
      const state = t.lastError ? 'error' : t.state;
      return el('tr', { 'data-table': t.source },
        el('td', {}, t.source === t.dest ? t.source : `${t.source} → ${t.dest}`),
        el('td', {}, el('span', { class: `badge table-state state-${state}` }, t.lastError ? `${t.state}, error` : t.state)),
        el('td', {}, t.handler),
        el('td', { class: 'copy-progress' }, copyProgress(t)),
        el('td', { class: 'error table-error' }, t.lastError ? [t.lastError, el('div', { class: 'muted' }, `${t.errors} error(s), last ${time(t.lastErrorAt)}`)] : ''),
        el('td', {}, actionButton('resync', 'replication', 'resync-table', { subscription: s.subscription, table: t.source })));
    })));
  }
  body.replaceChildren(...parts);
}

function renderActions(entries) {
  const body = $('actions').querySelector('.body');
  if (!entries.length) return body.replaceChildren(el('p', { class: 'muted' }, write ? '(none yet)' : '(read-only console: no actions)'));
  body.replaceChildren(table(['when', 'who', 'from', 'action', 'arguments', 'result'], entries.map((e) =>
    el('tr', { 'data-action-entry': e.id, class: e.ok ? '' : 'error' },
      el('td', {}, time(e.at)), el('td', { class: 'action-by' }, e.by), el('td', {}, e.from),
      el('td', { class: 'action-name' }, `${e.view}/${e.action}`), el('td', {}, JSON.stringify(e.args)),
      el('td', { class: 'action-result' }, e.ok ? JSON.stringify(e.result) : `failed: ${e.error}`)))));
}

async function refresh() {
  try {
    const s = await getJson('/api/state');
    write = s.write;
    document.body.classList.toggle('write', write);
    $('credentials').hidden = !write;
    $('title').textContent = s.title;
    document.title = s.title;
    $('mode').textContent = write ? 'actions allowed (token)' : 'read-only';
    $('updated').textContent = `updated ${time(s.generatedAt)}`;
    if (s.sections.queues) renderQueues(s.sections.queues);
    if (s.sections.replication) renderReplication(s.sections.replication);
    renderActions(s.actions);
    if ($('status').textContent.startsWith('cannot refresh')) $('status').textContent = '';
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes ?? 0) + 1);
  } catch (err) {
    $('status').textContent = `cannot refresh: ${err.message}`;
  }
}

function consumerAction(name, extra = {}) {
  if (selected) void act('queues', name, { ...selected, ...extra });
}

$('replay-all').addEventListener('click', () => consumerAction('replay-dead-letters'));
$('purge-all').addEventListener('click', () => consumerAction('purge-dead-letters'));
$('rewind').addEventListener('click', () => consumerAction('rewind-consumer', { time: $('rewind-time').value.trim() }));
$('credentials').addEventListener('submit', (e) => e.preventDefault());

async function loop() {
  await refresh();
  setTimeout(loop, REFRESH_MS);
}
void loop();
