// The dashboard's one way to the server: fetch with the API key, JSON errors, server-sent events.

const KEY_NAME = 'agentflow.apiKey';
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

export const isTerminal = (status) => TERMINAL.has(status.status);

export function apiKey() {
  return sessionStorage.getItem(KEY_NAME) || '';
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_NAME, key);
  else sessionStorage.removeItem(KEY_NAME);
}

/** An error answer of the API (`status` 0: the server could not be reached). */
export class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

let unauthorized = () => {};

/** `handler(error)` runs on every 401, so the page can ask for a key. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's error page): fall back to the status line
  }
  const message = body?.error?.message || `${response.status} ${response.statusText}`.trim();
  return new ApiError(response.status, message, body);
}

/** fetch() on this origin with `Authorization: Bearer <key>` when a key is set; throws ApiError. */
export async function apiFetch(path, { method = 'GET', headers = {}, body, signal } = {}) {
  const key = apiKey();
  const all = key ? { ...headers, authorization: `Bearer ${key}` } : headers;
  let response;
  try {
    response = await fetch(path, { method, headers: all, body, signal, cache: 'no-store' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, `cannot reach the AgentFlow server (${err.message})`);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) unauthorized(error);
    throw error;
  }
  return response;
}

export const getJSON = async (path, options) => (await apiFetch(path, options)).json();
export const postJSON = async (path, options) => (await apiFetch(path, { method: 'POST', ...options })).json();

export const batchPath = (batchId, rest = '') => `/api/batches/${encodeURIComponent(batchId)}${rest}`;

/**
 * The events of a text/event-stream body, as {type, data}.
 *
 * EventSource cannot send an Authorization header, so the stream is read with
 * fetch() and parsed here, following the WHATWG rules: lines end in CR, LF or
 * CRLF; a blank line dispatches; `:` starts a comment; one space after the
 * colon is dropped; several `data:` lines join with LF.
 */
export async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let type = '';
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // A trailing CR may be the first half of a CRLF split across chunks: keep it.
      const end = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
      const lines = buffer.slice(0, end).split(/\r\n|\r|\n/);
      buffer = lines.pop() + buffer.slice(end);
      for (const line of lines) {
        if (line === '') {
          if (data.length) yield { type: type || 'message', data: data.join('\n') };
          type = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'event') type = text;
        else if (field === 'data') data.push(text);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
});

/**
 * Follow a batch live from GET /api/batches/{id}/events until its `end` event
 * or until `signal` aborts. `onStatus(status)` gets every status; `onState`
 * gets 'live' | 'reconnecting' | 'ended' and, when reconnecting, the error.
 * When the stream breaks off (proxy timeout, server restart) the status is
 * read once to catch up, then the stream is opened again with back-off.
 */
export async function watchBatch(batchId, { onStatus, onState = () => {}, signal }) {
  let delay = 1000;
  while (!signal.aborted) {
    let problem = null;
    try {
      const response = await apiFetch(batchPath(batchId, '/events'), {
        signal, headers: { accept: 'text/event-stream' },
      });
      onState('live');
      delay = 1000;
      for await (const event of serverSentEvents(response.body)) {
        if (event.type === 'error') { // the batch can no longer be read (expired, removed)
          const body = JSON.parse(event.data);
          throw new ApiError(404, body?.error?.message || 'the batch can no longer be read', body);
        }
        if (event.type !== 'progress' && event.type !== 'end') continue;
        const status = JSON.parse(event.data);
        onStatus(status);
        if (event.type === 'end') {
          onState('ended');
          return status;
        }
      }
    } catch (err) {
      if (signal.aborted || err.name === 'AbortError') return null;
      if (err.status === 401) return null; // the page is asking for a key
      if (err.status === 404) throw err; // the batch is gone (expired, or never this key's)
      problem = err;
    }
    onState('reconnecting', problem);
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 15000);
    if (signal.aborted) return null;
    try {
      const status = await getJSON(batchPath(batchId), { signal });
      onStatus(status);
      if (isTerminal(status)) {
        onState('ended');
        return status;
      }
    } catch (err) {
      if (signal.aborted || err.name === 'AbortError' || err.status === 401) return null;
      if (err.status === 404) throw err; // the batch is gone (expired or never ours)
      onState('reconnecting', err);
    }
  }
  return null;
}

/**
 * Save an output download. Without a key a plain link streams to disk; with
 * one, the file is fetched with the header and saved from a Blob.
 */
export async function downloadWithKey(path, filename) {
  const blob = await (await apiFetch(path)).blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A random Idempotency-Key (crypto.randomUUID needs a secure context; this does not). */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return 'dash-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
