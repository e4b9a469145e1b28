/**
 * External services (Redis, RabbitMQ) for integration tests. The rule: under
 * CI=true or FJ_REQUIRE_BROKER=1 a service that does not answer fails its
 * tests loudly; elsewhere they skip with a warning saying why.
 */
import { connect } from 'node:net';

/** True under CI=true or FJ_REQUIRE_BROKER=1: service tests must run, not skip. */
export function requireServices(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.FJ_REQUIRE_BROKER === '1';
}

/** True when something accepts TCP connections at host:port within the timeout. */
export function tcpAnswers(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Whether the Redis at `url` (`redis://` or `rediss://`, default port 6379) accepts connections. */
export async function redisAvailable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  // URL keeps IPv6 brackets ([::1]); net.connect wants the bare address.
  return tcpAnswers(hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', Number(port || 6379));
}
