/**
 * Errors cross thread and process boundaries as plain data and are rebuilt on
 * the other side with their class, their `where`, and the original stack.
 */
import { CodecError, FjError, isInstance, TaskError, thrownParts, TransportError, UsageError, type Where } from '../errors.js';

/** An error as plain data. */
export interface WireError {
  code: string;
  message: string;
  where?: Where;
  path?: string;
  what?: string;
  cause?: { name: string; message: string; stack?: string };
  /** TransportError only: see TransportErrorOptions.resumable. */
  resumable?: boolean;
}

/**
 * Flattens an error for postMessage or a broker message. Never throws,
 * whatever was thrown (getters and Proxy traps that throw included: see
 * thrownParts), so a hook's odd error stays an item failure.
 */
export function toWire(err: unknown): WireError {
  if (isInstance(err, CodecError)) return { code: err.code, message: err.message, where: err.where, path: err.path, what: err.what };
  if (isInstance(err, TaskError)) return { code: err.code, message: err.message, where: { task: err.task, hook: err.hook, index: err.index }, cause: thrownParts(err.cause) };
  if (isInstance(err, TransportError)) return { code: err.code, message: err.message, resumable: err.resumable };
  if (isInstance(err, FjError)) return { code: err.code, message: err.message };
  const parts = thrownParts(err);
  return { code: 'FJ_INTERNAL', message: parts.message, cause: parts };
}

/** Rebuilds an error flattened by {@link toWire}. */
export function fromWire(w: WireError): Error {
  if (w.code === 'FJ_CODEC' && w.where) return new CodecError(w.where, w.path ?? '', w.what ?? 'unserializable value');
  if (w.code === 'FJ_TASK' && w.where) return new TaskError(w.where, rebuildCause(w));
  if (w.code === 'FJ_USAGE') return new UsageError(w.message);
  if (w.code === 'FJ_TRANSPORT') return new TransportError(w.message, { resumable: w.resumable !== false });
  const e = rebuildCause(w);
  return e;
}

function rebuildCause(w: WireError): Error {
  const c = w.cause ?? { name: 'Error', message: w.message };
  const e = new Error(c.message);
  e.name = c.name;
  if (c.stack) e.stack = c.stack;
  return e;
}
