/**
 * A pool's dead letters from the dashboard: peek at the first few (decoded
 * safely and size-capped by broker/dead-letters.ts; nothing is taken off the
 * queue) and purge them, which needs the pool's name repeated in the body
 * as the confirmation.
 */
import type { FastifyInstance } from 'fastify';
import { listDeadLetters, purgeDeadLetters } from '../broker/dead-letters.js';
import { UsageError } from '../core/errors.js';
import { sendError, type DashboardContext } from './context.js';

/** At most this many dead letters are peeked at in one request. */
const MAX_PEEK = 50;

/** Registers `GET /api/queues/:pool/dead` and `POST /api/queues/:pool/dead/purge`. */
export function deadLetterRoutes(app: FastifyInstance, ctx: DashboardContext): void {
  app.get<{ Params: { pool: string }; Querystring: { limit?: string } }>(
    '/api/queues/:pool/dead',
    async (req, reply) => {
      try {
        const limit = req.query.limit === undefined ? 10 : Number(req.query.limit);
        if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PEEK)
          throw new UsageError(`limit must be a whole number from 1 to ${MAX_PEEK}, got '${req.query.limit}'`);
        return await listDeadLetters({ broker: ctx.config.broker, queue: req.params.pool }, limit);
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );

  app.post<{ Params: { pool: string }; Body: { confirm?: unknown } }>(
    '/api/queues/:pool/dead/purge',
    async (req, reply) => {
      try {
        if (req.body?.confirm !== req.params.pool)
          throw new UsageError(
            `to purge the dead letters of ${req.params.pool}, send {"confirm": "${req.params.pool}"}`,
          );
        return await purgeDeadLetters({ broker: ctx.config.broker, queue: req.params.pool });
      } catch (err) {
        return sendError(reply, err);
      }
    },
  );
}
