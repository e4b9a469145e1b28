/**
 * A worker's heartbeat: every {@link HEARTBEAT_EVERY_MS} it writes a beacon
 * (broker/beacon.ts) to the store saying who it is and what it does.
 */
import { hostname } from 'node:os';
import { fjVersion } from '../core/paths.js';
import type { PayloadStore } from '../store/store.js';
import type { Logger } from '../task/types.js';
import type { JobTally } from '../broker/job-tally.js';
import type { Signer } from '../core/signing.js';
import {
  HEARTBEAT_EVERY_MS,
  HEARTBEAT_TTL_MS,
  sealBeacon,
  type WorkerBeat,
  type WorkerState,
} from '../broker/beacon.js';

/** The live parts a heartbeat reads. */
export interface BeatSource {
  name: string;
  pool: string;
  concurrency: number;
  maxJobs: number;
  /** The pool's tenant caps this worker announces (tenant -> share of the pool). */
  tenantCaps?: Record<string, number>;
  /** The pool's tenant weights this worker announces (tenant -> weight). */
  tenantWeights?: Record<string, number>;
  state(): WorkerState;
  tasks: Record<string, string>;
  busy(): number;
  itemsDone(): number;
  coordinating(): string[];
  tally(): JobTally;
  /** Whether it is its pool's scheduler now. */
  scheduler?(): boolean;
}

/** A running heartbeat. */
export interface Heartbeat {
  /** Writes a beacon now (the worker's state changed), besides the regular ones. */
  beat(): void;
  /** Stops beating (and removes nothing: the beacon expires). */
  stop(): Promise<void>;
}

/**
 * Starts beating, a first beacon at once. With a signer each beacon is
 * signed and carries the key's fingerprint.
 */
export function startHeartbeat(store: PayloadStore, src: BeatSource, log: Logger, signer?: Signer): Heartbeat {
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
      state: src.state(),
      busy: src.busy(),
      itemsDone: src.itemsDone(),
      coordinating: src.coordinating(),
      maxJobs: src.maxJobs,
      tasks: src.tasks,
      ...(src.tenantCaps && Object.keys(src.tenantCaps).length > 0 ? { tenantCaps: src.tenantCaps } : {}),
      ...(src.tenantWeights && Object.keys(src.tenantWeights).length > 0 ? { tenantWeights: src.tenantWeights } : {}),
      tally: src.tally(),
      ...(src.scheduler?.() ? { scheduler: true } : {}),
      ...(signer ? { keyId: signer.fingerprint } : {}),
      version,
      started,
      sent: Date.now(),
    };
    writing = writing
      .then(() => store.putBeacon('workers', src.name, sealBeacon(signer, b), HEARTBEAT_TTL_MS))
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
  return {
    beat,
    stop: async () => {
      clearInterval(timer);
      await writing;
    },
  };
}
