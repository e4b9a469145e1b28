/**
 * Who cancelled a job (issue 24: "a dashboard cancel is reported as
 * 'cancelled by 'fj cancel''"): the cancel record in a real file store and
 * the cancel message to a coordinator carry their source; a source is
 * believed only when it is one fj knows and, with a key, when the signature
 * covers it; the job's error names it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { H } from '../../src/broker/amqp.js';
import { sealRecord, Signer, SIGNATURE_HEADER } from '../../src/core/signing.js';
import { readResult } from '../../src/executors/amqp/results.js';
import {
  CANCEL_RECORD,
  cancelledMessage,
  cancelRecorded,
  readCancel,
  writeCancel,
} from '../../src/store/cancel-record.js';
import { FileStore } from '../../src/store/file.js';

const signer = new Signer('k'.repeat(32));
const dir = mkdtempSync(join(tmpdir(), 'fj-cancel-source-'));
const store = await FileStore.open(join(dir, 'store'));
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the job error names who cancelled', () => {
  it('fj cancel, the dashboard, the API; unknown: just "cancelled"', () => {
    expect(cancelledMessage('j1', 'cli')).toBe("job j1 cancelled by 'fj cancel'");
    expect(cancelledMessage('j1', 'dashboard')).toBe('job j1 cancelled from the dashboard');
    expect(cancelledMessage('j1', 'api')).toBe('job j1 cancelled through the API');
    expect(cancelledMessage('j1', undefined)).toBe('job j1 cancelled');
    expect(cancelledMessage('j1', 'dashboard', true)).toBe('job j1 cancelled from the dashboard before it started');
  });
});

describe('the cancel record', () => {
  it('keeps its source, signed or not', async () => {
    await writeCancel(store, 'rec-plain', 'dashboard', undefined);
    expect(await readCancel(store, 'rec-plain')).toEqual({ by: 'dashboard' });
    await writeCancel(store, 'rec-signed', 'api', signer);
    expect(await readCancel(store, 'rec-signed', signer)).toEqual({ by: 'api' });
    expect(await readCancel(store, 'none', signer)).toBeUndefined();
  });

  it("an older fj's record (a bare date) still cancels, naming no source", async () => {
    await store.setMeta(
      'rec-old',
      CANCEL_RECORD,
      sealRecord(signer, CANCEL_RECORD, 'rec-old', new Date().toISOString()),
    );
    expect(await readCancel(store, 'rec-old', signer)).toEqual({ by: undefined });
    expect(await cancelRecorded(store, 'rec-old', signer)).toBe(true);
  });

  it('a source fj does not know, or of the wrong type, reads as none', async () => {
    for (const by of ['<script>alert(1)</script>', 'x'.repeat(10_000), 42, null, { by: 'cli' }]) {
      const text = JSON.stringify({ at: new Date().toISOString(), by });
      await store.setMeta('rec-odd', CANCEL_RECORD, sealRecord(undefined, CANCEL_RECORD, 'rec-odd', text));
      expect(await readCancel(store, 'rec-odd')).toEqual({ by: undefined });
    }
  });

  it('with a key, a record whose source was changed, or one not signed, does not count', async () => {
    await writeCancel(store, 'rec-forged', 'cli', signer);
    const sealed = JSON.parse(Buffer.from((await store.getMeta('rec-forged', CANCEL_RECORD))!).toString()) as {
      record: string;
      sig: string;
    };
    const changed = { ...sealed, record: sealed.record.replace('"cli"', '"dashboard"') };
    await store.setMeta('rec-forged', CANCEL_RECORD, Buffer.from(JSON.stringify(changed)));
    expect(await readCancel(store, 'rec-forged', signer)).toBeUndefined();
    await writeCancel(store, 'rec-unsigned', 'dashboard', undefined);
    expect(await readCancel(store, 'rec-unsigned', signer)).toBeUndefined();
    expect(await cancelRecorded(store, 'rec-unsigned', signer)).toBe(false);
  });
});

describe('the cancel message to a coordinator', () => {
  const read = (headers: Record<string, unknown>, key?: Signer) =>
    readResult(Buffer.alloc(0), { type: 'fj.cancel', correlationId: 'run1', headers }, 'job1', key);

  it('carries its source, covered by the signature', () => {
    const sig = signer.sign('cancel', 'run1', 'job1', 'dashboard');
    expect(read({ [H.cancelBy]: 'dashboard', [SIGNATURE_HEADER]: sig }, signer)).toEqual({
      kind: 'cancel',
      token: 'run1',
      by: 'dashboard',
    });
    // The source changed on the way: not signed with the key, dropped.
    expect(read({ [H.cancelBy]: 'cli', [SIGNATURE_HEADER]: sig }, signer)).toMatchObject({ kind: 'bad' });
    // An unsigned source added to a cancel signed without one: dropped too.
    const old = signer.sign('cancel', 'run1', 'job1');
    expect(read({ [H.cancelBy]: 'api', [SIGNATURE_HEADER]: old }, signer)).toMatchObject({ kind: 'bad' });
    // An older fj's cancel (no source, signed without one) still cancels.
    expect(read({ [SIGNATURE_HEADER]: old }, signer)).toEqual({ kind: 'cancel', token: 'run1', by: undefined });
  });

  it('without a key: a known source is taken, anything else reads as none', () => {
    expect(read({ [H.cancelBy]: 'api' })).toEqual({ kind: 'cancel', token: 'run1', by: 'api' });
    for (const odd of ['fj cancel', '<b>x</b>', 7, Buffer.from('cli'), ['cli']])
      expect(read({ [H.cancelBy]: odd })).toEqual({ kind: 'cancel', token: 'run1', by: undefined });
  });
});
