/** The suspect gate (worker/gate.ts) and the message-id and cancel formats a worker reads. */
import { describe, expect, it } from 'vitest';
import { parseControl } from '../../src/broker/amqp.js';
import { messageId, parseMessageId } from '../../src/broker/message-id.js';
import { Gate } from '../../src/worker/gate.js';

const RUN = 'ab'.repeat(12);

describe('Gate', () => {
  it('keeps shared holders out while an exclusive one holds it, for maxMs at most', async () => {
    const gate = new Gate();
    const release = await gate.exclusive(100);
    const started = Date.now();
    const shared = await gate.shared(); // the exclusive holder never releases: it expires
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    shared();
    release(); // late: harmless
  });

  it('an exclusive holder waits for shared holders to leave, for maxMs at most', async () => {
    const gate = new Gate();
    await gate.shared(); // never released: an item that never returns
    const started = Date.now();
    const release = await gate.exclusive(100);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    release();
    const next = await gate.shared();
    next();
  });

  it('a released exclusive holder lets the others in at once', async () => {
    const gate = new Gate();
    const release = await gate.exclusive(10_000);
    const waiting = gate.shared();
    release();
    const started = Date.now();
    (await waiting)();
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('message ids and cancels', () => {
  it('a message id names its job, run and sequence', () => {
    expect(parseMessageId(messageId('job-1', RUN, 7), 'job-1')).toEqual({ run: RUN, seq: 7 });
    for (const id of [
      'hostile:1',
      `job-2:${RUN}:7`,
      `job-1:${RUN}`,
      `job-1:${RUN}:7:8`,
      `job-1:xyz:7`,
      `job-1:${RUN}:-1`,
      `job-1:${RUN}:07`,
      7,
      undefined,
    ]) {
      expect(parseMessageId(id, 'job-1'), String(id)).toBeUndefined();
    }
  });

  it('a cancel names runs, or none (every run)', () => {
    const parse = (v: unknown) => parseControl(Buffer.from(JSON.stringify(v)));
    expect(parse({ type: 'cancel', job: 'j' })).toEqual({ type: 'cancel', job: 'j' });
    expect(parse({ type: 'cancel', job: 'j', runs: [RUN] })).toEqual({ type: 'cancel', job: 'j', runs: [RUN] });
    expect(parse({ type: 'cancel', job: 'j', runs: ['nope'] })).toBeUndefined();
    expect(parse({ type: 'cancel', job: 'j', runs: [] })).toBeUndefined();
  });
});
