/** The progress bar says which phase a job is in: setup before its first item, join once every item settled. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { barText, progressBar } from '../../src/cli/progress.js';

describe('the progress bar shows the phase', () => {
  it('setup, items, join', () => {
    expect(barText('kmers', { done: 0, total: undefined, phase: 'setup' }, 500)).toBe('kmers setup…');
    expect(barText('kmers', { done: 10, total: 40, phase: 'items' }, 1000)).toMatch(
      /25% \| 10\/40 items \| 10\/s \| ETA/,
    );
    const join = barText('kmers', { done: 400, total: 400, phase: 'join' }, 1000);
    expect(join).toMatch(/100% \| 400\/400 items \| join…$/);
    expect(join).not.toMatch(/ETA/);
  });

  it('a new phase is drawn at once, even within a frame of the last draw', () => {
    const out = new PassThrough() as unknown as NodeJS.WriteStream;
    let text = '';
    const stream = Object.assign(out, { columns: 200 });
    stream.write = (chunk: string) => ((text += chunk), true);
    const bar = progressBar('kmers', stream);
    bar.onProgress({ done: 399, total: 400, phase: 'items' });
    bar.onProgress({ done: 400, total: 400, phase: 'join' });
    bar.stop();
    expect(text).toMatch(/join…/);
  });
});
