/**
 * The broker URL error, wherever a URL is given (`fj run`, `fj worker`,
 * `fj dashboard`): it names the URL (without its password) and what is
 * wrong once (issue 24: "expected amqp:// or amqps://" was said twice).
 */
import { describe, expect, it } from 'vitest';
import { brokerUrlProblem, checkBrokerUrl } from '../../src/core/address.js';
import { normalizeOptions } from '../../src/core/job-options.js';
import { normalizeDashboardOptions } from '../../src/dashboard/dashboard-options.js';

const BAD = ['http://x', 'rabbit', 'amqp://', 'amqpx://u:secret@h'];
const times = (text: string, word: RegExp) => text.match(new RegExp(word.source, 'gi'))?.length ?? 0;

describe('a bad broker URL', () => {
  it('each problem is said once, and reads after "got URL: "', () => {
    expect(brokerUrlProblem('http://x')).toBe("its scheme http:// is neither amqp:// nor amqps:// (RabbitMQ's)");
    expect(brokerUrlProblem('rabbit')).toBe('not a URL (write it as amqp://[user:password@]host[:port][/vhost])');
    expect(brokerUrlProblem('amqp://')).toBe(
      'it names no host (write it as amqp://[user:password@]host[:port][/vhost])',
    );
    expect(brokerUrlProblem('amqp://guest:guest@127.0.0.1:5672')).toBeUndefined();
  });

  it.each(BAD)('%s: fj run, fj worker and fj dashboard say "expected" once, and never the password', (url) => {
    const messages: string[] = [];
    const grab = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        messages.push((err as Error).message);
        return;
      }
      throw new Error(`no error for ${url}`);
    };
    grab(() => normalizeOptions({ executor: 'amqp', broker: url }));
    grab(() => checkBrokerUrl(url, '--broker'));
    grab(() => normalizeDashboardOptions({ broker: url }, {}));
    grab(() => normalizeDashboardOptions({}, { FJ_BROKER_URL: url }));
    for (const m of messages) {
      expect(times(m, /expected/), m).toBeLessThanOrEqual(1);
      expect(times(m, /amqps:\/\//), m).toBeLessThanOrEqual(1);
      expect(m).not.toContain('secret');
    }
    expect(messages[2]).toMatch(/^Expected `broker` to be a broker URL, got "/);
    expect(messages[3]).toMatch(/^Expected `broker` \(from \$FJ_BROKER_URL\) to be a broker URL/);
  });

  it('fj dashboard takes a good URL, and no URL at all', () => {
    expect(normalizeDashboardOptions({ broker: 'amqps://h/vh' }, {}).broker).toBe('amqps://h/vh');
    expect(normalizeDashboardOptions({}, {}).broker).toBeUndefined();
  });
});
