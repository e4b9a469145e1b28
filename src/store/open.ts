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

const SCHEMES = 'memory:, file://DIR, redis://[user:pass@]HOST:PORT[/DB], rediss://...';

/** The directory a `file:` URL names; `file://rel/dir` (no leading slash) is taken relative to the cwd. */
function fileUrlDir(url: string): string {
  const rest = url.replace(/^file:(\/\/)?/i, '');
  if (!rest) throw new UsageError(`store URL ${url} names no directory; expected file://DIR`);
  return rest.startsWith('/') ? fileURLToPath(`file://${rest}`) : resolve(decodeURIComponent(rest));
}

/**
 * Opens the payload store `url` names: `memory:`, `file://DIR` (created if
 * missing), `redis://` or `rediss://`; empty or undefined means a file store
 * at {@link DEFAULT_STORE_DIR}. ioredis is imported only when a Redis URL is
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
