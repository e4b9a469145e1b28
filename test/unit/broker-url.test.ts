/**
 * The broker URL error, wherever a URL is given (`fj run`, `fj worker`,
 * `fj dashboard`): it names the URL (without its password) and what is
 * wrong once (issue 24: "expected amqp:// or amqps://" was said twice).
 */
import { describe, expect, it } from 'vitest';
import { brokerUrlList, brokerUrlProblem, checkBrokerUrl } from '../../src/core/address.js';
import { redactUrls } from '../../src/core/url.js';
import { scrub, withHeartbeat } from '../../src/broker/amqp.js';
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

describe('a list of broker URLs (several RabbitMQ nodes)', () => {
  const good = 'amqp://u:pw1@a:5672, amqp://u:pw2@b:5673/vh';

  it('a good list is taken everywhere a broker is named, spaces around the commas ignored', () => {
    expect(brokerUrlList(good)).toEqual(['amqp://u:pw1@a:5672', 'amqp://u:pw2@b:5673/vh']);
    expect(brokerUrlProblem(good)).toBeUndefined();
    expect(checkBrokerUrl(good, '--broker')).toBe(good);
    expect(normalizeOptions({ executor: 'amqp', broker: good }).broker).toBe(good);
    expect(normalizeOptions({ executor: 'amqp' }, { FJ_BROKER_URL: good }).broker).toBe(good);
    expect(normalizeDashboardOptions({ broker: good }).broker).toBe(good);
  });

  it('a bad URL in the list is named, without any password', () => {
    const list = 'amqp://u:pw1@a,http://u:pw2@b';
    expect(brokerUrlProblem(list)).toBe(
      `its URL "http://u:***@b/": its scheme http:// is neither amqp:// nor amqps:// (RabbitMQ's)`,
    );
    expect(() => checkBrokerUrl(list, '$FJ_BROKER_URL')).toThrow(
      /^invalid broker URL "amqp:\/\/u:\*\*\*@a,http:\/\/u:\*\*\*@b\/" \(\$FJ_BROKER_URL\): its URL "http:\/\/u:\*\*\*@b\/": its scheme/,
    );
    expect(() => normalizeOptions({ executor: 'amqp', broker: list })).toThrow(/its URL "http:\/\/u:\*\*\*@b\/"/);
    for (const bad of ['amqp://a,,amqp://b', 'amqp://a,', ',amqp://a'])
      expect(brokerUrlProblem(bad)).toMatch(/empty entry/);
  });

  it('each URL gets the heartbeat default, and every password is scrubbed from a message', () => {
    expect(withHeartbeat('amqp://a, amqp://b?heartbeat=5')).toBe('amqp://a?heartbeat=30,amqp://b?heartbeat=5');
    expect(scrub('x pw1 y pw2', good)).toBe('x *** y ***');
    expect(redactUrls(good)).toBe('amqp://u:***@a:5672,amqp://u:***@b:5673/vh');
  });
});
