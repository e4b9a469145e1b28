/**
 * A detached job's end is written once (detached/entries.ts `writeEnding`):
 * a second coordinator ending the same job (a redelivered job message, a
 * takeover racing the first's end) leaves the first end — its result
 * record, output, status and index entry — as it was.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { readOutput, writeEnding } from '../../src/detached/entries.js';
import { FileStore } from '../../src/store/file.js';
import { readOutcome, readStatus, type Manifest } from '../../src/store/job-records.js';

const dir = mkdtempSync(join(tmpdir(), 'fj-ending-'));
let store: FileStore;
beforeAll(async () => {
  store = await FileStore.open(join(dir, 'store'));
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const manifest: Manifest = {
  version: 1,
  task: { name: 'sum', module: undefined, className: 'Sum', codeHash: 'a'.repeat(16) },
  input: { ref: `job-e/${'e'.repeat(64)}` },
  paramsRef: `job-e/${'f'.repeat(64)}`,
  queue: 'fj.q',
  options: { retryDelayMs: 1000, onFailure: 'fail', inlineLimit: 1024 },
  created: new Date(0).toISOString(),
  detached: { label: 'sum', submitted: Date.now(), resultTtlMs: 3600_000 },
};

describe('writeEnding', () => {
  it('a second end of the same job leaves the first: result, output, status and index entry', async () => {
    const first = await writeEnding(store, 'job-e', manifest, { state: 'succeeded', json: '42' }, 'coordinator-a');
    const second = await writeEnding(
      store,
      'job-e',
      manifest,
      { state: 'failed', error: new UsageError('too late') },
      'coordinator-b',
    );
    expect(second).toEqual(first);
    const kept = await readOutcome(store, 'job-e');
    expect(kept).toMatchObject({ state: 'succeeded', coordinator: 'coordinator-a' });
    expect(kept?.error).toBeUndefined();
    expect(await readOutput(store, kept!)).toBe(42);
    expect(await readStatus(store, 'job-e')).toMatchObject({ state: 'succeeded', coordinator: 'coordinator-a' });
    expect((await store.indexEntry('job-e'))?.state).toBe('succeeded');
  });
});
