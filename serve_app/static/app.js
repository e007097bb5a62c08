// The dashboard's entry point: hash routing, the API-key form, the header.

import { apiKey, onUnauthorized, setApiKey } from './api.js';
import { batchView } from './batch.js';
import { listView } from './list.js';
import { uploadView } from './upload.js';
import { clearMessages, h } from './ui.js';

const ROUTES = [
  [/^#?\/?$/, listView],
  [/^#\/new$/, uploadView],
  [/^#\/batches\/([^/]+)$/, batchView],
];

const main = document.getElementById('main');
let current = null; // the AbortController of the view on screen

function stopView() {
  current?.abort();
  current = new AbortController();
  clearMessages();
  main.replaceChildren();
  return current.signal;
}

function route() {
  const signal = stopView();
  const hash = location.hash || '#/';
  for (const [pattern, view] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      markNav(hash);
      view(main, signal, ...match.slice(1).map(decodeSafely));
      return;
    }
  }
  main.append(h('div', { class: 'card empty' }, h('h2', {}, 'Page not found'),
    h('a', { class: 'button', href: '#/' }, 'All batches')));
}

function decodeSafely(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a malformed %-escape: the API answers 404 for it
  }
}

function markNav(hash) {
  for (const link of document.querySelectorAll('.nav a')) {
    const here = link.getAttribute('href') === '#/new' ? hash === '#/new' : hash !== '#/new';
    link.classList.toggle('active', here);
  }
}

function renderKeyStatus() {
  const box = document.getElementById('key-status');
  const key = apiKey();
  box.replaceChildren(key ? h('span', { class: 'key-chip', title: 'Kept for this tab only (sessionStorage)' },
    `API key …${key.slice(-4)}`,
    h('button', { type: 'button', class: 'link-button', onclick: forgetKey }, 'Forget')) : '');
}

function forgetKey() {
  setApiKey('');
  renderKeyStatus();
  route();
}

/** Asked for when the API answers 401: the key is kept in sessionStorage for this tab. */
function askForKey(error) {
  if (document.getElementById('key-form')) return;
  stopView();
  const input = h('input', {
    type: 'password', name: 'api_key', autocomplete: 'off', required: true, placeholder: 'API key', id: 'api-key',
  });
  const form = h('form', { class: 'card form key-form', id: 'key-form' },
    h('h1', {}, 'API key needed'),
    h('p', { class: 'alert alert-error', role: 'alert' }, error.message),
    h('p', { class: 'muted' }, 'This server has API keys turned on. You will see the batches of the key you enter. ',
      'It is kept only in this browser tab and sent as Authorization: Bearer.'),
    h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'API key'), input),
    h('div', { class: 'button-row' }, h('button', { class: 'button primary', type: 'submit' }, 'Continue')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    setApiKey(input.value.trim());
    renderKeyStatus();
    route();
  });
  main.append(form);
  input.focus();
}

onUnauthorized((error) => {
  if (apiKey()) setApiKey(''); // the key in use is wrong: ask again
  renderKeyStatus();
  askForKey(error);
});
window.addEventListener('hashchange', route);
renderKeyStatus();
route();
