/**
 * The dashboard's doors, in this order for every request:
 *
 * 1. The `Host` it names must be the dashboard's own: its address, `localhost`,
 *    `127.0.0.1` or `[::1]` with its port (any IP address when it binds every
 *    interface, and the machine's name), or a name of `allowedHosts`. Else 421:
 *    a page of another site whose name was rebound to 127.0.0.1 sends its own
 *    name, so it cannot read the dashboard through DNS rebinding.
 * 2. The request target must be a path (`/...`); an absolute-form target
 *    (`GET http://x/api/jobs`) is 400: this is not a proxy.
 * 3. The rules below are decided on the route the router matched (the one
 *    parse of the URL the handler sees too, so `/%61pi/jobs` is `/api/jobs`
 *    here as there): reads of the page's own files (an explicit list) need
 *    nothing; other reads need the token on a non-loopback address; every
 *    mutating request comes from the dashboard's own origin (else 403) and
 *    carries the token in a header, never a cookie (else 401).
 *
 * An event stream (EventSource cannot set headers) carries a ticket instead
 * of the token: `POST /api/events/ticket` with the token answers one, good
 * for one stream within {@link TICKET_TTL_MS}, so the token itself never
 * appears in a URL (access logs, proxies).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DashboardConfig } from './dashboard-options.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** How long a stream ticket is good for: 30 s. */
export const TICKET_TTL_MS = 30_000;
/** At most this many tickets wait to be used; the oldest go first beyond it. */
const MAX_TICKETS = 1000;

/** One-use tickets for event streams (see the module's comment). Nothing here outlives {@link TICKET_TTL_MS}. */
export class StreamTickets {
  private readonly open = new Map<string, number>();

  /** A new ticket. */
  issue(now = Date.now()): string {
    for (const [t, expires] of this.open) if (expires <= now || this.open.size >= MAX_TICKETS) this.open.delete(t);
    const ticket = randomBytes(18).toString('base64url');
    this.open.set(ticket, now + TICKET_TTL_MS);
    return ticket;
  }

  /** Whether `ticket` was issued and not yet used or expired; it is used up either way. */
  take(ticket: string, now = Date.now()): boolean {
    const expires = this.open.get(ticket);
    this.open.delete(ticket);
    return expires !== undefined && expires > now;
  }
}

/** The token a request carries in a header: `Authorization: Bearer T` or `X-FJ-Token: T`. */
function tokenOf(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const h = req.headers['x-fj-token'];
  return typeof h === 'string' ? h : undefined;
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

const WILDCARD = new Set(['0.0.0.0', '::', '']);

/** Splits a `Host` header into its name (lower case, an IPv6 address without brackets) and port (undefined when absent). */
function splitHost(header: string): { name: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(header.trim());
  if (!m) return undefined;
  return { name: m[1].toLowerCase().replace(/^\[|\]$/g, ''), port: m[2] === undefined ? undefined : Number(m[2]) };
}

/**
 * Whether a request's `Host` header names this dashboard (rule 1 above). `port` is the port it serves on.
 * Exported for the tests of the rule.
 */
export function hostAllowed(header: string | undefined, config: DashboardConfig, port: number): boolean {
  if (header === undefined) return false;
  const h = splitHost(header);
  if (!h) return false;
  if (config.allowedHosts.some((a) => a === h.name || a === header.trim().toLowerCase())) return true;
  if ((h.port ?? 80) !== port) return false;
  const bound = config.host.toLowerCase();
  if (h.name === 'localhost' || h.name === '127.0.0.1' || h.name === '::1' || h.name === bound) return true;
  if (WILDCARD.has(bound)) return isIP(h.name) !== 0 || h.name === hostname().toLowerCase();
  return false;
}

/** What the guard needs besides the config: the page's routes (served to anyone), the port once known, the tickets. */
export interface GuardParts {
  /** The routes of the page's own files (they hold no data): `/`, `/page/app.js`, ... */
  pageRoutes: ReadonlySet<string>;
  /** The port served on (known once listening). */
  port: () => number;
  tickets: StreamTickets;
}

/** A fastify `onRequest` hook enforcing the rules above. */
export function guard(config: DashboardConfig, parts: GuardParts) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const host = req.headers.host;
    if (!hostAllowed(host, config, parts.port()))
      return void (await reply.code(421).send({
        error:
          `Host '${host ?? ''}' is not this dashboard's address (${config.host}:${parts.port()}, localhost:${parts.port()}): ` +
          'refused, as a page of another site reaching it through DNS rebinding would be; to serve another name ' +
          '(a proxy in front of it), list it in FJ_DASHBOARD_HOSTS (allowedHosts)',
      }));
    if (!req.raw.url?.startsWith('/'))
      return void (await reply
        .code(400)
        .send({ error: 'the request target must be a path (/...): this is not a proxy' }));
    const route = req.routeOptions.url;
    const safe = SAFE.has(req.method);
    if (safe && route !== undefined && parts.pageRoutes.has(route)) return; // the page itself holds nothing
    if (safe && !config.readsNeedToken) return;
    if (!safe && crossOrigin(req)) return void (await reply.code(403).send({ error: 'cross-origin request refused' }));
    if (sameToken(tokenOf(req), config.token)) return;
    const ticket = (req.query as Record<string, unknown> | undefined)?.ticket;
    if (safe && route === '/api/events' && typeof ticket === 'string' && parts.tickets.take(ticket)) return;
    return void (await reply.code(401).send({
      error:
        route === '/api/events'
          ? 'missing, used or expired ticket: POST /api/events/ticket with the token for one'
          : 'missing or wrong token: send it as Authorization: Bearer <token> or X-FJ-Token',
    }));
  };
}
