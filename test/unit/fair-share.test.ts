/**
 * Fair shares of a pool (executors/amqp/fair-share.ts): what each job may
 * keep in flight, given the pool's capacity and the jobs' beacons; and the
 * beacons themselves (broker/job-beacon.ts): forged or malformed ones count
 * for nothing.
 */
import { describe, expect, it } from 'vitest';
import { FLOOR, shares, type Claim } from '../../src/executors/amqp/fair-share.js';
import { readJobBeacon, type JobBeat } from '../../src/broker/job-beacon.js';
import { Signer } from '../../src/core/signing.js';

const job = (name: string, over: Partial<Claim> = {}): Claim => ({
  job: name,
  weight: 1,
  priority: 0,
  inFlight: 0,
  wants: true,
  ...over,
});

describe('shares', () => {
  it('gives a job alone the whole pool', () => {
    expect(shares(64, [job('a')]).get('a')).toBe(64);
  });

  it('splits the pool evenly between jobs that want more, and by weight', () => {
    const even = shares(
      64,
      ['a', 'b', 'c', 'd'].map((n) => job(n)),
    );
    expect([...even.values()]).toEqual([16, 16, 16, 16]);
    const weighted = shares(64, [job('a', { weight: 3 }), job('b')]);
    expect(weighted.get('a')).toBe(48);
    expect(weighted.get('b')).toBe(16);
  });

  it('gives what a job cannot use to the others (water-filling)', () => {
    // c has 4 in flight and nothing more to send: it keeps 4 + 1, the others share the rest.
    const s = shares(64, [job('a'), job('b'), job('c', { wants: false, inFlight: 4 })]);
    expect(s.get('c')).toBe(5);
    expect(s.get('a')).toBe(Math.ceil((64 - 5) / 2));
    expect(s.get('b')).toBe(Math.ceil((64 - 5) / 2));
  });

  it('serves higher priorities first; lower ones keep their floor, and what the higher cannot use', () => {
    const s = shares(64, [job('hi', { priority: 1 }), job('lo'), job('lo2')]);
    expect(s.get('lo')).toBe(FLOOR);
    expect(s.get('lo2')).toBe(FLOOR);
    expect(s.get('hi')).toBe(64 - 2 * FLOOR);
    const modest = shares(64, [job('hi', { priority: 5, wants: false, inFlight: 8 }), job('lo')]);
    expect(modest.get('hi')).toBe(10);
    expect(modest.get('lo')).toBe(54);
  });

  it("shares between tenants first, then between each tenant's jobs; the jobs without a tenant are one more tenant, of weight 1", () => {
    // Tenant a's three jobs together get what b's one job gets, and what the jobs without a tenant get together.
    const s = shares(90, [
      job('a1', { tenant: 'a' }),
      job('a2', { tenant: 'a' }),
      job('a3', { tenant: 'a', weight: 4 }),
      job('b1', { tenant: 'b' }),
      job('solo'),
      job('solo2', { weight: 2 }),
    ]);
    expect(s.get('b1')).toBe(30);
    expect(s.get('solo')).toBe(10);
    expect(s.get('solo2')).toBe(20);
    expect(s.get('a1')).toBe(5);
    expect(s.get('a2')).toBe(5);
    expect(s.get('a3')).toBe(20);
    // Without tenants, the jobs share by their weights alone, as before there were tenants.
    const plain = shares(90, [job('x'), job('y', { weight: 2 })]);
    expect([plain.get('x'), plain.get('y')]).toEqual([30, 60]);
  });

  it('weighs tenants as the pool says, then shares each tenant part between its jobs by their weights', () => {
    const weights = new Map([['a', 3]]);
    const s = shares(
      80,
      [job('a1', { tenant: 'a' }), job('b1', { tenant: 'b' }), job('b2', { tenant: 'b', weight: 3 })],
      undefined,
      weights,
    );
    expect(s.get('a1')).toBe(60);
    expect(s.get('b1')).toBe(5);
    expect(s.get('b2')).toBe(15);
    // Unnamed tenants weigh 1, as without weights.
    expect(shares(80, [job('a1', { tenant: 'x' }), job('b1', { tenant: 'b' })], undefined, weights).get('a1')).toBe(40);
  });

  it('keeps a tenant within its cap, alone too, and gives the rest to the others', () => {
    // 64 messages: 32 slots. Alone, a tenant capped at half the pool holds 16 messages (16 slots busy)...
    const caps = new Map([['a', 0.5]]);
    expect(shares(64, [job('a1', { tenant: 'a' })], caps).get('a1')).toBe(16);
    const two = shares(64, [job('a1', { tenant: 'a' }), job('a2', { tenant: 'a' })], caps);
    expect(two.get('a1')! + two.get('a2')!).toBe(16);
    // ... and beside a job that fills the pool, half of all messages.
    const full = shares(64, [job('a1', { tenant: 'a' }), job('b')], caps);
    expect(full.get('a1')).toBe(32);
    expect(full.get('b')).toBe(32);
    const beside = shares(64, [job('a1', { tenant: 'a' }), job('b')], new Map([['a', 0.25]]));
    expect(beside.get('a1')).toBe(16);
    expect(beside.get('b')).toBe(48);
  });

  it('never gives a job less than its floor, however many share the pool', () => {
    const many = shares(
      8,
      Array.from({ length: 20 }, (_, i) => job(`j${i}`)),
    );
    expect(Math.min(...many.values())).toBe(FLOOR);
  });
});

describe('job beacons', () => {
  const now = Date.now();
  const beat: JobBeat = { job: 'j1', pool: 'p', weight: 1, priority: 0, inFlight: 3, wants: true, sent: now };

  it('reads a sound beacon, and drops one with a field out of range or under another name', () => {
    expect(readJobBeacon('j1', JSON.stringify(beat), undefined, now)).toEqual(beat);
    for (const bad of [
      { weight: 0 },
      { weight: 'x' },
      { priority: 1.5 },
      { priority: 1000 },
      { inFlight: -1 },
      { sent: now + 60_000 },
    ]) {
      expect(readJobBeacon('j1', JSON.stringify({ ...beat, ...bad }), undefined, now)).toBeUndefined();
    }
    expect(readJobBeacon('j2', JSON.stringify(beat), undefined, now)).toBeUndefined();
    expect(readJobBeacon('j1', 'not json', undefined, now)).toBeUndefined();
  });

  it('with a signing key, drops an unsigned or mis-signed beacon', () => {
    const signer = new Signer('0123456789abcdef0123456789abcdef');
    const text = JSON.stringify(beat);
    const sealed = JSON.stringify({ beat: text, sig: signer.sign('job-beacon', 'j1', text) });
    expect(readJobBeacon('j1', sealed, signer, now)).toEqual(beat);
    expect(readJobBeacon('j1', text, signer, now)).toBeUndefined();
    const other = new Signer('fedcba9876543210fedcba9876543210');
    expect(readJobBeacon('j1', sealed, other, now)).toBeUndefined();
  });
});
