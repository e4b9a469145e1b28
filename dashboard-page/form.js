// The submit form of a task, generated from its JSON schema: strings, numbers, integers, booleans, enums,
// and arrays of those (one value per line); an array of anything else as a JSON array or one JSON value per
// line; anything else, or the whole input, as raw JSON.
// The server's JSON-path problems (`/documents/1: must be string`) are shown beside the field they name.
import { html, useState } from '/page/preact-htm.js';

const simple = (s) => s && (s.enum || ['string', 'number', 'integer', 'boolean'].includes(s.type));
const fieldable = (s) => simple(s) || (s && s.type === 'array' && simple(s.items || {}));

/** The top-level property a JSON path names (`/documents/1` -> `documents`), decoding `~1` and `~0`. */
function fieldOf(problem) {
  const m = /^\/([^/:]*)/.exec(problem);
  return m ? m[1].replace(/~1/g, '/').replace(/~0/g, '~') : '';
}

function parseScalar(s, text) {
  if (s.type === 'number' || s.type === 'integer') return text.trim() === '' ? undefined : Number(text);
  if (s.enum && typeof s.enum[0] !== 'string') {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

const jsonOr = (text) => {
  try {
    return JSON.parse(text);
  } catch {
    return text; // the server names what is wrong with it
  }
};

/** An array field of objects (or arrays): a JSON array, or one JSON value per line. */
function jsonLines(text) {
  const whole = jsonOr(text);
  if (Array.isArray(whole)) return whole;
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(jsonOr);
}

/** The input the fields describe: empty fields are left out (the schema's defaults apply on the server). */
function inputOf(props, values) {
  const input = {};
  for (const [k, s] of Object.entries(props)) {
    const v = values[k];
    if (!fieldable(s)) {
      if (v !== undefined && v.trim() !== '') input[k] = s.type === 'array' ? jsonLines(v) : jsonOr(v);
      continue;
    }
    if (s.type === 'boolean') {
      if (v !== undefined) input[k] = v;
      continue;
    }
    if (s.type === 'array') {
      if (v !== undefined && v !== '')
        input[k] = v
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => parseScalar(s.items || {}, l));
      continue;
    }
    const x = v === undefined || v === '' ? undefined : parseScalar(s, v);
    if (x !== undefined) input[k] = x;
  }
  return input;
}

function Field({ name, s, required, value, onValue, problems }) {
  const id = `f-${name}`;
  let control;
  if (s.enum)
    control = html`<select id=${id} name=${name} value=${value ?? ''} onChange=${(e) => onValue(e.target.value)}>
      <option value="">(default)</option>
      ${s.enum.map((o) => html`<option value=${String(o)}>${String(o)}</option>`)}
    </select>`;
  else if (s.type === 'boolean')
    control = html`<input
      id=${id}
      name=${name}
      type="checkbox"
      checked=${value ?? s.default ?? false}
      onChange=${(e) => onValue(e.target.checked)}
    />`;
  else if (s.type === 'array')
    control = html`<textarea
      id=${id}
      name=${name}
      placeholder=${fieldable(s) ? 'one value per line' : 'a JSON array, or one JSON value per line'}
      value=${value ?? ''}
      onInput=${(e) => onValue(e.target.value)}
    ></textarea>`;
  else if (simple(s))
    control = html`<input
      id=${id}
      name=${name}
      type=${s.type === 'string' ? 'text' : 'number'}
      step=${s.type === 'integer' ? '1' : 'any'}
      placeholder=${s.default === undefined ? '' : `default: ${s.default}`}
      value=${value ?? ''}
      onInput=${(e) => onValue(e.target.value)}
    />`;
  else
    control = html`<textarea
      id=${id}
      name=${name}
      placeholder="JSON"
      value=${value ?? ''}
      onInput=${(e) => onValue(e.target.value)}
    ></textarea>`;
  return html`<div class="field" data-field=${name}>
    <label for=${id}>${name}${required ? ' *' : ''}</label>${control}
    ${s.description ? html`<div class="help">${s.description}</div>` : null}
    ${problems.map((p) => html`<div class="error" data-testid=${`error-${name}`}>${p}</div>`)}
  </div>`;
}

/** The error's first line; when every problem it lists is shown beside its field, it says so rather than end on a colon. */
function summary(answer, others) {
  if (!answer.body) return `HTTP ${answer.status}`;
  const e = String(answer.body.error || '');
  return others.length || !/:\s*$/.test(e) ? e : `${e.replace(/:\s*$/, '')}: shown beside the field below`;
}

/** The job's own settings the form offers (fair shares and a start time), as typed: empty ones are not sent. */
const NO_SETTINGS = { priority: '', weight: '', tenant: '', at: '' };

/** The submit options the settings give: only those given; a local date and time as an instant (the server needs its offset). */
function optionsOf(s) {
  const options = {};
  if (s.priority.trim() !== '') options.priority = Number(s.priority);
  if (s.weight.trim() !== '') options.weight = Number(s.weight);
  if (s.tenant.trim() !== '') options.tenant = s.tenant.trim();
  if (s.at !== '') options.at = new Date(s.at).toISOString();
  return options;
}

/** The settings fieldset: priority, weight, tenant (see fj's "Sharing a pool") and when the job starts. */
function Settings({ value, onValue }) {
  const set = (k) => (e) => onValue({ ...value, [k]: e.target.value });
  return html`<fieldset class="settings">
    <legend>settings (optional)</legend>
    <label for="f-priority">priority</label
    ><input
      id="f-priority"
      type="number"
      step="1"
      min="-100"
      max="100"
      placeholder="0"
      value=${value.priority}
      onInput=${set('priority')}
    />
    <label for="f-weight">weight</label
    ><input
      id="f-weight"
      type="number"
      min="0"
      step="any"
      placeholder="1"
      value=${value.weight}
      onInput=${set('weight')}
    />
    <label for="f-tenant">tenant</label
    ><input id="f-tenant" placeholder="none" value=${value.tenant} onInput=${set('tenant')} />
    <label for="f-at">start at</label><input id="f-at" type="datetime-local" value=${value.at} onInput=${set('at')} />
  </fieldset>`;
}

/** The form for `task` ({name, description, schema}); `api` is the page's API caller. */
export function TaskForm({ task, api }) {
  const schema = task.schema || {};
  const props = schema.type === 'object' && schema.properties ? schema.properties : null;
  const [raw, setRaw] = useState(!props);
  const [values, setValues] = useState({});
  const [rawText, setRawText] = useState('{}');
  const [label, setLabel] = useState('');
  const [settings, setSettings] = useState(NO_SETTINGS);
  const [answer, setAnswer] = useState(null);
  const required = new Set(schema.required || []);
  const problems = (answer && !answer.ok && answer.body && answer.body.problems) || [];
  const byField = (k) => problems.filter((p) => fieldOf(p) === k);
  const others = raw ? problems : problems.filter((p) => !props || !(fieldOf(p) in props));
  const submit = async (e) => {
    e.preventDefault();
    let input;
    if (raw) {
      try {
        input = JSON.parse(rawText);
      } catch (err) {
        setAnswer({ ok: false, body: { error: `not JSON: ${err.message}`, problems: [] } });
        return;
      }
    } else input = inputOf(props, values);
    const r = await api('/api/jobs', {
      method: 'POST',
      body: { task: task.name, input, label: label || undefined, options: optionsOf(settings) },
    });
    setAnswer(r);
    if (r.ok) location.hash = `#/job/${r.body.id}`;
  };
  const upload = async (e) => {
    const f = e.target.files[0];
    if (f) {
      setRawText(await f.text());
      setRaw(true);
    }
  };
  return html`<form data-testid="task-form" onSubmit=${submit} novalidate>
    <div class="field">
      <label for="f-label">label</label
      ><input id="f-label" value=${label} placeholder=${task.description} onInput=${(e) => setLabel(e.target.value)} />
    </div>
    ${
      raw
        ? html`<div class="field">
            <label for="f-raw">input (JSON)</label
            ><textarea id="f-raw" value=${rawText} onInput=${(e) => setRawText(e.target.value)}></textarea>
          </div>`
        : Object.entries(props).map(
            ([k, s]) =>
              html`<${Field}
                name=${k}
                s=${s}
                required=${required.has(k)}
                value=${values[k]}
                onValue=${(v) => setValues({ ...values, [k]: v })}
                problems=${byField(k)}
              />`,
          )
    }
    <${Settings} value=${settings} onValue=${setSettings} />
    <div class="actions">
      <button type="submit">Submit job</button>
      ${
        props
          ? html`<button
              type="button"
              class="plain"
              onClick=${() => {
                if (!raw) setRawText(JSON.stringify(inputOf(props, values), null, 2));
                setRaw(!raw);
              }}
            >
              ${raw ? 'Use the form' : 'Edit as JSON'}
            </button>`
          : null
      }
      <label class="muted"
        >or a JSON file <input type="file" accept=".json,application/json" onChange=${upload}
      /></label>
    </div>
    ${answer && !answer.ok ? html`<div class="error" role="alert" data-testid="form-error">${summary(answer, others)}${others.map((p) => html`<div>${p}</div>`)}</div>` : null}
  </form>`;
}
