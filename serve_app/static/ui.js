// DOM building and formatting shared by the views. Text always goes in as text, never as HTML.

/** h('a', {href, class, onclick}, ...children): an element; null/false children and attributes are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const flash = () => document.getElementById('flash');

/** Show an API error's message (error.message) to the user until dismissed or the page changes. */
export function showError(error) {
  const message = typeof error === 'string' ? error : error.message || String(error);
  const close = h('button', { class: 'alert-close', type: 'button', 'aria-label': 'Dismiss' }, '×');
  const alert = h('div', { class: 'alert alert-error', role: 'alert' }, h('span', {}, message), close);
  close.addEventListener('click', () => alert.remove());
  flash().append(alert);
  return alert;
}

export function showNotice(message) {
  const alert = h('div', { class: 'alert alert-info', role: 'status' }, message);
  flash().append(alert);
  setTimeout(() => alert.remove(), 5000);
}

export function clearMessages() {
  flash().replaceChildren();
}

export const formatInt = (n) => (n ?? 0).toLocaleString('en-US');

export function formatRate(perSecond) {
  if (!perSecond) return '—';
  return perSecond >= 100 ? `${Math.round(perSecond).toLocaleString('en-US')}/s` : `${perSecond.toFixed(1)}/s`;
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatCost(usd) {
  if (usd === null || usd === undefined) return '—';
  if (usd === 0) return '$0.00';
  return usd < 0.01 ? `$${usd.toPrecision(2)}` : `$${usd.toFixed(usd < 10 ? 3 : 2)}`;
}

export function formatWhen(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  const seconds = (Date.now() - date.getTime()) / 1000;
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return date.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}

export const OPERATION_NAMES = { label: 'classify', summarize: 'summarize', extract: 'extract', enrich: 'enrich', run: 'run' };

export function statusBadge(state) {
  return h('span', { class: `badge status-${state}`, 'data-status': state }, state);
}

/** Items that reached a terminal state (what the progress bar fills with). */
export const doneItems = (s) => s.completed_items + s.failed_items + s.cancelled_items;

/** A stacked bar: completed, failed and cancelled items as shares of the total. */
export function progressBar() {
  const segments = ['completed', 'failed', 'cancelled'].map((part) => h('span', { class: `segment ${part}` }));
  const bar = h('div', {
    class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0',
  }, segments);
  const label = h('span', { class: 'progress-label' }, '0%');
  const wrap = h('div', { class: 'progress-wrap' }, bar, label);
  wrap.update = (status) => {
    const total = status.total_items || 0;
    const parts = [status.completed_items, status.failed_items, status.cancelled_items];
    parts.forEach((n, i) => { segments[i].style.width = total ? `${(100 * n) / total}%` : '0%'; });
    const percent = status.progress_percentage ?? 0;
    bar.setAttribute('aria-valuenow', String(percent));
    bar.classList.toggle('running', status.status === 'processing' || status.status === 'queued');
    label.textContent = `${percent % 1 === 0 ? percent.toFixed(0) : percent.toFixed(1)}%`;
  };
  return wrap;
}

/** A labelled figure of the batch page; `.set(text, hint)` changes it. */
export function stat(label, name) {
  const value = h('div', { class: 'stat-value' }, '—');
  const hint = h('div', { class: 'stat-hint' });
  const box = h('div', { class: `stat stat-${name}`, 'data-stat': name }, h('div', { class: 'stat-label' }, label),
    value, hint);
  box.set = (text, hintText = '') => {
    value.textContent = text;
    hint.textContent = hintText;
  };
  return box;
}
