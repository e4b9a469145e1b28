/**
 * A worker's heartbeat: every {@link HEARTBEAT_EVERY_MS} it writes a beacon
 * to the store saying who it is and what it does (`fj workers` and the
 * dashboard read them). A beacon lives {@link HEARTBEAT_TTL_MS}: a worker
 * not heard from for a while is shown as quiet, then disappears by itself.
 */
import { hostname } from 'node:os';
import { fjVersion } from '../paths.js';
import type { PayloadStore } from '../store/store.js';
import type { Logger } from '../task/types.js';
import type { JobTally } from './job-tally.js';

/** How often a worker writes its heartbeat. */
export const HEARTBEAT_EVERY_MS = 2000;
/** How long a heartbeat is kept: past this a silent worker is gone from every list. */
export const HEARTBEAT_TTL_MS = 10 * 60_000;

/** What a heartbeat says. */
export interface WorkerBeat {
  name: string;
  host: string;
  pid: number;
  /** The pool (work queue) it serves. */
  pool: string;
  /** Worker threads. */
  concurrency: number;
  /** Batches running or queued on its threads now. */
  busy: number;
  /** Items answered since it started. */
  itemsDone: number;
  /** Detached jobs it coordinates now, and the most it takes at once (0: it coordinates none). */
  coordinating: string[];
  maxJobs: number;
  /** Task name -> code fingerprint, of every task it serves. */
  tasks: Record<string, string>;
  /** The detached jobs it coordinated to their end since it started (absent from workers of fj before 0.1.0's tally). */
  tally?: JobTally;
  version: string;
  started: number;
  /** When this beat was written (ms since the epoch). */
  sent: number;
}

/** The live parts a heartbeat reads. */
export interface BeatSource {
  name: string;
  pool: string;
  concurrency: number;
  maxJobs: number;
  tasks: Record<string, string>;
  busy(): number;
  itemsDone(): number;
  coordinating(): string[];
  tally(): JobTally;
}

/** Starts beating; the returned function stops (and removes nothing: the beacon expires). */
export function startHeartbeat(store: PayloadStore, src: BeatSource, log: Logger): () => Promise<void> {
  const started = Date.now();
  const version = fjVersion();
  let writing: Promise<void> = Promise.resolve();
  let failing = false;
  const beat = () => {
    const b: WorkerBeat = {
      name: src.name,
      host: hostname(),
      pid: process.pid,
      pool: src.pool,
      concurrency: src.concurrency,
      busy: src.busy(),
      itemsDone: src.itemsDone(),
      coordinating: src.coordinating(),
      maxJobs: src.maxJobs,
      tasks: src.tasks,
      tally: src.tally(),
      version,
      started,
      sent: Date.now(),
    };
    writing = writing
      .then(() => store.putBeacon('workers', src.name, JSON.stringify(b), HEARTBEAT_TTL_MS))
      .then(
        () => void (failing = false),
        (err: Error) => {
          if (!failing) log.warn(`heartbeat not written: ${err.message}`);
          failing = true;
        },
      );
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await writing;
  };
}
