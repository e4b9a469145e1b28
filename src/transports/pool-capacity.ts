/**
 * A pool's capacity from its workers' heartbeats (worker/heartbeat.ts): the
 * messages its live workers take at once (each prefetches 2 × its
 * threads). Read from the store every {@link REFRESH_MS}; the window
 * (window.ts) jumps to it instead of finding it by doubling. Unknown
 * (undefined) until a heartbeat of the pool is seen, or when the store has
 * none (workers of an older fj): the window then finds its size alone.
 */
import type { PayloadStore } from '../store/store.js';
import { HEARTBEAT_EVERY_MS, type WorkerBeat } from '../worker/heartbeat.js';

/** How often the heartbeats are read, ms. */
export const REFRESH_MS = 2000;

export class PoolCapacity {
  private value: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: PayloadStore,
    private readonly queue: string,
  ) {}

  /** Messages the pool's live workers take at once, when known. */
  get(): number | undefined {
    return this.value;
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

  private async refresh(): Promise<void> {
    try {
      const now = Date.now();
      let slots = 0;
      for (const { text } of await this.store.listBeacons('workers')) {
        const b = JSON.parse(text) as Partial<WorkerBeat>;
        if (b.pool === this.queue && typeof b.sent === 'number' && now - b.sent <= 3 * HEARTBEAT_EVERY_MS && Number.isSafeInteger(b.concurrency)) slots += 2 * b.concurrency!;
      }
      this.value = slots > 0 ? slots : undefined;
    } catch {
      // a store that cannot be read now: keep the last value
    }
  }
}
