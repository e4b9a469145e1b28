/** `fj dead [--queue Q] list|show N|requeue|purge`: a pool's dead letters (the work lives in ../dead-letters.ts). */
import { createInterface } from 'node:readline/promises';
import { UsageError } from '../core/errors.js';
import {
  leftBehindText,
  listDeadLetters,
  purgeDeadLetters,
  requeueDeadLetters,
  showDeadLetter,
  type DeadLetter,
  type DeadLetterLocation,
} from '../broker/dead-letters.js';
import type { Streams } from './streams.js';

/** Options of `fj dead` and its subcommands. */
export interface DeadFlags extends DeadLetterLocation {
  json?: boolean;
  limit?: number;
  yes?: boolean;
  /** `requeue`: the store where refused jobs' notes are cleared. */
  store?: string;
}

/** `fj dead list`: how many, then one block per message (number, id, job, task, reason, size, preview). */
export async function deadListCommand(flags: DeadFlags, io: Streams): Promise<void> {
  const list = await listDeadLetters(flags, flags.limit ?? 20);
  if (flags.json) return void io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
  const lines = [
    `${list.queue}: ${list.count} message(s)${list.count > list.letters.length ? `, the first ${list.letters.length} shown (--limit N for more)` : ''}`,
  ];
  for (const d of list.letters) lines.push(...letterLines(d));
  io.stdout.write(`${lines.join('\n')}\n`);
}

/** `fj dead show N`: one message in full (every header, a longer preview). */
export async function deadShowCommand(n: number, flags: DeadFlags, io: Streams): Promise<void> {
  const d = await showDeadLetter(n, flags);
  if (flags.json) return void io.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
  const lines = letterLines(d);
  lines.push('  headers:');
  for (const [k, v] of Object.entries(d.headers)) lines.push(`    ${k}: ${v}`);
  io.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * `fj dead requeue`: every dead letter back for another try (an item message
 * to its code's queue, a job message to the jobs queue, anything else to the
 * work queue). Item messages whose code no live worker runs stay where they
 * are: a usage error (exit 2) names their code and what the pool's workers run.
 */
export async function deadRequeueCommand(flags: DeadFlags, io: Streams): Promise<void> {
  const { queue, requeued, to, left } = await requeueDeadLetters(flags);
  const where = Object.entries(to)
    .map(([q, n]) => `${n} to ${q}`)
    .join(', ');
  io.stderr.write(`fj: ${requeued} message(s) from ${queue} sent back for another try${where ? `: ${where}` : ''}\n`);
  if (left.length > 0) throw new UsageError(leftBehindText(queue, left));
}

/** `fj dead purge`: asks on a terminal; elsewhere needs `--yes`. */
export async function deadPurgeCommand(flags: DeadFlags, io: Streams): Promise<void> {
  if (!flags.yes) {
    if (!process.stdin.isTTY || io.stderr !== process.stderr)
      throw new UsageError(
        'fj dead purge deletes the messages for good: pass --yes (standard input is not a terminal to ask on)',
      );
    const { count, queue } = await listDeadLetters(flags, 0);
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await rl
      .question(`delete the ${count} message(s) in ${queue} for good? [y/N] `)
      .finally(() => rl.close());
    if (!/^y(es)?$/i.test(answer.trim())) return void io.stderr.write('fj: nothing purged\n');
  }
  const { queue, purged } = await purgeDeadLetters(flags);
  io.stderr.write(`fj: ${purged} message(s) purged from ${queue}\n`);
}

function letterLines(d: DeadLetter): string[] {
  const death = d.death
    ? ` (${d.death.reason} from ${d.death.queue}${d.death.count > 1 ? ` ${d.death.count} times` : ''}${d.death.time ? ` at ${d.death.time}` : ''})`
    : '';
  return [
    `#${d.n}  id ${d.messageId}  job ${d.job}  task ${d.task}  ${d.bytes} bytes`,
    `  reason:  ${d.reason}${death}`,
    `  preview: ${d.preview}`,
  ];
}
