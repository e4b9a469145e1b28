/**
 * A pool's tenant weights (`fj worker --tenant-weight team-a=3`,
 * `tenantWeights`): parsed and checked where they are given, carried in the
 * worker's heartbeat (checked again where it is read), and how the shares
 * use them (test/unit/fair-share.test.ts; with real workers,
 * test/reliability/fair-share.test.ts).
 */
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { readBeacon } from '../../src/broker/beacon.js';
import { tenantWeight } from '../../src/cli/flags.js';
import { normalizeWorkerOptions } from '../../src/worker/worker-options.js';

describe('tenant weights', () => {
  it('--tenant-weight TENANT=WEIGHT, repeated, gathers them; a bad one names the flag and what it expects', () => {
    expect(tenantWeight('b=0.5', tenantWeight('team-a=3'))).toEqual({ 'team-a': 3, b: 0.5 });
    for (const bad of ['team-a', 'team-a=0', 'team-a=-1', 'team a=2', '=2', 'a=2000000', 'a=x'])
      expect(() => tenantWeight(bad), bad).toThrow(InvalidArgumentError);
    expect(() => tenantWeight('a=0')).toThrow(/--tenant-weight must be TENANT=WEIGHT.*got 'a=0'/);
  });

  it('the tenantWeights option is checked as the worker starts', () => {
    expect(normalizeWorkerOptions({ tenantWeights: { a: 2 } }, {}).tenantWeights).toEqual({ a: 2 });
    expect(normalizeWorkerOptions({}, {}).tenantWeights).toEqual({});
    expect(() => normalizeWorkerOptions({ tenantWeights: { a: 0 } }, {})).toThrow(
      /Expected `tenantWeights.a` to be a weight above 0 and at most 1000000, got `0`/,
    );
    expect(() => normalizeWorkerOptions({ tenantWeights: { 'a b': 1 } }, {})).toThrow(
      /`tenantWeights` to name tenants/,
    );
  });

  it('a heartbeat carries them, and one with a malformed weight is dropped naming the field', () => {
    const now = Date.now();
    const beat = {
      name: 'w1',
      host: 'h',
      pid: 1,
      pool: 'p',
      concurrency: 1,
      busy: 0,
      itemsDone: 0,
      coordinating: [],
      maxJobs: 1,
      tasks: {},
      version: '0.1.0',
      started: now,
      sent: now,
    };
    const good = readBeacon('w1', JSON.stringify({ ...beat, tenantWeights: { 'team-a': 3 } }), undefined, now);
    expect('beat' in good && good.beat.tenantWeights).toEqual({ 'team-a': 3 });
    for (const tenantWeights of [{ a: 0 }, { a: '3' }, { 'a b': 1 }, [3]]) {
      const r = readBeacon('w1', JSON.stringify({ ...beat, tenantWeights }), undefined, now);
      expect('reason' in r && r.reason).toMatch(/field tenantWeights/);
    }
  });
});
