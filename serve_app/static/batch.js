// One batch: counts by state, rate, ETA, tokens, cost, failures, downloads, cancel and retry,
// and its results (results.js): a preview, charts and the errors by type.
// Live: the batch's event stream (GET /api/batches/{id}/events), read with fetch().

import {
  apiKey, batchPath, downloadWithKey, getJSON, isTerminal, postJSON, watchBatch,
} from './api.js';
import { resultsView } from './results.js';
import {
  OPERATION_NAMES, formatCost, formatDuration, formatInt, formatRate, formatWhen, h, progressBar, showError,
  showNotice, stat, statusBadge,
} from './ui.js';

const FAILURE_SCAN = 1000; // items read to find failures to show
const FAILURE_SHOWN = 20;
const FAILURE_REFRESH_MS = 5000;

function downloads(batchId) {
  const link = (format, label) => {
    const path = batchPath(batchId, `/output?format=${format}`);
    const filename = `${batchId}.${format}`;
    return h('a', {
      class: 'button', href: path, download: filename, 'data-format': format,
      onclick: (event) => {
        if (!apiKey()) return; // a plain link: the browser streams it to disk
        event.preventDefault();
        downloadWithKey(path, filename).catch((err) => { if (err.status !== 401) showError(err); });
      },
    }, label);
  };
  return h('div', { class: 'button-row' }, link('json', 'JSON'), link('jsonl', 'JSONL'), link('csv', 'CSV'),
    link('parquet', 'Parquet'));
}

function failureTable(records) {
  return h('table', { class: 'failures' },
    h('thead', {}, h('tr', {}, h('th', { class: 'num' }, '#'), h('th', {}, 'ID'), h('th', {}, 'Error'),
      h('th', {}, 'Message'))),
    h('tbody', {}, records.map((r) => h('tr', { 'data-index': r.index },
      h('td', { class: 'num', 'data-label': '#' }, r.index),
      h('td', { 'data-label': 'ID' }, r.id ?? '—'),
      h('td', { 'data-label': 'Error' }, h('code', {}, r.error?.type || 'error')),
      h('td', { class: 'message', 'data-label': 'Message' }, r.error?.message || '')))));
}

export function batchView(root, signal, batchId) {
  let status = null;
  const title = h('h1', { class: 'batch-title' }, batchId);
  const badge = h('span');
  const subtitle = h('p', { class: 'muted' });
  const live = h('span', { class: 'live', 'data-state': 'idle' });
  const reason = h('div', { class: 'alert alert-warn', hidden: true });
  const bar = progressBar();
  const stats = {
    completed: stat('Completed', 'completed'),
    failed: stat('Failed', 'failed'),
    cancelled: stat('Cancelled', 'cancelled'),
    pending: stat('Pending', 'pending'),
    rate: stat('Items / s', 'rate'),
    eta: stat('ETA', 'eta'),
    tokens: stat('Tokens', 'tokens'),
    cost: stat('Estimated cost', 'cost'),
  };
  const cancel = h('button', { class: 'button danger', type: 'button' }, 'Cancel batch');
  const retry = h('button', { class: 'button', type: 'button' }, 'Retry failed items');
  const failures = h('section', { class: 'card', hidden: true, id: 'failures' });
  const results = resultsView(batchId, signal);

  root.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/' }, '← All batches')),
    h('div', { class: 'page-head' },
      h('div', {}, h('div', { class: 'title-row' }, title, badge, live), subtitle),
      h('div', { class: 'button-row' }, retry, cancel)),
    reason,
    h('section', { class: 'card' },
      h('div', { class: 'section-head' }, h('h2', {}, 'Progress')),
      bar,
      h('div', { class: 'stats' }, Object.values(stats))),
    h('section', { class: 'card' },
      h('div', { class: 'section-head' }, h('h2', {}, 'Results'),
        h('span', { class: 'muted small', id: 'partial-note' })),
      downloads(batchId)),
    ...results.sections,
    failures);

  function render(s) {
    status = s;
    badge.replaceChildren(statusBadge(s.status));
    const parts = [OPERATION_NAMES[s.operation] || s.operation, s.model, `${formatInt(s.total_items)} items`,
      `created ${formatWhen(s.created_at)}`];
    subtitle.textContent = parts.filter(Boolean).join(' · ');
    bar.update(s);
    const pending = Math.max(0, s.total_items - s.completed_items - s.failed_items - s.cancelled_items);
    stats.completed.set(formatInt(s.completed_items));
    stats.failed.set(formatInt(s.failed_items));
    stats.cancelled.set(formatInt(s.cancelled_items));
    stats.pending.set(formatInt(pending));
    stats.rate.set(formatRate(s.items_per_second));
    stats.eta.set(isTerminal(s) ? '—' : formatDuration(s.eta_seconds),
      s.finished_at ? `finished ${formatWhen(s.finished_at)}` : '');
    const usage = s.usage || {};
    stats.tokens.set(formatInt(usage.total_tokens),
      `${formatInt(usage.prompt_tokens)} in · ${formatInt(usage.completion_tokens)} out`);
    // The cost appears only when the server reports one.
    const hasCost = s.estimated_cost !== undefined && s.estimated_cost !== null;
    stats.cost.hidden = !hasCost;
    if (hasCost) {
      const projected = s.projected_cost ?? null;
      stats.cost.set(formatCost(s.estimated_cost),
        projected !== null && !isTerminal(s) ? `about ${formatCost(projected)} for all items` : '');
    }
    const why = s.reason || s.error?.message || (typeof s.error === 'string' ? s.error : '');
    reason.hidden = !why;
    reason.textContent = why ? `Reason: ${why}` : '';
    cancel.disabled = !['queued', 'processing'].includes(s.status);
    retry.disabled = !(isTerminal(s) && s.failed_items > 0);
    root.querySelector('#partial-note').textContent = s.status === 'completed' ? ''
      : 'Partial while the batch is not completed: pending items come back as pending.';
    scheduleFailures(s);
    results.update(s);
  }

  let shownFailures = -1;
  let failureTimer = null;
  function scheduleFailures(s) {
    if (s.failed_items === shownFailures || failureTimer) return;
    const wait = shownFailures < 0 || isTerminal(s) ? 0 : FAILURE_REFRESH_MS; // not on every event
    failureTimer = setTimeout(() => {
      failureTimer = null;
      loadFailures();
    }, wait);
  }
  signal.addEventListener('abort', () => clearTimeout(failureTimer), { once: true });

  async function loadFailures() {
    const count = status.failed_items;
    shownFailures = count;
    if (!count) {
      failures.hidden = true;
      return;
    }
    try {
      const page = await getJSON(batchPath(batchId, `/output?format=json&limit=${FAILURE_SCAN}`), { signal });
      const failed = page.results.filter((r) => r.status === 'failed');
      const scanned = page.results.length < page.total_items ? ` among the first ${formatInt(page.results.length)} items` : '';
      failures.replaceChildren(
        h('div', { class: 'section-head' }, h('h2', {}, 'Failed items'),
          h('span', { class: 'muted small' },
            `showing ${Math.min(failed.length, FAILURE_SHOWN)} of ${formatInt(count)}${scanned}`)),
        failed.length ? failureTable(failed.slice(0, FAILURE_SHOWN))
          : h('p', { class: 'muted' }, `No failures${scanned}; download the output to see them all.`));
      failures.hidden = false;
    } catch (err) {
      if (!signal.aborted && err.status !== 401) showError(err);
    }
    if (status.failed_items !== count) scheduleFailures(status);
  }

  let watching = null;
  function watch() {
    if (watching || isTerminal(status)) return;
    const controller = new AbortController();
    signal.addEventListener('abort', () => controller.abort(), { once: true });
    watching = controller;
    watchBatch(batchId, {
      signal: controller.signal,
      onStatus: render,
      onState: (state, error) => {
        live.dataset.state = state;
        live.textContent = { live: 'Live', reconnecting: 'Reconnecting…', ended: '' }[state] ?? '';
        live.title = error ? error.message : '';
      },
    }).catch((err) => showError(err))
      .finally(() => { if (watching === controller) watching = null; });
  }

  async function act(button, path, done) {
    button.disabled = true;
    try {
      render(await postJSON(batchPath(batchId, path), { signal }));
      showNotice(done);
      watch();
    } catch (err) {
      if (!signal.aborted && err.status !== 401) showError(err);
      if (status) render(status);
    }
  }
  cancel.addEventListener('click', () => act(cancel, '/cancel', 'Cancel requested: completed work is kept.'));
  retry.addEventListener('click', () => act(retry, '/retry', 'The failed items are queued again.'));

  getJSON(batchPath(batchId), { signal })
    .then((s) => { render(s); watch(); })
    .catch((err) => {
      if (signal.aborted || err.status === 401) return;
      showError(err);
      title.after(h('span', { class: 'muted' }, ' (not available)'));
    });
}
