/**
 * Signing (core/signing.ts): a work message's signature covers its id, every
 * header a worker acts on and its body, so changing any one of them makes it
 * refused; a record read with a key must carry a good seal, so a bare record
 * written over a sealed one is refused, never used.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRecord, sealRecord, Signer, signWork, SIGNATURE_HEADER, verifyWork } from '../../src/core/signing.js';
import { FileStore } from '../../src/store/file.js';
import {
  readManifest,
  readOutcome,
  writeManifest,
  writeOutcome,
  type JobOutcome,
  type Manifest,
} from '../../src/store/job-records.js';

const signer = new Signer('k'.repeat(32));

/** A work message as the publisher sends it, signed. */
function signedMessage(): { id: string; headers: Record<string, unknown>; body: Buffer } {
  const id = 'job-1:run-1:7';
  const body = Buffer.from('the batch');
  const headers: Record<string, unknown> = {
    'fj-protocol': 1,
    'fj-job': 'job-1',
    'fj-task': 'chaos',
    'fj-code': 'a'.repeat(16),
    'fj-params': 'job-1/' + 'b'.repeat(64),
    'fj-first': 40,
    'fj-count': 10,
    'fj-timeout': 30_000,
    'fj-isolated': false,
  };
  headers[SIGNATURE_HEADER] = signWork(signer, id, headers, body);
  return { id, headers, body };
}

describe('work message signature', () => {
  it('a correctly signed message verifies', () => {
    const m = signedMessage();
    expect(verifyWork(signer, m.id, m.headers, m.body)).toBe(true);
  });

  const changes: [string, unknown][] = [
    ['fj-protocol', 2],
    ['fj-job', 'job-2'],
    ['fj-task', 'other'],
    ['fj-code', 'c'.repeat(16)],
    ['fj-params', 'job-1/' + 'd'.repeat(64)],
    ['fj-first', 0],
    ['fj-count', 11],
    ['fj-timeout', 1],
    ['fj-isolated', true],
  ];
  it.each(changes)('changing %s alone makes it refused', (header, value) => {
    const m = signedMessage();
    expect(verifyWork(signer, m.id, { ...m.headers, [header]: value }, m.body)).toBe(false);
    const { [header]: _, ...without } = m.headers;
    expect(verifyWork(signer, m.id, without, m.body)).toBe(false);
  });

  it('changing the message id or the body alone makes it refused', () => {
    const m = signedMessage();
    expect(verifyWork(signer, 'job-1:run-1:8', m.headers, m.body)).toBe(false);
    expect(verifyWork(signer, m.id, m.headers, Buffer.from('the batcH'))).toBe(false);
    expect(verifyWork(signer, undefined, m.headers, m.body)).toBe(false);
  });

  it('another key, or no signature, is refused', () => {
    const m = signedMessage();
    expect(verifyWork(new Signer('x'.repeat(32)), m.id, m.headers, m.body)).toBe(false);
    const { [SIGNATURE_HEADER]: _, ...unsigned } = m.headers;
    expect(verifyWork(signer, m.id, unsigned, m.body)).toBe(false);
  });
});

describe('records with a key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fj-signing-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let store: FileStore;
  beforeAll(async () => {
    store = await FileStore.open(join(dir, 'store'));
  });
  afterAll(() => store.close());

  const manifest: Manifest = {
    version: 1,
    task: { name: 'chaos', module: undefined, className: 'Chaos', codeHash: 'a'.repeat(16) },
    input: { ref: 'job-r/' + 'e'.repeat(64) },
    paramsRef: 'job-r/' + 'f'.repeat(64),
    queue: 'fj.q',
    options: { retryDelayMs: 1000, onFailure: 'fail', inlineLimit: 1024 },
    created: new Date(0).toISOString(),
  };
  const outcome = {
    state: 'succeeded',
    outputRef: 'job-r/' + '0'.repeat(64),
    stats: {
      items: 1,
      failed: 0,
      retried: 0,
      messages: 1,
      bytesPublished: 10,
      bytesStored: 0,
      wallMs: 5,
      failures: [],
    },
    coordinator: 'w1',
    finished: 1_700_000_000_000,
  } as unknown as JobOutcome;

  it('a sealed record opens; a bare one (no seal) is refused', () => {
    const text = JSON.stringify({ a: 1 });
    expect(openRecord(signer, 'manifest', 'job-r', sealRecord(signer, 'manifest', 'job-r', text))).toBe(text);
    expect(() => openRecord(signer, 'manifest', 'job-r', Buffer.from(text))).toThrow(/not signed .*: refused/);
    // a bare record shaped like a seal but without a signature
    expect(() => openRecord(signer, 'manifest', 'job-r', Buffer.from(JSON.stringify({ record: text })))).toThrow(
      /refused/,
    );
  });

  it('a bare JSON manifest written over meta-manifest is refused', async () => {
    await writeManifest(store, 'job-r', manifest, signer);
    expect((await readManifest(store, 'job-r', signer)).task.codeHash).toBe('a'.repeat(16));
    const file = join(dir, 'store', 'job-r', 'meta-manifest');
    const sealed = JSON.parse(readFileSync(file, 'utf8')) as { record: string };
    writeFileSync(file, sealed.record.replace('a'.repeat(16), 'b'.repeat(16)));
    await expect(readManifest(store, 'job-r', signer)).rejects.toThrow(
      /record manifest of job job-r is not signed with this process's signing key: refused/,
    );
  });

  it('a bare JSON result written over meta-result is refused (read as no result)', async () => {
    await writeOutcome(store, 'job-r', outcome, signer);
    expect((await readOutcome(store, 'job-r', signer))?.state).toBe('succeeded');
    const file = join(dir, 'store', 'job-r', 'meta-result');
    writeFileSync(file, (JSON.parse(readFileSync(file, 'utf8')) as { record: string }).record);
    expect(await readOutcome(store, 'job-r', signer)).toBeUndefined();
    // the same bare record without a key is read as written
    expect((await readOutcome(store, 'job-r'))?.state).toBe('succeeded');
  });
});
