/**
 * The pure parts of delayed and periodic jobs: when a delayed job is due
 * (`--at`/`--in`), which tick of a schedule is due (the latest missed one
 * only, none before it was added or resumed, none twice), cron and time zone
 * errors, and the per-tick job ids.
 *
 *   npx vitest run --project main test/unit/schedule-ticks.test.ts
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dueTime } from '../../src/detached/delay.js';
import {
  addSchedule,
  dueTick,
  listSchedules,
  parseCron,
  pauseSchedule,
  readSchedules,
  removeSchedule,
  tickJobId,
  type ScheduleRecord,
} from '../../src/detached/schedules.js';
import { InputError, UsageError } from '../../src/core/errors.js';
import { signerFrom } from '../../src/core/signing.js';
import { openStore } from '../../src/store/open.js';
import { runFj } from '../helpers/cli.js';

const T = Date.parse('2026-12-07T01:00:00Z');

function schedule(over: Partial<ScheduleRecord> = {}): ScheduleRecord {
  return {
    version: 1,
    name: 'nightly',
    task: 'wordcount',
    cron: '0 2 * * *',
    queue: 'fj.default',
    input: {},
    job: {},
    created: T,
    since: T,
    paused: false,
    ...over,
  };
}

describe('dueTime', () => {
  it('at, in, neither; past, malformed and both are usage errors', () => {
    expect(dueTime({}, T)).toBeUndefined();
    expect(dueTime({ delayMs: 90_000 }, T)).toBe(T + 90_000);
    expect(dueTime({ at: '2026-12-07T03:00:00+01:00' }, T)).toBe(T + 3_600_000);
    expect(() => dueTime({ at: '2026-12-07T02:00:00+01:00' }, T)).toThrow(/is in the past/); // that is now
    expect(() => dueTime({ at: '2026-12-07T00:59:59Z' }, T)).toThrow(/is in the past/);
    expect(() => dueTime({ at: '2026-12-07 02:00' }, T)).toThrow(UsageError);
    expect(() => dueTime({ at: '2026-12-08T00:00:00Z', delayMs: 1000 }, T)).toThrow(/not both/);
    expect(() => dueTime({ delayMs: 0 }, T)).toThrow(/from 1 ms to 366 days/);
  });
});

describe('dueTick', () => {
  it('the latest tick since it was added, once; the missed ones counted, not run', () => {
    const s = schedule();
    expect(dueTick(s, undefined, Date.parse('2026-12-07T01:59:59Z'))).toBeUndefined();
    const first = dueTick(s, undefined, Date.parse('2026-12-07T02:00:00Z'))!;
    expect(first).toEqual({ tick: new Date('2026-12-07T02:00:00Z'), missed: 0 });
    const last = { tick: first.tick.toISOString(), job: tickJobId('nightly', first.tick), at: T, by: 'w1' };
    expect(dueTick(s, last, Date.parse('2026-12-08T01:00:00Z'))).toBeUndefined(); // ran already
    // Three days without a worker: the latest tick runs, the two before it are missed.
    expect(dueTick(s, last, Date.parse('2026-12-10T03:00:00Z'))).toEqual({
      tick: new Date('2026-12-10T02:00:00Z'),
      missed: 2,
    });
  });

  it('paused: nothing; resumed: only ticks after the resume', () => {
    expect(dueTick(schedule({ paused: true }), undefined, T + 86_400_000)).toBeUndefined();
    const resumed = schedule({ since: Date.parse('2026-12-09T12:00:00Z') });
    expect(dueTick(resumed, undefined, Date.parse('2026-12-09T13:00:00Z'))).toBeUndefined();
    expect(dueTick(resumed, undefined, Date.parse('2026-12-10T02:00:01Z'))?.tick).toEqual(
      new Date('2026-12-10T02:00:00Z'),
    );
  });

  it('reads the cron expression in its time zone', () => {
    const berlin = schedule({ timezone: 'Europe/Berlin' }); // 02:00 in Berlin is 01:00 UTC in December
    expect(dueTick(berlin, undefined, Date.parse('2026-12-08T01:00:00Z'))?.tick).toEqual(
      new Date('2026-12-08T01:00:00Z'),
    );
  });

  it('6 fields: seconds', () => {
    const s = schedule({ cron: '*/2 * * * * *' });
    expect(dueTick(s, undefined, T + 5000)).toEqual({ tick: new Date(T + 4000), missed: 1 });
  });
});

describe('parseCron and tick ids', () => {
  it('bad fields and unknown zones are usage errors naming the flag', () => {
    expect(() => parseCron('61 * * * *', undefined)).toThrow(/^--cron "61 \* \* \* \*": Invalid value for minute/);
    expect(() => parseCron('0 2 * * *', 'Mars/Olympus')).toThrow(/^--tz "Mars\/Olympus" is not an IANA time zone/);
    expect(() => parseCron('', undefined)).toThrow(/needs a cron expression/);
  });

  it('one job id per schedule and tick, a valid job id', () => {
    expect(tickJobId('nightly', new Date('2026-12-07T02:00:00.000Z'))).toBe('nightly.20261207T020000Z');
  });
});

describe('schedules in the store, signed', () => {
  const KEY = 'schedule-test-key-0123456789abcdef';
  const OTHER = 'another-key-0123456789abcdef-00000';

  it('a schedule is used only with the key it was signed with; an unsigned one is refused where a key is set', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fj-schedules-'));
    const url = `file://${join(dir, 'store')}`;
    const store = await openStore(url);
    try {
      await addSchedule(
        'signed',
        'wordcount',
        { documents: ['a b'] },
        { cron: '0 2 * * *', store: url, signingKey: KEY },
      );
      await addSchedule('plain', 'wordcount', { documents: ['a b'] }, { cron: '0 3 * * *', store: url });
      const bad: string[] = [];
      const names = async (key: string) =>
        (await readSchedules(store, signerFrom(key, {}), (name) => bad.push(name))).map((s) => s.name).sort();
      expect(await names(KEY)).toEqual(['signed']);
      expect(await names(OTHER)).toEqual([]);
      expect(bad.sort()).toEqual(['plain', 'plain', 'signed']);
      // Pausing with the key keeps it signed; the list shows it paused, with no next tick.
      await pauseSchedule('signed', { store: url, signingKey: KEY });
      expect(await listSchedules({ store: url, signingKey: KEY })).toMatchObject([
        { name: 'signed', paused: true, next: null, cron: '0 2 * * *', task: 'wordcount' },
      ]);
      await expect(
        addSchedule('signed', 'wordcount', { documents: [] }, { cron: '0 2 * * *', store: url }),
      ).rejects.toThrow(/schedule signed exists/);
      await removeSchedule('signed', { store: url, signingKey: KEY });
      expect(await listSchedules({ store: url, signingKey: KEY })).toEqual([]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an invalid input adds nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fj-schedules-'));
    const url = `file://${join(dir, 'store')}`;
    try {
      await expect(addSchedule('bad', 'wordcount', { nope: 1 }, { cron: '0 2 * * *', store: url })).rejects.toThrow(
        InputError,
      );
      expect(await listSchedules({ store: url })).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('fj schedule add', () => {
  it('keeps the job settings its flags give, the rate limit among them, for every tick’s job', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fj-schedule-flags-'));
    const store = `file://${join(dir, 'store')}`;
    const input = join(dir, 'input.json');
    await writeFile(input, JSON.stringify({ documents: ['a b'] }));
    try {
      const add = await runFj(
        ['schedule', 'add', 'nightly', 'wordcount', input, '--cron', '0 2 * * *', '--store', store].concat([
          '--rate-limit',
          '5',
          '--retries',
          '2',
          '--item-timeout',
          '30',
        ]),
      );
      expect(add.code, add.stderr).toBe(0);
      const [s] = await listSchedules({ store });
      expect(s.job).toMatchObject({ rateLimit: 5, retries: 2, itemTimeoutMs: 30_000 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
