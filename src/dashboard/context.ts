/** What every dashboard route reads from: the config, one open store, the tasks it may submit, and how errors become HTTP answers. */
import type { FastifyReply } from 'fastify';
import { FjError, InputError, TransportError, UsageError } from '../errors.js';
import { OptionError } from '../options.js';
import type { Signer } from '../signing.js';
import type { PayloadStore } from '../store/store.js';
import type { TaskInfo } from '../task/registry.js';
import type { BrokerLink } from './broker.js';
import type { DashboardConfig } from './options.js';

/** The dashboard's shared parts. Nothing here grows with the number of jobs. */
export interface DashboardContext {
  config: DashboardConfig;
  store: PayloadStore;
  /** RabbitMQ, for queue depths and re-queueing jobs. */
  broker: BrokerLink;
  signer: Signer | undefined;
  /** The tasks this dashboard lists and submits, by name: the built-in ones and those of `--tasks`. */
  tasks: Map<string, TaskInfo>;
}

/** Hides the password of any URL in a text (broker and store URLs never leave the dashboard). */
export function redact(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s:]*):([^/@\s]*)@/gi, '$1$2:***@');
}

/** Answers an error thrown by fj's API: 400 for bad input and usage (with the JSON-path `problems`), 503 for broker or store trouble, 500 else. */
export async function sendError(reply: FastifyReply, err: unknown): Promise<void> {
  if (err instanceof InputError) {
    const message = redact(err.message.split('\n')[0]!);
    return void (await reply.code(400).send({ error: message, code: err.code, problems: err.problems.map(redact) }));
  }
  if (err instanceof UsageError || err instanceof OptionError) return void (await reply.code(400).send({ error: redact(err.message), code: 'FJ_USAGE' }));
  if (err instanceof TransportError) return void (await reply.code(503).send({ error: redact(err.message), code: err.code }));
  const code = err instanceof FjError ? err.code : 'FJ_INTERNAL';
  reply.log.error(err);
  await reply.code(500).send({ error: redact(err instanceof Error ? err.message : String(err)), code });
}
