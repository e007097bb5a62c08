// The list of batches, newest first, with live progress bars.
//
// Live updates: the list is re-read every 5 s (one request however many
// batches there are, and new batches appear), and the newest running batches
// (at most 3) are followed on their event streams so their bars move
// smoothly. Not one stream per running batch: each stream holds an HTTP/1.1
// connection and browsers allow 6 per origin, so a stream per batch would
// starve the page's own requests once a handful run at once.

import { getJSON, isTerminal, watchBatch } from './api.js';
import {
  OPERATION_NAMES, clearMessages, doneItems, formatInt, formatWhen, h, progressBar, showError, statusBadge,
} from './ui.js';

const REFRESH_MS = 5000;
const MAX_STREAMS = 3;

function batchRow(status) {
  const bar = progressBar();
  const badge = h('td', { 'data-label': 'Status' });
  const counts = h('td', { class: 'num', 'data-label': 'Items' });
  const link = h('a', { href: `#/batches/${encodeURIComponent(status.batch_id)}`, class: 'batch-link' },
    status.batch_id);
  const row = h('tr', { 'data-batch-id': status.batch_id },
    h('td', { 'data-label': 'Batch' }, link, h('div', { class: 'muted small' }, status.model || '')),
    badge,
    h('td', { 'data-label': 'Operation' }, OPERATION_NAMES[status.operation] || status.operation || '—'),
    h('td', { class: 'progress-cell', 'data-label': 'Progress' }, bar),
    counts,
    h('td', { class: 'muted', 'data-label': 'Created', title: status.created_at || '' },
      formatWhen(status.created_at)));
  row.update = (s) => {
    badge.replaceChildren(statusBadge(s.status));
    bar.update(s);
    counts.textContent = `${formatInt(doneItems(s))} / ${formatInt(s.total_items)}`;
    if (s.failed_items) counts.append(h('div', { class: 'small failed-count' }, `${formatInt(s.failed_items)} failed`));
  };
  row.addEventListener('click', (event) => {
    if (event.target.closest('a')) return;
    location.hash = link.getAttribute('href');
  });
  row.update(status);
  return row;
}

function emptyState() {
  return h('div', { class: 'empty card' },
    h('h2', {}, 'No batches yet'),
    h('p', { class: 'muted' }, 'Upload a CSV, JSON, JSONL or text file to run an operation over every row.'),
    h('a', { class: 'button primary', href: '#/new' }, 'New batch'));
}

export function listView(root, signal) {
  const rows = new Map();
  const streams = new Map(); // batch_id -> AbortController
  const body = h('tbody');
  const table = h('table', { class: 'batches' },
    h('thead', {}, h('tr', {}, ['Batch', 'Status', 'Operation', 'Progress', 'Items', 'Created']
      .map((title) => h('th', {}, title)))),
    body);
  const content = h('div', { class: 'card table-card' }, h('p', { class: 'muted loading' }, 'Loading…'));
  root.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Batches'), h('p', { class: 'muted' }, 'Newest first. Progress updates live.')),
      h('a', { class: 'button primary', href: '#/new' }, 'New batch')),
    content);

  function follow(batches) {
    const wanted = new Set(batches.filter((s) => !isTerminal(s)).slice(0, MAX_STREAMS).map((s) => s.batch_id));
    for (const [id, controller] of streams) {
      if (!wanted.has(id)) {
        controller.abort();
        streams.delete(id);
      }
    }
    for (const id of wanted) {
      if (streams.has(id)) continue;
      const controller = new AbortController();
      signal.addEventListener('abort', () => controller.abort(), { once: true });
      streams.set(id, controller);
      watchBatch(id, { signal: controller.signal, onStatus: (s) => rows.get(id)?.update(s) })
        .catch(() => {}) // the next list refresh shows what became of it
        .finally(() => { if (streams.get(id) === controller) streams.delete(id); });
    }
  }

  function render(batches) {
    if (!batches.length) {
      content.replaceChildren(emptyState());
      return;
    }
    const order = batches.map((status) => {
      let row = rows.get(status.batch_id);
      if (!row) rows.set(status.batch_id, (row = batchRow(status)));
      else if (!streams.has(status.batch_id)) row.update(status); // a stream's news is fresher
      return row;
    });
    const listed = new Set(batches.map((status) => status.batch_id));
    for (const id of rows.keys()) if (!listed.has(id)) rows.delete(id); // expired or beyond the page
    body.replaceChildren(...order);
    if (!content.contains(table)) content.replaceChildren(table);
  }

  let failing = false;
  async function refresh() {
    if (document.hidden && rows.size) return; // nobody is looking; catch up when the tab is shown
    try {
      const { batches } = await getJSON('/api/batches?limit=100', { signal });
      if (failing) clearMessages();
      failing = false;
      render(batches);
      follow(batches);
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
      if (!failing) showError(err); // once, not every 5 s
      failing = true;
    }
  }

  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  const onVisible = () => { if (!document.hidden) refresh(); };
  document.addEventListener('visibilitychange', onVisible);
  signal.addEventListener('abort', () => {
    clearInterval(timer);
    document.removeEventListener('visibilitychange', onVisible);
  }, { once: true });
}
