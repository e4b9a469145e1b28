/**
 * From a store URL to a PayloadStore. The one place that knows the schemes,
 * so the CLI, the executors and the workers agree on what `--store` means.
 */
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../core/errors.js';
import type { PayloadStore } from './store.js';
import { redactUrl } from '../core/url.js';

export { redactUrl };

/**
 * Where payloads go when no store URL is given. Per host: fine for the local
 * executor, but workers on other hosts need a shared `file://` mount or Redis.
 */
export const DEFAULT_STORE_DIR = join(tmpdir(), 'fj-store');

const SCHEMES = 'memory:, file://DIR, redis://[user:pass@]HOST:PORT[/DB][?prefix=NAME], rediss://...';

/** The directory a `file:` URL names; `file://rel/dir` (no leading slash) is taken relative to the cwd. */
function fileUrlDir(url: string): string {
  const rest = url.replace(/^file:(\/\/)?/i, '');
  if (!rest) throw new UsageError(`store URL ${url} names no directory; expected file://DIR`);
  // A query would be dropped (absolute) or become part of the name (relative): either way not what was meant.
  if (rest.includes('?'))
    throw new UsageError(
      `store URL ${url}: a file store takes no query parameters (such as ?prefix=); its directory is its namespace, so give each team its own (file:///srv/fj-team-a), and write a '?' in a directory name as %3F`,
    );
  return rest.startsWith('/') ? fileURLToPath(`file://${rest}`) : resolve(decodeURIComponent(rest));
}

/**
 * Opens the payload store `url` names: `memory:`, `file://DIR` (created if
 * missing), `redis://` or `rediss://`; empty or undefined means a file store
 * at {@link DEFAULT_STORE_DIR}.
 *
 * Namespaces: a Redis URL may end in `?prefix=NAME` (1-64 characters of
 * A-Z a-z 0-9 . _ -); every key the store writes, reads or scans then
 * starts with `NAME:`, so stores with different prefixes on one Redis
 * database never see each other's jobs, results, job index or worker
 * heartbeats. Without it the keys are those fj always used. The only other
 * query parameters taken are `password` and `family` (IPv4/IPv6); any other
 * (a typo such as `?prefx=`) is a UsageError, as is a bad prefix. A file
 * store's namespace is its directory: a `file:` URL takes no query.
 * `url` is passed as given to workers and coordinators, prefix included. ioredis is imported only when a Redis URL is
 * given, so processes without Redis never load it; the other stores too are
 * imported on first use (importing fj, as every task module does, loads
 * none). Throws UsageError for any other scheme and TransportError when the
 * store cannot be reached.
 */
export async function openStore(url: string | undefined): Promise<PayloadStore> {
  const trimmed = url?.trim() ?? '';
  if (!trimmed) return (await import('./file.js')).FileStore.open(DEFAULT_STORE_DIR);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'memory':
      return new (await import('./memory.js')).MemoryStore();
    case 'file':
      return (await import('./file.js')).FileStore.open(fileUrlDir(trimmed));
    case 'redis':
    case 'rediss': {
      const { RedisStore } = await import('./redis.js');
      return RedisStore.open(trimmed);
    }
    default:
      throw new UsageError(`unsupported store URL ${redactUrl(trimmed)}: expected one of ${SCHEMES}`);
  }
}
