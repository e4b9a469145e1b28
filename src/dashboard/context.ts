/** What every dashboard route reads from: the config, one open store, the tasks it may submit, and how errors become HTTP answers. */
import type { FastifyReply } from 'fastify';
import { FjError, InputError, TransportError, UsageError } from '../core/errors.js';
import { OptionError } from '../core/job-options.js';
import type { Signer } from '../core/signing.js';
import type { PayloadStore } from '../store/store.js';
import type { TaskInfo } from '../task/registry.js';
import type { BrokerLink } from './broker.js';
import type { DashboardConfig } from './dashboard-options.js';
import { ValidationBusyError, type ThreadValidator } from './validation.js';

/** The dashboard's shared parts. Nothing here grows with the number of jobs. */
export interface DashboardContext {
  config: DashboardConfig;
  store: PayloadStore;
  /** RabbitMQ, for queue depths and re-queueing jobs. */
  broker: BrokerLink;
  signer: Signer | undefined;
  /** The tasks this dashboard lists and submits, by name: the built-in ones and those of `--tasks`. */
  tasks: Map<string, TaskInfo>;
  /** The open event streams and their topics' shared polls (events.ts `EventHub`). */
  events: StreamHub;
  /** Validates submitted inputs on a thread of its own, within `validateTimeoutMs`. */
  validator: ThreadValidator;
}

/**
 * What routes and /metrics need of the event streams (events.ts `EventHub`
 * is the one there is; named here so the context points at no route file).
 */
export interface StreamHub {
  /** Whether as many streams are open as the dashboard serves: one more is refused. */
  readonly full: boolean;
  readonly maxStreams: number;
  /** Streams open now. */
  readonly streams: number;
  /** Topic polls run in all. */
  readonly polls: number;
  /** Adds a stream to topic `key` (polled by `run`); returns its unsubscribe. */
  subscribe(key: string, run: () => Promise<unknown>, send: (chunk: string) => void): () => void;
}

/** Hides the password of any URL in a text (broker and store URLs never leave the dashboard). */
export function redact(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):([^/@\s]*)@/gi, '$1$2:***@');
}

/** Answers an error thrown by fj's API: 400 for bad input and usage (with the JSON-path `problems`), 503 for broker or store trouble and a busy validation thread, 500 else. */
export async function sendError(reply: FastifyReply, err: unknown): Promise<void> {
  if (err instanceof InputError) {
    const message = redact(err.message.split('\n')[0]);
    return void (await reply.code(400).send({ error: message, code: err.code, problems: err.problems.map(redact) }));
  }
  if (err instanceof UsageError || err instanceof OptionError)
    return void (await reply.code(400).send({ error: redact(err.message), code: 'FJ_USAGE' }));
  if (err instanceof TransportError || err instanceof ValidationBusyError)
    return void (await reply.code(503).send({ error: redact(err.message), code: err.code }));
  const code = err instanceof FjError ? err.code : 'FJ_INTERNAL';
  reply.log.error(err);
  await reply.code(500).send({ error: redact(err instanceof Error ? err.message : String(err)), code });
}
