// The upload form: a file and an operation with its fields -> POST /api/files -> the new batch's page.

import { apiFetch, newIdempotencyKey } from './api.js';
import { clearMessages, h, showError } from './ui.js';

const OPERATIONS = [
  ['classify', 'Classify', 'Put each row in one (or several) of your categories.'],
  ['summarize', 'Summarize', 'Summarize each row, following your instructions.'],
  ['extract', 'Extract', 'Pull structured fields out of each row.'],
  ['enrich', 'Enrich', 'Add typed fields (categorical, numeric, boolean, …) to each row.'],
  ['run', 'Custom prompt', 'Any system prompt and user prompt template.'],
];

const ENRICH_EXAMPLE = JSON.stringify([
  { name: 'segment', type: 'categorical', description: 'Market segment', valid_values: ['enterprise', 'smb'] },
  { name: 'employees', type: 'integer', description: 'Head count, if stated' },
], null, 2);

function field(label, control, help = '') {
  const hint = help instanceof Node ? help : help ? h('span', { class: 'field-help' }, help) : null;
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control, hint);
}

function check(name, label) {
  return h('label', { class: 'check' }, h('input', { type: 'checkbox', name, value: 'true' }), h('span', {}, label));
}

/** The form fields of each operation (only the chosen operation's are sent). */
function operationFields() {
  const text = (name, placeholder, rows = 3, required = false) =>
    h('textarea', { name, rows: String(rows), placeholder, required });
  return {
    classify: [
      field('Categories', h('input', { name: 'categories', required: true, placeholder: 'positive, negative, mixed' }),
        'Comma-separated.'),
      check('multi_label', 'Several categories may apply to one row'),
    ],
    summarize: [field('Summary instructions', text('summary_instructions', 'Key decisions and action items, under 100 words.'))],
    extract: [field('Extraction instructions',
      text('extraction_instructions', 'Extract: person_name, company, seat_count', 3, true),
      'Field names listed after "Extract:" are required in every answer.')],
    enrich: [
      field('Fields (JSON)', text('fields', ENRICH_EXAMPLE, 7, true), 'A list of {name, type, description, valid_values?}.'),
      check('include_context', 'Include each row\'s other columns in the prompt'),
    ],
    run: [
      field('System prompt', text('system_prompt', 'You analyze customer feedback for product teams.')),
      field('User prompt template', text('user_prompt_template', 'Feedback:\n\n{content}\n\nList the feature requests.', 4, true),
        '{content} is the row\'s text; {column} is any other column.'),
    ],
  };
}

export function uploadView(root, signal) {
  const groups = operationFields();
  const select = h('select', { name: 'operation', id: 'operation' },
    OPERATIONS.map(([value, label]) => h('option', { value }, label)));
  const about = h('span', { class: 'field-help' });
  const sections = Object.fromEntries(Object.entries(groups).map(([op, fields]) =>
    [op, h('div', { class: 'op-fields', 'data-operation': op }, fields)]));
  const submit = h('button', { class: 'button primary', type: 'submit' }, 'Start batch');
  const form = h('form', { class: 'card form', id: 'upload-form', novalidate: false },
    field('File', h('input', { type: 'file', name: 'file', required: true, accept: '.csv,.json,.jsonl,.ndjson,.txt,.parquet' }),
      'CSV, JSON, JSONL, Parquet or plain text (one item per line), up to 100 MB. Each row becomes an item.'),
    h('div', { class: 'field-row' },
      field('Operation', select, about),
      field('Model', h('input', { name: 'model', placeholder: 'default (e.g. openai/gpt-4.1-mini)' }),
        'provider/model; empty for the server\'s default.')),
    h('div', { class: 'field-row' },
      field('Text column', h('input', { name: 'content_column', placeholder: 'content' }),
        'The column holding each row\'s text.'),
      field('ID column', h('input', { name: 'id_column', placeholder: 'none' }),
        'Optional: comes back with each result.')),
    Object.values(sections),
    h('div', { class: 'button-row' }, submit, h('a', { class: 'button', href: '#/' }, 'Back to batches')));

  function showOperation() {
    for (const [op, section] of Object.entries(sections)) {
      const active = op === select.value;
      section.hidden = !active;
      // A hidden operation's fields are neither validated nor sent.
      for (const control of section.querySelectorAll('input, textarea')) control.disabled = !active;
    }
    about.textContent = OPERATIONS.find(([value]) => value === select.value)[2];
  }
  select.addEventListener('change', showOperation);
  showOperation();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearMessages();
    const data = new FormData();
    for (const [name, value] of new FormData(form)) {
      if (value instanceof File || String(value).trim() !== '') data.append(name, value);
    }
    submit.disabled = true;
    submit.textContent = 'Uploading…';
    try {
      const response = await apiFetch('/api/files', {
        method: 'POST', body: data, signal, headers: { 'idempotency-key': newIdempotencyKey() },
      });
      const created = await response.json();
      location.hash = `#/batches/${encodeURIComponent(created.batch_id)}`;
    } catch (err) {
      if (signal.aborted || err.status === 401) return;
      showError(err);
      const details = err.body?.error?.details;
      if (details?.length > 1) {
        showError(details.map((d) => `${d.field}: ${d.message}`).join('; '));
      }
    } finally {
      submit.disabled = false;
      submit.textContent = 'Start batch';
    }
  });

  root.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/' }, '← All batches')),
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'New batch'),
      h('p', { class: 'muted' }, 'Upload a file; every row is processed and comes back completed or failed with its error.'))),
    form);
}
