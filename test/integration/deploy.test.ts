/**
 * The deployment material in deploy/: systemd units for `fj worker` (a
 * template, one instance per pool) and `fj dashboard`, and the environment
 * file they read. Each unit passes `systemd-analyze verify` where it exists
 * (always under CI), stops within its timeout, and its `ExecStart=` line,
 * expanded as systemd expands it (test/helpers/systemd-unit.ts) with an
 * environment file of the test's, runs for real from a project directory
 * that has fj installed: two workers of a pool serve a job, one is stopped
 * (SIGTERM, as `systemctl stop` sends) in the middle of it and exits 0 in
 * time, and the job ends with eager's output; the dashboard serves its API
 * and stops on SIGTERM.
 *
 *   CI=true npx vitest run --project main test/integration/deploy.test.ts
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../src/index.js';
import { BROKER_URL, brokerAvailable, deleteQueues, REQUIRE } from '../helpers/broker.js';
import { expandCommand, readEnvFile, readUnit, specifiers, unitValue, type Unit } from '../helpers/systemd-unit.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DEPLOY = join(ROOT, 'deploy');
const SLEEPY = join(ROOT, 'test', 'fixtures', 'sleepy.ts');
const UNITS = ['fj-worker@.service', 'fj-dashboard.service'];
const available = await brokerAvailable();
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;

/** Seconds of a systemd time span as fj's units write them (`90`, `90s`, `2min`). */
function seconds(span: string): number {
  const m = /^(\d+)\s*(s|sec|min)?$/.exec(span);
  if (!m) throw new Error(`not a time span fj's units use: ${span}`);
  return Number(m[1]) * (m[2] === 'min' ? 60 : 1);
}

describe('deploy/: systemd units and their environment file', () => {
  it('pass systemd-analyze verify, stop gracefully within their timeouts, and read only documented variables', () => {
    if (!analyze && REQUIRE) throw new Error('systemd-analyze is missing: install systemd (CI runs the check)');
    if (analyze) {
      // A copy named as an instance: `verify` checks the template as `systemctl enable fj-worker@align` would load it.
      const dir = mkdtempSync(join(tmpdir(), 'fj-units-'));
      try {
        writeFileSync(join(dir, 'fj-worker@align.service'), readFileSync(join(DEPLOY, 'fj-worker@.service')));
        writeFileSync(join(dir, 'fj-dashboard.service'), readFileSync(join(DEPLOY, 'fj-dashboard.service')));
        const v = spawnSync('systemd-analyze', ['verify', 'fj-worker@align.service', 'fj-dashboard.service'], {
          cwd: dir,
          encoding: 'utf8',
        });
        expect(v.stderr + v.stdout).toBe('');
        expect(v.status).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } else console.warn('deploy.test: systemd-analyze not found, `verify` skipped (CI runs it)');
    const documented = readFileSync(join(DEPLOY, 'fj.env.example'), 'utf8');
    for (const name of UNITS) {
      const unit = readUnit(join(DEPLOY, name));
      expect(unitValue(unit, 'Service', 'KillSignal')).toBe('SIGTERM');
      expect(unitValue(unit, 'Service', 'Restart')).toBe('on-failure');
      expect(unitValue(unit, 'Service', 'EnvironmentFile')).toBe('/etc/fj/fj.env');
      const exec = unitValue(unit, 'Service', 'ExecStart')!;
      for (const [, v] of exec.matchAll(/\$\{?([A-Z_]+)\}?/g)) expect(documented).toMatch(new RegExp(`^${v}=`, 'm'));
      const grace = /--shutdown-timeout (\d+)/.exec(exec);
      // systemd kills a service still running after TimeoutStopSec: the worker's own grace must end first.
      if (grace) expect(seconds(unitValue(unit, 'Service', 'TimeoutStopSec')!)).toBeGreaterThan(Number(grace[1]) + 10);
    }
  });
});

describe.runIf(available)('deploy/: the units’ ExecStart lines, run as systemd runs them', () => {
  const queue = `fj.test.deploy.${randomUUID()}`;
  const dir = mkdtempSync(join(tmpdir(), 'fj-deploy-'));
  // The project directory a team deploys (WorkingDirectory=): its tasks, and fj installed in it.
  const srv = join(dir, 'srv');
  mkdirSync(join(srv, 'node_modules'), { recursive: true });
  symlinkSync(ROOT, join(srv, 'node_modules', 'fj'));
  const store = `file://${join(dir, 'store')}`;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await deleteQueues(queue).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `unit`'s ExecStart= (instance `instance`) as systemd would, with `env` as its EnvironmentFile. */
  function start(name: string, env: Record<string, string>, instance?: string) {
    const unit: Unit = readUnit(join(DEPLOY, name));
    const envFile = join(dir, `${name}.env`);
    writeFileSync(
      envFile,
      Object.entries(env)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
    const spec = { instance, hostname: hostname() };
    const fromUnit = Object.fromEntries(
      (unit.Service.Environment ?? []).map((e) => {
        const [k, ...v] = specifiers(e, spec).split('=');
        return [k, v.join('=')];
      }),
    );
    const environment = { ...fromUnit, ...readEnvFile(envFile) }; // the file's settings win, as in systemd
    const [cmd, ...args] = expandCommand(specifiers(unitValue(unit, 'Service', 'ExecStart')!, spec), environment);
    // systemd gives a service a bare environment: PATH and what the unit sets.
    const child = spawn(cmd, args, { cwd: srv, env: { PATH: process.env.PATH, ...environment } });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, exited, log: () => out, stopSec: seconds(unitValue(unit, 'Service', 'TimeoutStopSec')!) };
  }

  it('two workers of fj-worker@POOL serve a job; one stopped mid-job (SIGTERM) exits 0 within TimeoutStopSec, and the job ends with eager’s output', async () => {
    const env = {
      FJ_BROKER_URL: BROKER_URL,
      FJ_STORE_URL: store,
      FJ_WORKER_ARGS: `--concurrency 2 --tasks ${SLEEPY}`,
    };
    const [a, b] = [start('fj-worker@.service', env, queue), start('fj-worker@.service', env, queue)];
    for (const w of [a, b]) await waitFor('the worker to serve', () => /serving /.test(w.log()), 30_000, 100);
    expect(a.log()).toMatch(new RegExp(`^\\{"time":.*"msg":"serving .* from ${queue.replace(/\./g, '\\.')} `, 'm')); // the instance is the pool; JSON logs, as the unit asks
    const started = join(dir, 'started');
    const input = { values: Array.from({ length: 40 }, (_, i) => i), ms: 150, started };
    const job = run(SLEEPY, input, { executor: 'amqp', queue, broker: BROKER_URL, store, logLevel: 'silent' });
    await waitFor('the job’s first item to start', () => existsSync(started), 20_000, 20);
    await new Promise((r) => setTimeout(r, 500));
    const t = Date.now();
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(Date.now() - t).toBeLessThan(a.stopSec * 1000);
    expect(await job).toEqual(await run(SLEEPY, { ...input, started: '' }, { executor: 'eager' }));
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 120_000);

  it('fj-dashboard serves its API from the environment file’s broker and store, and stops on SIGTERM', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const d = start('fj-dashboard.service', {
      FJ_BROKER_URL: BROKER_URL,
      FJ_STORE_URL: store,
      FJ_DASHBOARD_ARGS: `--host 127.0.0.1 --port ${port}`,
      FJ_DASHBOARD_TOKEN: 'deploy-test-token',
    });
    await waitFor('the dashboard to listen', () => d.log().includes(`127.0.0.1:${port}`), 30_000, 100);
    const res = await fetch(`http://127.0.0.1:${port}/api/workers`, { headers: { 'x-fj-token': 'deploy-test-token' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toHaveProperty('workers');
    const t = Date.now();
    d.child.kill('SIGTERM');
    expect(await d.exited).toBe(0);
    expect(Date.now() - t).toBeLessThan(d.stopSec * 1000);
  }, 60_000);
});
