/**
 * The progress bar on a terminal's stderr, and every other line written to
 * stderr while it shows. The bar owns the last line of the screen; anything
 * else written to `process.stderr` (fj's logs, a task's `ctx.log` in this
 * thread, and worker threads' logs: Node pipes a worker thread's stderr into
 * the main thread's `process.stderr.write`) is cut into whole lines and
 * printed above the bar, which is then redrawn below them. A half line waits
 * for its end. When the bar stops it is cleared and, after a job, one summary
 * line stays in its place.
 */
import type { JobStats, Progress } from '../core/job-options.js';

/** What `fj run` drives: `onProgress` for `run()`, `stop()` to clear the bar (with the job's stats: leave a summary line). */
export interface ProgressBar {
  /** A function property, not a method: it is handed to `run()` on its own and uses no `this`. */
  onProgress: (p: Progress) => void;
  stop(stats?: Pick<JobStats, 'items' | 'failed' | 'retried' | 'wallMs'>): void;
}

/** Redraws at most this often (a log line redraws at once). */
const FRAME_MS = 100;
const CLEAR = '\r\x1b[2K';

/** Takes over `stream.write` (a TTY: `process.stderr`) until `stop()`; `label` is the task's name. */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  let started = Date.now(); // of the job, or of the pipeline stage the bar shows
  // eslint-disable-next-line @typescript-eslint/unbound-method -- the stream's own write, always called with the stream as `this` (raw, stop)
  const write = stream.write;
  const raw = (text: string) => write.call(stream, text);
  let line = '';
  let partial = '';
  let last: Progress | undefined;
  let drawnAt = 0;

  // Everything else written to the stream goes above the bar, whole lines only.
  stream.write = function (chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    const text =
      typeof chunk === 'string'
        ? chunk
        : Buffer.from(chunk as Uint8Array).toString(
            typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8',
          );
    partial += text;
    const end = partial.lastIndexOf('\n');
    if (end >= 0) {
      const lines = partial.slice(0, end + 1);
      partial = partial.slice(end + 1);
      raw(`${CLEAR}${lines}${line}`);
    }
    const done = typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') process.nextTick(done);
    return true;
  };

  function draw(force: boolean): void {
    if (!last) return;
    const now = Date.now();
    if (!force && now - drawnAt < FRAME_MS) return;
    drawnAt = now;
    line = fit(barText(label, last, now - started), stream.columns);
    raw(`${CLEAR}${line}`);
  }

  return {
    onProgress(p) {
      const phaseChanged = p.phase !== last?.phase || p.stage !== last?.stage;
      if (p.stage !== last?.stage) started = Date.now(); // a stage's rate and ETA are its own
      last = p;
      draw(phaseChanged); // a new phase always shows (a long join must not hide behind a skipped frame)
    },
    stop(stats) {
      stream.write = write;
      raw(`${CLEAR}${partial ? `${partial}\n` : ''}`);
      partial = '';
      if (stats) raw(`${summaryLine(label, stats)}\n`);
    },
  };
}

/**
 * `wordcount [######----] 25% | 10/40 items | 9/s | ETA 3s`, or `wordcount
 * 10 items | 9/s` with no total; `wordcount setup…` before the first item,
 * and `… | 40/40 items | join…` while `join` runs (the phase, when known).
 */
export function barText(name: string, { done, total, phase, stage }: Progress, elapsedMs: number): string {
  const label = stage ? `${name} [${stage}]` : name;
  if (phase === 'setup') return `${label} setup…`;
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const perSec = phase === 'join' ? 'join…' : `${Math.round(rate)}/s`;
  if (total === undefined || total <= 0) return `${label} ${done} items | ${perSec}`;
  if (phase === 'join') {
    const share = Math.min(1, done / total);
    return `${label} ${'\u2588'.repeat(Math.round(share * 30))}${'\u2591'.repeat(30 - Math.round(share * 30))} ${Math.floor(share * 100)}% | ${done}/${total} items | join…`;
  }
  const share = Math.min(1, done / total);
  const width = 30;
  const filled = Math.round(share * width);
  const eta = rate > 0 ? seconds(((total - done) / rate) * 1000) : '?';
  return `${label} ${'\u2588'.repeat(filled)}${'\u2591'.repeat(width - filled)} ${Math.floor(share * 100)}% | ${done}/${total} items | ${perSec} | ETA ${eta}`;
}

/** `fj: wordcount: 2000 items, 3 failed, 5 retried, 4.2 s`. */
export function summaryLine(label: string, s: Pick<JobStats, 'items' | 'failed' | 'retried' | 'wallMs'>): string {
  return `fj: ${label}: ${s.items} items, ${s.failed} failed, ${s.retried} retried, ${seconds(s.wallMs)}`;
}

function seconds(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Cut to the terminal's width: a wrapped bar would leave its first half behind on every redraw. */
function fit(text: string, columns: number | undefined): string {
  const max = (columns ?? 80) - 1;
  return text.length > max ? text.slice(0, Math.max(0, max)) : text;
}
