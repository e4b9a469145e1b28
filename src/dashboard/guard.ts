/**
 * The dashboard's doors: every mutating request carries the token in a
 * header (never a cookie, so a cross-site form cannot send it) and comes
 * from the dashboard's own origin; on a non-loopback address reads need the
 * token too. Answers 401 (no or wrong token) or 403 (another origin).
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DashboardConfig } from './options.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The token a request carries: `Authorization: Bearer T`, `X-FJ-Token: T`, or (for EventSource, which cannot set headers, on reads only) `?token=T`. */
function tokenOf(req: FastifyRequest, safe: boolean): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const h = req.headers['x-fj-token'];
  if (typeof h === 'string') return h;
  if (safe) {
    const q = (req.query as Record<string, unknown> | undefined)?.token;
    if (typeof q === 'string') return q;
  }
  return undefined;
}

function sameToken(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether the request comes from another site: its `Sec-Fetch-Site`, else its `Origin` against the `Host` it was sent to. */
export function crossOrigin(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false; // not a browser's cross-site request (curl, a server)
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

/** A fastify `onRequest` hook enforcing the rules above for /api and /metrics. */
export function guard(config: DashboardConfig) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const path = req.url.split('?')[0]!;
    const safe = SAFE.has(req.method);
    if (safe && !config.readsNeedToken) return;
    if (safe && !path.startsWith('/api/') && path !== '/metrics') return; // the page itself holds nothing
    if (!safe && crossOrigin(req)) return void (await reply.code(403).send({ error: 'cross-origin request refused' }));
    if (!sameToken(tokenOf(req, safe), config.token)) {
      return void (await reply.code(401).send({ error: 'missing or wrong token: send it as Authorization: Bearer <token> or X-FJ-Token' }));
    }
  };
}
