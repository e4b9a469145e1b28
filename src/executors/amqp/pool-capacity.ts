/**
 * A pool's workers as their heartbeats (worker/heartbeat.ts) tell them,
 * read from the store every {@link REFRESH_MS}:
 *
 * - the capacity of the workers that run the job's code: the messages they
 *   take at once (each prefetches 2 × its threads); the window (window.ts)
 *   jumps to it instead of finding it by doubling. Unknown (undefined) until
 *   a heartbeat of such a worker is seen, or when the store has none (workers
 *   of an older fj): the window then finds its size alone;
 * - which code each live worker runs for the task (a rolling deploy runs
 *   two versions at once), so a job whose code no worker runs any more can
 *   say which versions the pool runs, and follow the new one when allowed.
 * Beacons are read by broker/beacon.ts: malformed ones, and with a signing
 * key unsigned ones, count for nothing.
 */
import type { PayloadStore } from '../../store/store.js';
import type { Signer } from '../../core/signing.js';
import { isQuiet, readBeacons } from '../../broker/beacon.js';

/** How often the heartbeats are read, ms. */
export const REFRESH_MS = 2000;

/** The live workers of a pool, by the code they run for one task. */
export interface Versions {
  /** Code hash -> the names of the live workers that run it for the task. */
  readonly running: ReadonlyMap<string, readonly string[]>;
  /** Live workers of the pool that do not serve the task. */
  readonly lacking: readonly string[];
}

export class PoolCapacity {
  private value: number | undefined;
  private caps: ReadonlyMap<string, number> = new Map();
  private weights: ReadonlyMap<string, number> = new Map();
  private seen: Versions = { running: new Map(), lacking: [] };
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: PayloadStore,
    private readonly queue: string,
    /** The task, and the code hash its items are published for now (it changes when a job follows new code). */
    private readonly code: () => { task: string; hash: string },
    private readonly signer?: Signer,
  ) {}

  /** Messages the live workers running the job's code take at once, when known. */
  get(): number | undefined {
    return this.value;
  }

  /** The pool's tenant caps (tenant -> share), as its live workers announce them: the smallest for each tenant. */
  get tenantCaps(): ReadonlyMap<string, number> {
    return this.caps;
  }

  /** The pool's tenant weights (tenant -> weight), as its live workers announce them: the smallest for each tenant. */
  get tenantWeights(): ReadonlyMap<string, number> {
    return this.weights;
  }

  /** The pool's live workers by the code they run for the job's task, as last read. */
  get versions(): Versions {
    return this.seen;
  }

  start(): void {
    if (this.timer) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the heartbeats now (also what the timer does). */
  async refresh(): Promise<void> {
    try {
      const now = Date.now();
      const { task, hash } = this.code();
      let slots = 0;
      const running = new Map<string, string[]>();
      const lacking: string[] = [];
      const caps = new Map<string, number>();
      const weights = new Map<string, number>();
      for (const b of (await readBeacons(this.store, this.signer, undefined, now)).beats) {
        if (b.pool !== this.queue || isQuiet(b, now)) continue;
        for (const [tenant, cap] of Object.entries(b.tenantCaps ?? {}))
          caps.set(tenant, Math.min(cap, caps.get(tenant) ?? 1));
        for (const [tenant, w] of Object.entries(b.tenantWeights ?? {}))
          weights.set(tenant, Math.min(w, weights.get(tenant) ?? Infinity));
        const code = b.tasks[task];
        if (code === undefined) {
          lacking.push(b.name);
          continue;
        }
        running.set(code, [...(running.get(code) ?? []), b.name]);
        if (code === hash) slots += 2 * b.concurrency;
      }
      this.value = slots > 0 ? slots : undefined;
      this.caps = caps;
      this.weights = weights;
      this.seen = { running, lacking };
    } catch {
      // a store that cannot be read now: keep the last values
    }
  }
}
