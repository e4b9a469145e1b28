// An items/s chart (uPlot, served from its npm package) of samples the page has seen: [{t: ms, n: items so far}].
// The page keeps at most MAX samples, so a page left open for days holds no more than this.
import { html, useEffect, useRef } from '/page/preact-htm.js';
import uPlot from '/page/uplot.js';

export const MAX = 600;

/** Adds a sample to `list` (kept at most MAX long) when it moved on in time. */
export function addSample(list, t, n) {
  if (!list.length || list[list.length - 1].t < t) list.push({ t, n });
  while (list.length > MAX) list.shift();
}

/** Items per second at each sample, over the 2 s before it (figures come in bursts: a narrower window shows spikes), as uPlot's [[x...], [y...]]. */
function series(samples) {
  const xs = [],
    ys = [];
  let j = 0;
  for (let i = 1; i < samples.length; i++) {
    const b = samples[i];
    while (j < i - 1 && b.t - samples[j + 1].t >= 2000) j++;
    const a = samples[j];
    xs.push(b.t / 1000);
    ys.push(Math.max(0, ((b.n - a.n) * 1000) / (b.t - a.t)));
  }
  return [xs, ys];
}

/** Tick spacings of the time axis, seconds: never below one. */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
const pad = (n) => String(n).padStart(2, '0');
/** A tick's label: the local time, `14:03:25`. */
export function clock(seconds) {
  const d = new Date(seconds * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function RateChart({ samples, title }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    plot.current = new uPlot(
      {
        width: Math.min(900, box.current.clientWidth || 600),
        height: 160,
        series: [{}, { label: 'items/s', stroke: '#2f6fdb', width: 2, fill: 'rgba(47,111,219,.12)' }],
        // Whole seconds at least between ticks, labelled as the clock reads (uPlot's default labels sub-second ticks `:24.250`).
        axes: [{ space: 70, incrs: TIME_STEPS, values: (_u, ticks) => ticks.map(clock) }, { size: 50 }],
        legend: { show: true },
      },
      series(samples),
      box.current,
    );
    return () => plot.current.destroy();
  }, []);
  useEffect(() => {
    plot.current && plot.current.setData(series(samples));
  });
  return html`<div class="chart">
    <h3>${title}</h3>
    <div ref=${box} data-testid="rate-chart"></div>
  </div>`;
}

/** Series colours, one per job (in the order the jobs were first seen). */
const COLOURS = ['#2f6fdb', '#d9534f', '#5cb85c', '#f0ad4e', '#8e44ad', '#16a085', '#7f8c8d', '#c0392b'];

/**
 * Adds what `/api/sharing` said (`body`) to `list`: per pool, each job's share
 * of the messages the pool's jobs hold in flight, in %, at the page's time.
 */
export function addShares(list, t, body) {
  const pools = {};
  for (const p of body.pools) {
    const total = p.jobs.reduce((n, j) => n + j.inFlight, 0);
    pools[p.pool] = Object.fromEntries(p.jobs.map((j) => [j.job, total ? (100 * j.inFlight) / total : 0]));
  }
  if (!list.length || list[list.length - 1].t < t) list.push({ t, pools });
  while (list.length > MAX) list.shift();
}

/** The jobs ever seen on `pool` in `samples`, in the order they were first seen. */
function jobsOf(samples, pool) {
  const seen = [];
  for (const s of samples) for (const job of Object.keys(s.pools[pool] ?? {})) if (!seen.includes(job)) seen.push(job);
  return seen;
}

/** Each job's share of `pool` (% of its messages in flight) over time, one line per job, since the page opened. */
export function ShareChart({ samples, pool }) {
  const box = useRef(null);
  const plot = useRef(null);
  const jobs = jobsOf(samples, pool);
  const key = jobs.join(' ');
  const data = () => [
    samples.map((s) => s.t / 1000),
    ...jobs.map((job) => samples.map((s) => (s.pools[pool] && job in s.pools[pool] ? s.pools[pool][job] : null))),
  ];
  // A job that appears needs a series of its own: the chart is made again.
  useEffect(() => {
    plot.current = new uPlot(
      {
        width: Math.min(900, box.current.clientWidth || 600),
        height: 160,
        scales: { y: { range: [0, 100] } },
        series: [
          {},
          ...jobs.map((job, i) => ({ label: job.slice(0, 8), stroke: COLOURS[i % COLOURS.length], width: 2 })),
        ],
        axes: [{ space: 70, incrs: TIME_STEPS, values: (_u, ticks) => ticks.map(clock) }, { size: 50 }],
        legend: { show: true },
      },
      data(),
      box.current,
    );
    return () => plot.current.destroy();
  }, [key]);
  useEffect(() => {
    plot.current && plot.current.setData(data());
  });
  return html`<div class="chart">
    <h3>Share of pool ${pool} (% of its messages in flight, since this page opened)</h3>
    <div ref=${box} data-testid="share-chart" data-jobs=${jobs.length} data-samples=${samples.length}></div>
  </div>`;
}
