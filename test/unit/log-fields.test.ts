/** `--log-format json`: the job, its task and the item are fields of their own, not only words in `msg`. */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/log.js';

describe('json log lines carry job, task and item as fields', () => {
  it('each given field is its own key; text lines are unchanged', () => {
    const lines: string[] = [];
    const log = createLogger(
      'kmers',
      'info',
      (l) => void lines.push(l),
      { format: 'json', timestamps: true },
      {
        job: 'j-1',
        task: 'kmers',
        item: 7,
      },
    );
    log.info('started');
    expect(JSON.parse(lines[0])).toMatchObject({
      level: 'info',
      scope: 'kmers',
      job: 'j-1',
      task: 'kmers',
      item: 7,
      msg: 'started',
    });
    const text: string[] = [];
    createLogger('kmers', 'info', (l) => void text.push(l), { format: 'text', timestamps: false }, { job: 'j-1' }).info(
      'x',
    );
    expect(text[0]).toBe('fj info [kmers] x\n');
  });
});
