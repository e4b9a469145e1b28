// The fj dashboard page: preact + htm (served from the htm package, no build step).
// Every value from users (labels, task names, errors, outputs) goes in as text: preact never parses it as HTML.
import { html, render, useEffect, useRef, useState } from '/page/preact-htm.js';
import { TaskForm } from '/page/form.js';
import { addSample, addShares, RateChart, ShareChart } from '/page/chart.js';

// The token arrives in the URL's fragment (never sent to the server) and stays in this tab only.
const fromHash = /[#&]token=([^&]+)/.exec(location.hash);
if (fromHash) {
  sessionStorage.setItem('fj-token', decodeURIComponent(fromHash[1]));
  history.replaceState(null, '', location.pathname + '#/');
}
const token = () => sessionStorage.getItem('fj-token') || '';

/** Calls the API; resolves to { ok, status, body }. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  if (token()) headers['x-fj-token'] = token();
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  return { ok: res.ok, status: res.status, body: data };
}

const qs = (o) =>
  new URLSearchParams(Object.entries(o).filter(([, v]) => v !== undefined && v !== '' && v !== null)).toString();

/** Live data for one topic: server-sent events, falling back to polling `pollPath` every 2 s when the stream fails. */
function useLive(params, pollPath, deps) {
  const [data, setData] = useState(null);
  const [mode, setMode] = useState('connecting');
  useEffect(() => {
    let timer,
      es,
      stopped = false;
    const poll = async () => {
      if (stopped) return;
      const r = await api(pollPath).catch(() => null);
      if (r && r.ok && !stopped) setData(r.body);
      timer = setTimeout(poll, 2000);
    };
    // The token never goes in the stream's URL (logs keep URLs): a one-use ticket, fetched with the token in a header, does.
    const open = async () => {
      let ticket;
      if (token()) {
        const r = await api('/api/events/ticket', { method: 'POST', body: {} }).catch(() => null);
        if (r && r.ok) ticket = r.body.ticket;
      }
      if (stopped) return;
      es = new EventSource(`/api/events?${qs({ ...params, ticket })}`);
      es.onmessage = (e) => {
        setMode('live');
        setData(JSON.parse(e.data));
      };
      es.onerror = () => {
        es.close();
        setMode('polling');
        poll();
      };
    };
    if (typeof EventSource === 'function') {
      open();
    } else {
      setMode('polling');
      poll();
    }
    return () => {
      stopped = true;
      es && es.close();
      clearTimeout(timer);
    };
  }, deps);
  return [data, mode];
}

const when = (ms) => (ms ? new Date(ms).toLocaleString() : '-');
// What a running job is doing (its coordinator's status record): fj jobs says `running (join)`, the page a word.
const PHASES = { setup: 'setting up', items: 'running items', join: 'joining' };
/** A job's state; while it runs, its phase beside it ("joining" during a slow join). */
const State = ({ s, phase }) =>
  html`<span class=${`state ${s}`} data-state=${s}>${s}</span>${
      s === 'running' && Object.hasOwn(PHASES, phase)
        ? html` <span class="phase" data-phase=${phase} title=${`phase: ${phase}`}>${PHASES[phase]}</span>`
        : null
    }`;
const Err = ({ r }) =>
  r && !r.ok ? html`<p class="error" role="alert">${(r.body && r.body.error) || `HTTP ${r.status}`}</p>` : null;

function Bar({ job }) {
  const total = job.total || 0;
  const pct = total ? (100 * job.done) / total : 0;
  const fpct = total ? (100 * job.failed) / total : 0;
  return html`<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax=${total} aria-valuenow=${job.done}>
    <div style=${`width:${pct}%`}></div>
    <div class="failed" style=${`left:${pct}%;width:${fpct}%`}></div>
  </div>`;
}

function Overview() {
  const [o] = useLive({ topic: 'overview' }, '/api/overview', []);
  const samples = useRef([]);
  const seen = useRef(null);
  if (o && !o.streamError && seen.current !== o) {
    seen.current = o;
    addSample(samples.current, Date.now(), o.itemsDone);
  }
  const [q, setQ] = useState(null);
  useEffect(() => {
    api('/api/queues').then(setQ);
  }, []);
  if (!o) return html`<p class="muted">Loading…</p>`;
  return html`<div class="cards">
      <div class="card">
        <div class="n" data-testid="workers-online">${o.workersOnline}</div>
        workers online
      </div>
      ${Object.entries(o.jobs || {}).map(
        ([s, n]) =>
          html`<div class="card">
            <div class="n">${n}</div>
            <${State} s=${s} />
          </div>`,
      )}
    </div>
    <${RateChart} samples=${samples.current} title="Items/s (all workers, since this page opened)" />
    <h3>Queues</h3>
    ${
      q && q.ok
        ? html`<table>
              <tr>
                <th>pool</th>
                <th>work queue</th>
                <th>consumers</th>
                <th>jobs queue</th>
                <th>dead letters</th>
              </tr>
              ${q.body.pools.map(
                (p) =>
                  html`<tr>
                    <td>${p.pool}</td>
                    <td>${p.work.messages}</td>
                    <td>${p.work.consumers}</td>
                    <td>${p.jobs.messages}</td>
                    <td>${p.dead.messages}</td>
                  </tr>`,
              )}
            </table>
            ${q.body.pools.filter((p) => p.dead.messages > 0).map((p) => html`<${DeadLetters} pool=${p.pool} key=${p.pool} />`)}`
        : html`<${Err} r=${q} />`
    }`;
}

/** A pool's dead letters: peek at the first ten (safe previews), purge after a second click. */
function DeadLetters({ pool }) {
  const [list, setList] = useState(null);
  const [sure, setSure] = useState(false);
  const [done, setDone] = useState(null);
  const path = `/api/queues/${encodeURIComponent(pool)}/dead`;
  return html`<div class="dead" data-dead=${pool}>
    <h3>Dead letters of ${pool}</h3>
    <div class="actions">
      <button class="plain" onClick=${() => api(path).then(setList)}>Peek</button> ${
        sure
          ? html`<button
              class="danger"
              onClick=${async () => {
                setSure(false);
                setDone(await api(`${path}/purge`, { method: 'POST', body: { confirm: pool } }));
                setList(null);
              }}
            >
              Really purge
            </button>`
          : html`<button class="danger" onClick=${() => setSure(true)}>Purge</button>`
      }
    </div>
    ${done ? (done.ok ? html`<p>${done.body.purged} purged.</p>` : html`<${Err} r=${done} />`) : null}
    ${
      list && list.ok
        ? html`<table>
              <tr>
                <th>#</th>
                <th>job</th>
                <th>task</th>
                <th>reason</th>
                <th>bytes</th>
                <th>preview</th>
              </tr>
              ${list.body.letters.map(
                (l) =>
                  html`<tr>
                    <td>${l.n}</td>
                    <td>${l.job}</td>
                    <td>${l.task}</td>
                    <td>${l.reason}</td>
                    <td>${l.bytes}</td>
                    <td><code>${l.preview}</code></td>
                  </tr>`,
              )}
            </table>
            <p class="muted">${list.body.count} in all.</p>`
        : html`<${Err} r=${list} />`
    }
  </div>`;
}

function Jobs() {
  const [f, setF] = useState({ state: '', task: '', label: '' });
  const [cursors, setCursors] = useState([]); // cursors of the pages before this one
  const before = cursors[cursors.length - 1];
  const [page, setPage] = useState(null);
  const [live] = useLive({ topic: 'jobs', ...f }, `/api/jobs?${qs(f)}`, [f.state, f.task, f.label]);
  useEffect(() => {
    if (before) api(`/api/jobs?${qs({ ...f, before })}`).then((r) => setPage(r.body));
  }, [before, f.state, f.task, f.label]);
  const data = before ? page : live;
  const [find, setFind] = useState('');
  const set = (k) => (e) => {
    setCursors([]);
    setF({ ...f, [k]: e.target.value });
  };
  return html`<div class="filters">
      <select aria-label="state" value=${f.state} onChange=${set('state')}>
        <option value="">any state</option>
        ${['scheduled', 'queued', 'running', 'succeeded', 'failed', 'cancelled'].map((s) => html`<option>${s}</option>`)}
      </select>
      <input aria-label="task" placeholder="task" value=${f.task} onChange=${set('task')} />
      <input aria-label="label" placeholder="label contains" value=${f.label} onChange=${set('label')} />
      <form
        onSubmit=${(e) => {
          e.preventDefault();
          if (find.trim()) location.hash = `#/job/${encodeURIComponent(find.trim())}`;
        }}
      >
        <input aria-label="job id" placeholder="find by id" value=${find} onInput=${(e) => setFind(e.target.value)} />
        <button class="plain">Go</button>
      </form>
    </div>
    ${
      !data
        ? html`<p class="muted">Loading…</p>`
        : data.streamError || data.error
          ? html`<p class="error">${data.streamError || data.error}</p>`
          : html`<table data-testid="jobs">
                <tr>
                  <th>id</th>
                  <th>state</th>
                  <th>task</th>
                  <th>progress</th>
                  <th>submitted</th>
                  <th>label</th>
                </tr>
                ${grouped(data.jobs).map(
                  (j) =>
                    html`<tr
                      data-job=${j.id}
                      class=${j.pipeline ? 'stage-row' : ''}
                      data-stage-of=${j.pipeline ? j.pipeline.id : undefined}
                    >
                      <td>
                        ${j.pipeline ? html`<span class="stage-mark" title=${`a stage of pipeline ${j.pipeline.id}`}>└ ${stageName(j.pipeline.stage)}</span> ` : null}<a
                          href=${`#/job/${encodeURIComponent(j.id)}`}
                          >${j.pipeline ? j.id.slice(j.pipeline.id.length) : j.id.slice(0, 8)}</a
                        >
                      </td>
                      <td><${State} s=${j.state} phase=${j.phase} /></td>
                      <td>${j.task}</td>
                      <td><${Bar} job=${j} /> ${j.done}${j.failed ? `+${j.failed}✗` : ''}/${j.total ?? '?'}</td>
                      <td>${when(j.submitted)}</td>
                      <td class="label">${j.label}</td>
                    </tr>`,
                )}
              </table>
              ${data.jobs.length === 0 ? html`<p class="muted">No jobs match.</p>` : null}
              <div class="actions">
                <button class="plain" disabled=${!cursors.length} onClick=${() => setCursors(cursors.slice(0, -1))}>
                  Newer
                </button>
                <button class="plain" disabled=${!data.more} onClick=${() => setCursors([...cursors, data.next])}>
                  Older
                </button>
              </div>`
    }`;
}

const stageName = (n) => (n === 0 ? 'on-error' : `stage ${n}`);

/** The list as the page shows it: newest first, but a pipeline's stage jobs each right under it, in stage order (on-error last). */
function grouped(jobs) {
  const listed = new Set(jobs.map((j) => j.id));
  const under = new Map();
  const of = (j) => j.pipeline && listed.has(j.pipeline.id);
  for (const j of jobs) if (of(j)) under.set(j.pipeline.id, [...(under.get(j.pipeline.id) || []), j]);
  const order = (j) => (j.pipeline.stage === 0 ? Infinity : j.pipeline.stage);
  return jobs.flatMap((j) => (of(j) ? [] : [j, ...(under.get(j.id) || []).sort((a, b) => order(a) - order(b))]));
}

/** A submitted pipeline's stages: each with its job (a link), its state and a bar of its job's items; the current one marked. */
function Stages({ stages }) {
  return html`<h3>Stages</h3>
    <table data-testid="stages">
      <tr>
        <th>#</th>
        <th>stage</th>
        <th>job</th>
        <th>state</th>
        <th>progress</th>
      </tr>
      ${stages.map(
        (t) =>
          html`<tr
            data-stage=${t.number}
            class=${t.current ? 'current' : ''}
            aria-current=${t.current ? 'step' : undefined}
          >
            <td>${t.number === 0 ? 'on-error' : t.number}</td>
            <td>${t.name}</td>
            <td>
              ${t.state === 'pending' || t.state === 'not run' ? html`<span class="muted">${t.job}</span>` : html`<a href=${`#/job/${encodeURIComponent(t.job)}`}>${t.job}</a>`}
            </td>
            <td><${State} s=${t.state} phase=${t.phase} /></td>
            <td>
              ${
                t.state === 'pending' || t.state === 'not run'
                  ? '-'
                  : html`<${Bar} job=${t} />
                      <span data-testid=${`stage-progress-${t.number}`}
                        >${t.done}${t.failed ? ` + ${t.failed} failed` : ''} of ${t.total ?? '?'}</span
                      >`
              }
            </td>
          </tr>`,
      )}
    </table>`;
}

function rateOf(samples) {
  if (samples.length < 2) return 0;
  const a = samples[0],
    b = samples[samples.length - 1];
  return b.t > a.t ? ((b.done + b.failed - a.done - a.failed) * 1000) / (b.t - a.t) : 0;
}

// eslint-disable-next-line complexity, max-lines-per-function -- the job page: each state of a job shows its own parts
function Job({ id }) {
  const [job, mode] = useLive({ topic: 'job', id }, `/api/jobs/${encodeURIComponent(id)}`, [id]);
  const samples = useRef([]);
  const history = useRef([]);
  const [act, setAct] = useState(null);
  const [sure, setSure] = useState(false);
  if (job && job.now && !job.gone) {
    const s = samples.current;
    if (!s.length || s[s.length - 1].t !== job.now) s.push({ t: job.now, done: job.done, failed: job.failed });
    while (s.length > 2 && job.now - s[0].t > 30000) s.shift();
    addSample(history.current, job.now, job.done + job.failed);
  }
  if (!job) return html`<p class="muted">Loading…</p>`;
  if (job.gone || job.streamError)
    return html`<p class="error">${job.streamError || `No job ${id}: unknown, forgotten, or its results expired.`}</p>`;
  const rate = rateOf(samples.current);
  const left = job.total == null ? null : job.total - job.done - job.failed;
  const eta = rate > 0 && left ? Math.round(left / rate) : null;
  const ended = ['succeeded', 'failed', 'cancelled'].includes(job.state);
  const post = async (what) => {
    setSure(false);
    const r = await api(`/api/jobs/${id}/${what}`, { method: 'POST', body: {} });
    setAct(r);
    if (r.ok && r.body.id && r.body.id !== id && (what === 'resubmit' || what === 'rerun-failed'))
      location.hash = `#/job/${r.body.id}`;
  };
  return html`<h2 class="label" data-testid="job-label">${job.label}</h2>
    <dl class="kv">
      <dt>id</dt>
      <dd>${job.id}</dd>
      <dt>task</dt>
      <dd>${job.task}</dd>
      <dt>state</dt>
      <dd><${State} s=${job.state} phase=${job.phase} /> <span class="muted">(${mode})</span></dd>
      ${
        job.stages
          ? html`<dt>stage</dt>
              <dd data-testid="pipeline-stage">
                ${job.stage || (ended ? `ended (${job.stages.filter((t) => t.state === 'succeeded').length} of ${job.stages.length} stages succeeded)` : '-')}
              </dd>`
          : html`<dt>progress</dt>
              <dd>
                <${Bar} job=${job} />
                <span data-testid="progress"
                  >${job.done}${job.failed ? ` + ${job.failed} failed` : ''} of ${job.total ?? '?'}</span
                >
                ${!ended && rate > 0 ? html` · ${rate.toFixed(1)} items/s${eta !== null ? ` · about ${eta} s left` : ''}` : null}
              </dd>`
      }
      ${
        job.pipeline
          ? html`<dt>pipeline</dt>
              <dd>
                ${stageName(job.pipeline.stage)} of
                <a href=${`#/job/${encodeURIComponent(job.pipeline.id)}`} data-testid="pipeline-of"
                  >${job.pipeline.id}</a
                >
              </dd>`
          : null
      }
      ${
        job.rerunOf
          ? html`<dt>re-run of</dt>
              <dd>
                failed items of
                <a href=${`#/job/${encodeURIComponent(job.rerunOf)}`} data-testid="rerun-of">${job.rerunOf}</a>
              </dd>`
          : null
      }
      <dt>retried</dt>
      <dd>${job.retried}</dd>
      <dt>coordinator</dt>
      <dd>${job.coordinator || '-'}</dd>
      <dt>submitted</dt>
      <dd>${when(job.submitted)}</dd>
      <dt>started</dt>
      <dd>${when(job.started)}</dd>
      <dt>finished</dt>
      <dd>${when(job.finished)}</dd>
      ${
        job.error
          ? html`<dt>error</dt>
              <dd class="error" data-testid="job-error">${job.error}</dd>`
          : null
      }
      ${
        job.stats
          ? html`<dt>wall time</dt>
              <dd>${(job.stats.wallMs / 1000).toFixed(1)} s, ${job.stats.messages} messages</dd>`
          : null
      }
    </dl>
    <div class="actions">
      ${
        !ended
          ? sure
            ? html`<button class="danger" onClick=${() => post('cancel')}>Really cancel</button
                ><button class="plain" onClick=${() => setSure(false)}>Keep it</button>`
            : html`<button class="danger" onClick=${() => setSure(true)}>
                Cancel ${job.stages ? 'pipeline' : 'job'}
              </button>`
          : null
      }
      ${!ended && job.stale ? html`<button class="plain" data-testid="resume" onClick=${() => post('resume')} title="no coordinator is attached: queue the job again, so a worker of its pool resumes it from its records">Resume</button>` : null}
      ${ended && job.kept !== null ? html`<button class="plain" data-testid="rerun-failed" onClick=${() => post('rerun-failed')} title=${`a new job that runs only the items without a result; the ${job.kept} kept results join in`}>Re-run failed items</button>` : null}
      ${ended && job.state !== 'succeeded' && !job.stages ? html`<button class="plain" data-testid="resubmit" onClick=${() => post('resubmit')} title="submit the same input again with the same task: every item, as a new job">Resubmit</button>` : null}
      <a href=${`/api/jobs/${job.id}/input`} download>input</a>
      ${job.hasOutput ? html`<a href=${`/api/jobs/${job.id}/output`} download data-testid="output-link">output</a>` : null}
    </div>
    <${Err} r=${act} />
    ${job.stages ? html`<${Stages} stages=${job.stages} />` : null}
    ${history.current.length > 1 && !job.stages ? html`<${RateChart} samples=${history.current} title="Items/s" />` : null}
    ${
      job.failures.length
        ? html`<h3>Failures</h3>
            <table data-testid="failures">
              <tr>
                <th>item</th>
                <th>attempts</th>
                <th>error</th>
              </tr>
              ${job.failures.map(
                (f) =>
                  html`<tr>
                    <td>${f.index}</td>
                    <td>${f.attempts}</td>
                    <td>
                      <details>
                        <summary>${f.error.message}</summary>
                        ${f.error.name}${f.error.code ? ` (${f.error.code})` : ''}
                        ${f.stack ? html` <${Stack} id=${job.id} index=${f.index} />` : null}
                      </details>
                    </td>
                  </tr>`,
              )}
            </table>`
        : null
    }
    ${job.hasOutput ? html`<${Output} id=${job.id} />` : null}`;
}

/** A failure's stack trace, fetched when asked for (GET /api/jobs/:id/failures/:index). */
function Stack({ id, index }) {
  const [r, setR] = useState(null);
  if (!r)
    return html`<button
      class="plain"
      data-testid=${`stack-${index}`}
      onClick=${() => api(`/api/jobs/${encodeURIComponent(id)}/failures/${index}`).then(setR)}
    >
      stack
    </button>`;
  if (!r.ok) return html`<${Err} r=${r} />`;
  return html`<pre class="stack" data-testid=${`stack-text-${index}`}>${r.body.error.stack}</pre>`;
}

function Output({ id }) {
  const [out, setOut] = useState(null);
  useEffect(() => {
    api(`/api/jobs/${id}/output`).then(setOut);
  }, [id]);
  if (!out) return null;
  const text = JSON.stringify(out.body, null, 2);
  const lines = text.split('\n').length;
  // Below the failures, folded when long: a large output does not push the rest of the page away.
  return html`<details class="output" data-testid="output-box" open=${lines <= 100}>
    <summary>
      <h3>Output</h3>
      <span class="muted">(${lines} lines${lines > 100 ? ', click to show' : ''})</span>
    </summary>
    <pre data-testid="output">${text.length > 20000 ? `${text.slice(0, 20000)}\n… (download for the rest)` : text}</pre>
  </details>`;
}

function Workers() {
  const [d] = useLive({ topic: 'workers' }, '/api/workers', []);
  if (!d) return html`<p class="muted">Loading…</p>`;
  const now = Date.now();
  const row = (w) =>
    html`<tr class=${w.quiet ? 'quiet' : ''} data-worker=${w.name}>
      <td>${w.name}</td>
      <td>${w.pool}</td>
      <td
        data-testid="worker-state"
        title=${w.state === 'warming' ? 'its threads are importing the tasks it serves; it takes no work yet' : 'takes work'}
      >
        ${w.state}
      </td>
      <td>${w.busy}/${w.concurrency}</td>
      <td>${w.itemsDone}</td>
      <td>${w.coordinating.length}/${w.maxJobs}</td>
      <td>${Math.round((now - w.sent) / 1000)} s ago</td>
      <td>
        ${w.scheduler ? html`<span class="flag">scheduler</span> ` : null}${w.quiet ? html`<span class="flag">quiet</span> ` : null}${w.staleTasks.length ? html`<span class="flag">stale code: ${w.staleTasks.join(', ')}</span>` : null}
      </td>
    </tr>`;
  const head = html`<tr>
    <th>name</th>
    <th>pool</th>
    <th>state</th>
    <th>busy</th>
    <th>items</th>
    <th>jobs</th>
    <th>heard</th>
    <th></th>
  </tr>`;
  const live = d.workers.filter((w) => !w.quiet),
    quiet = d.workers.filter((w) => w.quiet);
  return html`<table data-testid="workers">
      ${head}${live.map(row)}
    </table>
    ${live.length ? null : html`<p class="muted">No worker has sent a heartbeat lately.</p>`}
    <${Sharing} />
    ${
      quiet.length
        ? html`<h3>Gone quiet</h3>
            <table>
              ${head}${quiet.map(row)}
            </table>`
        : null
    }`;
}

/** Who holds each pool's slots now, Jain's index of their shares, and each job's share over time (polled every second). */
function Sharing() {
  const samples = useRef([]);
  const [d, setD] = useState(null);
  useEffect(() => {
    let timer,
      stopped = false;
    const load = async () => {
      const r = await api('/api/sharing').catch(() => null);
      if (stopped) return;
      if (r && r.ok) {
        addShares(samples.current, Date.now(), r.body);
        setD(r.body);
      }
      timer = setTimeout(load, 1000);
    };
    load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);
  if (!d) return null;
  const pools = d.pools.map((p) => p.pool);
  // A pool whose jobs ended keeps its chart while the page is open.
  for (const s of samples.current) for (const pool of Object.keys(s.pools)) if (!pools.includes(pool)) pools.push(pool);
  const now = new Map(d.pools.map((p) => [p.pool, p]));
  return html`<h3>Sharing</h3>
    ${pools.length ? null : html`<p class="muted">No job is running on a pool now.</p>`}
    ${pools.map((pool) => {
      const p = now.get(pool);
      const total = p ? p.jobs.reduce((n, j) => n + j.inFlight, 0) : 0;
      return html`<div data-sharing=${pool}>
        ${
          p
            ? html`<p>
                  Pool <b>${pool}</b>: Jain's index${' '}
                  <b data-testid="jain" title="1: an even split; 1/n: one job holds everything"
                    >${p.fairness.toFixed(2)}</b
                  >${' '} over ${p.counted} job(s) that could use more
                </p>
                <table data-testid="sharing">
                  <tr>
                    <th>job</th>
                    <th>tenant</th>
                    <th>priority</th>
                    <th>weight</th>
                    <th>in flight</th>
                    <th>share</th>
                  </tr>
                  ${p.jobs.map(
                    (j) =>
                      html`<tr data-job=${j.job}>
                        <td><a href=${`#/job/${encodeURIComponent(j.job)}`}>${j.job}</a></td>
                        <td>${j.tenant ?? '-'}</td>
                        <td>${j.priority}</td>
                        <td>${j.weight}</td>
                        <td>${j.inFlight}</td>
                        <td>${total ? `${Math.round((100 * j.inFlight) / total)} %` : '-'}</td>
                      </tr>`,
                  )}
                </table>`
            : html`<p>Pool <b>${pool}</b>: no job running now.</p>`
        }
        <${ShareChart} samples=${samples.current} pool=${pool} />
      </div>`;
    })}`;
}

function Schedules() {
  const [d, setD] = useState(null);
  useEffect(() => {
    const load = () => api('/api/schedules').then(setD);
    load();
    const timer = setInterval(load, 5000);
    return () => clearInterval(timer);
  }, []);
  if (!d) return html`<p class="muted">Loading…</p>`;
  const list = d.body.schedules ?? [];
  if (!list.length) return html`<p class="muted">No schedules. <code>fj schedule add</code> adds one.</p>`;
  return html`<table data-testid="schedules">
    <tr>
      <th>name</th>
      <th>task</th>
      <th>cron</th>
      <th>zone</th>
      <th>pool</th>
      <th>next</th>
      <th>last run</th>
      <th>job</th>
      <th></th>
    </tr>
    ${list.map(
      (s) =>
        html`<tr data-schedule=${s.name}>
          <td>${s.name}</td>
          <td>${s.task}</td>
          <td><code>${s.cron}</code></td>
          <td>${s.timezone ?? 'UTC'}</td>
          <td>${s.queue}</td>
          <td>${s.next ?? '-'}</td>
          <td>${s.last ? s.last.tick : '-'}</td>
          <td>
            ${
              s.last?.job
                ? html`<a href=${`#/job/${encodeURIComponent(s.last.job)}`}>${s.last.job}</a>`
                : s.last?.error
                  ? html`<span class="flag">not run: ${s.last.error}</span>`
                  : '-'
            }
          </td>
          <td>${s.paused ? html`<span class="flag">paused</span>` : null}</td>
        </tr>`,
    )}
  </table>`;
}

function Tasks({ name }) {
  const [d, setD] = useState(null);
  useEffect(() => {
    api('/api/tasks').then(setD);
  }, []);
  if (!d) return html`<p class="muted">Loading…</p>`;
  const task = name && d.body.tasks.find((t) => t.name === name);
  if (task)
    return html`<h2>${task.name}</h2>
      <p>${task.description}</p>
      <${TaskForm} task=${task} api=${api} />`;
  return html`<table>
    <tr>
      <th>task</th>
      <th>description</th>
    </tr>
    ${d.body.tasks.map(
      (t) =>
        html`<tr>
          <td><a href=${`#/tasks/${encodeURIComponent(t.name)}`}>${t.name}</a></td>
          <td>${t.description}</td>
        </tr>`,
    )}
  </table>`;
}

function TokenBox() {
  const [t, setT] = useState(token());
  if (t) return html`<span class="token muted">token set</span>`;
  return html`<form
    class="token"
    onSubmit=${(e) => {
      e.preventDefault();
      sessionStorage.setItem('fj-token', e.target.elements.t.value);
      setT(e.target.elements.t.value);
    }}
  >
    <input name="t" type="password" placeholder="token (for changes)" aria-label="token" />
    <button class="plain">Set</button>
  </form>`;
}

function App() {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  const [, view, arg] = hash.split('/');
  const page =
    view === 'jobs'
      ? html`<${Jobs} />`
      : view === 'job'
        ? html`<${Job} id=${decodeURIComponent(arg || '')} key=${arg} />`
        : view === 'workers'
          ? html`<${Workers} />`
          : view === 'schedules'
            ? html`<${Schedules} />`
            : view === 'tasks'
              ? html`<${Tasks} name=${arg && decodeURIComponent(arg)} key=${arg} />`
              : html`<${Overview} />`;
  const nav = (v, text) => html`<a href=${`#/${v}`} class=${view === v || (!view && !v) ? 'on' : ''}>${text}</a>`;
  return html`<header>
      <b>fj</b
      >${nav('', 'Overview')}${nav('jobs', 'Jobs')}${nav('workers', 'Workers')}${nav('schedules', 'Schedules')}${nav('tasks', 'Tasks')}<${TokenBox} />
    </header>
    <main>${page}</main>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the loading line goes
render(html`<${App} />`, root);
