// A batch's results on its page: a paged preview (input columns beside the results), a bar chart per
// label or categorical field, items/s over the run, and the failed items grouped by error type.
// From GET /api/batches/{id}/output?format=json (paged) and GET /api/batches/{id}/summary.

import { batchPath, getJSON, isTerminal } from './api.js';
import { formatInt, formatRate, h, showError } from './ui.js';

const PAGE_ROWS = 20;
const REFRESH_MS = 5000; // while the batch runs, not on every progress event
const SVG = 'http://www.w3.org/2000/svg';

const svg = (tag, attrs = {}) => {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  return el;
};

function cellText(value) {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('; ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** The preview's columns: the input's, then the result's fields, then status and error. */
function previewColumns(records) {
  const inputs = [...new Set(records.flatMap((r) => Object.keys(r.input || {})))];
  const results = records.some((r) => r.result !== null && r.result !== undefined && typeof r.result !== 'object')
    ? ['result'] : [...new Set(records.flatMap((r) => Object.keys(r.result || {})))];
  return { inputs, results };
}

function previewTable(records) {
  const { inputs, results } = previewColumns(records);
  const resultOf = (r, key) => (key === 'result' && typeof r.result !== 'object' ? r.result : r.result?.[key]);
  const head = [
    h('th', { class: 'num' }, '#'),
    ...(inputs.length ? inputs : ['id']).map((name) => h('th', { class: 'input-col' }, name)),
    ...results.map((name) => h('th', { class: 'result-col' }, name)),
    h('th', {}, 'status'), h('th', {}, 'error')];
  const row = (r) => h('tr', { 'data-index': r.index },
    h('td', { class: 'num', 'data-label': '#' }, r.index),
    ...(inputs.length ? inputs.map((name) => h('td', { class: 'input-col', 'data-label': name },
      cellText(r.input?.[name]))) : [h('td', { 'data-label': 'id' }, r.id ?? '—')]),
    ...results.map((name) => h('td', { class: 'result-col', 'data-label': name }, cellText(resultOf(r, name)))),
    h('td', { 'data-label': 'status' }, h('span', { class: `row-status status-${r.status}` }, r.status)),
    h('td', { class: 'message', 'data-label': 'error' }, r.error ? `${r.error.type}: ${r.error.message}` : ''));
  return h('div', { class: 'table-scroll' }, h('table', { class: 'preview' },
    h('thead', {}, h('tr', {}, head)), h('tbody', {}, records.map(row))));
}

/** Horizontal bars: how many items got each value of one field. */
function valueChart({ field, counts, other_items: other }) {
  const rows = other ? [...counts, { value: '(other values)', items: other }] : counts;
  const most = Math.max(1, ...rows.map((c) => c.items));
  const total = rows.reduce((sum, c) => sum + c.items, 0) || 1;
  return h('figure', { class: 'chart value-chart', 'data-field': field },
    h('figcaption', {}, field),
    rows.map((c) => {
      const fill = h('span', { class: 'bar-fill' });
      fill.style.width = `${(100 * c.items) / most}%`;
      const label = c.value === null ? '(none)' : cellText(c.value);
      return h('div', { class: 'bar-row', 'data-value': label },
        h('span', { class: 'bar-label', title: label }, label),
        h('span', { class: 'bar-track' }, fill),
        h('span', { class: 'bar-count num' }, `${formatInt(c.items)} · ${Math.round((100 * c.items) / total)}%`));
    }));
}

/** A line of items/s over the run, in an SVG drawn here (no chart library). */
function rateChart(points) {
  const width = 640;
  const height = 160;
  const pad = { left: 48, right: 12, top: 12, bottom: 26 };
  const last = points[points.length - 1].seconds || 1;
  const top = Math.max(1, ...points.map((p) => p.items_per_second)) * 1.1;
  const x = (s) => pad.left + ((width - pad.left - pad.right) * s) / last;
  const y = (v) => height - pad.bottom - ((height - pad.top - pad.bottom) * v) / top;
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'rate-svg', role: 'img',
    'aria-label': 'Items per second over the run' });
  for (const fraction of [0, 0.5, 1]) {
    const value = top * fraction;
    chart.append(svg('line', { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), class: 'grid' }));
    const label = svg('text', { x: pad.left - 6, y: y(value) + 4, 'text-anchor': 'end', class: 'axis' });
    label.textContent = formatRate(value) === '—' ? '0' : formatRate(value);
    chart.append(label);
  }
  const coords = [[0, points[0].items_per_second], ...points.map((p) => [p.seconds, p.items_per_second])];
  chart.append(svg('polyline', { points: coords.map(([s, v]) => `${x(s)},${y(v)}`).join(' '), class: 'rate-line' }));
  const end = svg('text', { x: width - pad.right, y: height - 6, 'text-anchor': 'end', class: 'axis' });
  end.textContent = `${Math.round(last)} s`;
  chart.append(end);
  return h('figure', { class: 'chart rate-chart' }, h('figcaption', {}, 'Items / s over the run'), chart);
}

function errorGroups(groups) {
  return h('table', { class: 'error-groups' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Error'), h('th', { class: 'num' }, 'Items'), h('th', {}, 'Example'))),
    h('tbody', {}, groups.map((g) => h('tr', { 'data-error-type': g.type },
      h('td', { 'data-label': 'Error' }, h('code', {}, g.type)),
      h('td', { class: 'num', 'data-label': 'Items' }, formatInt(g.items)),
      h('td', { class: 'message', 'data-label': 'Example' }, g.example || '')))));
}

/** The results sections of a batch's page; call `.update(status)` with every status. */
export function resultsView(batchId, signal) {
  const preview = h('section', { class: 'card', id: 'preview', hidden: true });
  const charts = h('section', { class: 'card', id: 'charts', hidden: true });
  const errors = h('section', { class: 'card', id: 'error-groups', hidden: true });
  let offset = 0;
  let status = null;
  let timer = null;
  let loadedAt = -1;

  async function loadPreview() {
    const page = await getJSON(batchPath(batchId, `/output?format=json&offset=${offset}&limit=${PAGE_ROWS}`),
      { signal });
    const previous = h('button', { class: 'button', type: 'button', disabled: offset === 0 }, '← Previous');
    const next = h('button', { class: 'button', type: 'button', disabled: page.next_offset === null }, 'Next →');
    previous.addEventListener('click', () => { offset = Math.max(0, offset - PAGE_ROWS); refresh(); });
    next.addEventListener('click', () => { offset = page.next_offset; refresh(); });
    const shown = page.results.length ? `${formatInt(offset + 1)}–${formatInt(offset + page.results.length)}` : '0';
    preview.replaceChildren(
      h('div', { class: 'section-head' }, h('h2', {}, 'Preview'),
        h('span', { class: 'muted small', id: 'preview-range' }, `items ${shown} of ${formatInt(page.total_items)}`)),
      page.results.length ? previewTable(page.results) : h('p', { class: 'muted' }, 'No items yet.'),
      h('div', { class: 'button-row pager' }, previous, next));
    preview.hidden = false;
  }

  async function loadSummary() {
    const summary = await getJSON(batchPath(batchId, '/summary'), { signal });
    const figures = summary.values.filter((v) => v.counts.length).map(valueChart);
    if (summary.throughput.length) figures.push(rateChart(summary.throughput));
    charts.replaceChildren(h('div', { class: 'section-head' }, h('h2', {}, 'Results at a glance')),
      h('div', { class: 'charts' }, figures));
    charts.hidden = !figures.length;
    errors.replaceChildren(
      h('div', { class: 'section-head' }, h('h2', {}, 'Errors by type'),
        h('span', { class: 'muted small' }, `${formatInt(summary.failed_items)} failed items`)),
      errorGroups(summary.errors));
    errors.hidden = !summary.errors.length;
  }

  async function refresh() {
    try {
      await Promise.all([loadPreview(), loadSummary()]);
    } catch (err) {
      if (!signal.aborted && err.status !== 401) showError(err);
    }
  }

  function update(s) {
    status = s;
    const done = s.completed_items + s.failed_items + s.cancelled_items;
    if (timer && isTerminal(s)) { // the end came while waiting: show it now
      clearTimeout(timer);
      timer = null;
    }
    if (done === loadedAt || timer) return;
    const wait = loadedAt < 0 || isTerminal(s) ? 0 : REFRESH_MS;
    timer = setTimeout(() => {
      timer = null;
      loadedAt = status.completed_items + status.failed_items + status.cancelled_items;
      refresh();
    }, wait);
  }
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });

  return { sections: [preview, charts, errors], update };
}
