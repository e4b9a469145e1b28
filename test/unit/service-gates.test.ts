/**
 * The gates of the scenarios that need a tool besides the broker: under
 * CI=true or FJ_REQUIRE_BROKER=1 a missing `rabbitmqctl` fails (as a missing
 * broker does); elsewhere the scenario is skipped with a warning naming it.
 */
import { describe, expect, it, vi } from 'vitest';
import { findRabbitmqctl } from '../helpers/broker.js';

const missing = { PATH: '/nonexistent', FJ_RABBITMQCTL: '/nonexistent/rabbitmqctl' };

describe('findRabbitmqctl', () => {
  it.each([{ CI: 'true' }, { FJ_REQUIRE_BROKER: '1' }])('missing under %o: throws, naming the scenario', (ci) => {
    expect(() => findRabbitmqctl('broker-restart', { ...missing, ...ci })).toThrow(
      /rabbitmqctl is not installed, and CI=true\/FJ_REQUIRE_BROKER=1 requires the broker-restart scenario/,
    );
  });

  it('missing elsewhere: undefined, with a warning naming the scenario', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      expect(findRabbitmqctl('consumer-timeout', missing)).toBeUndefined();
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/SKIPPING the consumer-timeout scenario/));
    } finally {
      warn.mockRestore();
    }
  });

  it('found through FJ_RABBITMQCTL or PATH', () => {
    expect(findRabbitmqctl('x', { CI: 'true', FJ_RABBITMQCTL: process.execPath })).toBe(process.execPath);
    const dir = process.execPath.slice(0, process.execPath.lastIndexOf('/'));
    // node's own directory holds no rabbitmqctl: PATH is searched, then the Debian paths
    const found = findRabbitmqctl('x', { PATH: dir });
    expect(found === undefined || found.endsWith('/rabbitmqctl')).toBe(true);
  });
});
