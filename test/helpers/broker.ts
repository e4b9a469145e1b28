/**
 * RabbitMQ for integration tests: the real broker at FJ_BROKER_URL. Under
 * CI=true or FJ_REQUIRE_BROKER=1 a missing broker fails the tests loudly;
 * elsewhere they skip with a message saying why.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import amqp from 'amqplib';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DEFAULT_BROKER } from '../../src/core/job-options.js';
import { requireServices, tcpAnswers } from './services.js';

export const BROKER_URL = process.env.FJ_BROKER_URL ?? DEFAULT_BROKER;
export const REQUIRE = requireServices();
/** The `fj` the workers run: this build's, or `FJ_TEST_CLI`'s (another build, e.g. the commit before a fix, to see a test fail). */
export const CLI = process.env.FJ_TEST_CLI ?? join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

/**
 * `rabbitmqctl` for the scenarios that stop the broker or change its
 * configuration: `FJ_RABBITMQCTL`, else the first on PATH, else where the
 * Debian package puts it. Missing, it throws under CI=true or
 * FJ_REQUIRE_BROKER=1 (a missing tool fails, as a missing broker does) and
 * otherwise warns that `scenario` is skipped; undefined then.
 */
export function findRabbitmqctl(scenario: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const found = rabbitmqctlPath(env);
  if (!found && requireServices(env))
    throw new Error(`rabbitmqctl is not installed, and CI=true/FJ_REQUIRE_BROKER=1 requires the ${scenario} scenario`);
  if (!found)
    console.warn(
      `SKIPPING the ${scenario} scenario: rabbitmqctl is not installed here (set FJ_RABBITMQCTL to its path)`,
    );
  return found;
}

/** `rabbitmqctl`: `FJ_RABBITMQCTL`, else the first on PATH, else where the Debian package puts it; undefined when absent. */
export function rabbitmqctlPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const onPath = (env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((d) => join(d, 'rabbitmqctl'));
  const candidates = env.FJ_RABBITMQCTL
    ? [env.FJ_RABBITMQCTL]
    : [...onPath, '/usr/sbin/rabbitmqctl', '/usr/lib/rabbitmq/bin/rabbitmqctl'];
  return candidates.find((p) => existsSync(p));
}

/** Whether broker tests run: true if the broker answers; throws under CI when it does not. */
export async function brokerAvailable(): Promise<boolean> {
  const u = new URL(BROKER_URL);
  const ok = await tcpAnswers(u.hostname, Number(u.port || 5672));
  if (!ok && REQUIRE)
    throw new Error(
      `RabbitMQ does not answer at ${u.hostname}:${u.port || 5672}, and CI=true/FJ_REQUIRE_BROKER=1 requires it`,
    );
  if (!ok)
    console.warn(
      `SKIPPING broker tests: RabbitMQ does not answer at ${u.hostname}:${u.port || 5672} (set FJ_BROKER_URL; under CI they fail instead)`,
    );
  return ok;
}

/** A running `fj worker` child process and its log. */
export interface WorkerProc {
  child: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
}

/** Starts `fj worker` with the given flags; resolves once it says it is serving. */
export async function startWorkerProc(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  onSpawn?: (w: WorkerProc) => void,
): Promise<WorkerProc> {
  const child = spawn(process.execPath, [CLI, 'worker', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  // A worker takes messages as soon as it consumes, a moment before it logs `serving`: one may die before then.
  onSpawn?.({ child, log: () => out, exited });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never leave a half-started worker behind
      reject(new Error(`worker did not start within 20 s:\n${out}`));
    }, 20_000);
    const check = () => {
      if (/serving /.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}) before serving:\n${out}`));
    });
  });
  return { child, log: () => out, exited };
}

/** SIGTERM by PID, then wait for the exit code. */
export async function stopWorkerProc(w: WorkerProc): Promise<number | null> {
  if (w.child.exitCode === null) w.child.kill('SIGTERM');
  return w.exited;
}

/** Deletes one queue (a code queue, a relay), whether or not it exists. */
export async function deleteQueue(queue: string): Promise<void> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    await (await conn.createChannel()).deleteQueue(queue);
  } finally {
    await conn.close();
  }
}

/** Deletes a test's work queue, its dead-letter queue and its scheduler queue (the workers' scheduling lease). */
export async function deleteQueues(queue: string): Promise<void> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    await ch.deleteQueue(queue);
    await ch.deleteQueue(`${queue}.dead`);
    await ch.deleteQueue(`${queue}.scheduler`);
  } finally {
    await conn.close();
  }
}

/** Empties a queue; returns how many messages it held. */
export async function purgeQueue(queue: string): Promise<number> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    return (await (await conn.createChannel()).purgeQueue(queue)).messageCount;
  } finally {
    await conn.close();
  }
}
