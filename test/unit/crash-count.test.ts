/**
 * The poison-item count (src/worker/crash-count.ts) on a real file store:
 * an item is failed only after MAX_CRASHES starts without an answer, an
 * answer clears the count, and a record not sealed with the pool's key is
 * not believed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Signer } from '../../src/core/signing.js';
import { openStore } from '../../src/store/open.js';
import { clearStarts, countStart, MAX_CRASHES } from '../../src/worker/crash-count.js';

const dir = mkdtempSync(join(tmpdir(), 'fj-crash-count-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('crash count', async () => {
  const store = await openStore(`file://${dir}`);
  const signer = new Signer('k'.repeat(32));

  it(`an item started ${MAX_CRASHES} times without an answer is failed on its next start, naming the count`, async () => {
    for (let k = 0; k < MAX_CRASHES; k++) expect(await countStart(store, 'job-a', 7, signer)).toBe(k + 1);
    expect(await countStart(store, 'job-a', 7, signer)).toMatch(
      new RegExp(`was started ${MAX_CRASHES} times and never answered`),
    );
    // other items and other jobs keep their own counts
    expect(await countStart(store, 'job-a', 8, signer)).toBe(1);
    expect(await countStart(store, 'job-b', 7, signer)).toBe(1);
  });

  it('an answer clears the count: copies of an item that answered are never charged for it', async () => {
    for (let copy = 0; copy < MAX_CRASHES + 2; copy++) {
      expect(await countStart(store, 'job-c', 3, signer)).toBe(1);
      await clearStarts(store, 'job-c', 3, signer);
    }
    for (let k = 0; k < MAX_CRASHES; k++) expect(await countStart(store, 'job-c', 3, signer)).toBe(k + 1);
    expect(await countStart(store, 'job-c', 3, signer)).toMatch(/never answered/);
  });

  it('a record the pool did not seal counts as the limit: the suspect item is not run on its word', async () => {
    await clearStarts(store, 'job-d', 1); // unsealed: written without the key
    expect(await countStart(store, 'job-d', 1, signer)).toMatch(/never answered/);
  });
});
