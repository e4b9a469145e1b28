/**
 * A job's output is JSON: `fj run` prints it and `-o` writes it, so `join`'s
 * return value is checked like every other value a hook returns, before it
 * is handed on. Without this, a `Map` printed as `{}`, `undefined` as the
 * word `undefined`, and a BigInt as fj's "internal error".
 *
 * JSON.stringify's own conversions are kept where they lose nothing a
 * reader expects: a `Date` becomes its ISO string, an object property whose
 * value is `undefined` is left out. Everything else that JSON cannot hold
 * is refused, naming where it is.
 */

/** What kind of value a description names. */
function kindOf(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'bigint':
      return 'a bigint (JSON has none: return it as a string, or as a number if it fits)';
    case 'function':
      return `a function (${(value as { name?: string }).name || 'anonymous'})`;
    case 'symbol':
      return 'a symbol';
    case 'number':
      return `${String(value)} (JSON has no NaN or Infinity)`;
  }
  if (value instanceof Map) return 'a Map (JSON.stringify would print it as {}: return an object or an array of pairs)';
  if (value instanceof Set) return 'a Set (JSON.stringify would print it as {}: return an array)';
  if (value instanceof Uint8Array) return 'a Uint8Array (JSON has no bytes: return a string, e.g. base64)';
  const name =
    (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'unknown';
  return `an instance of ${name}`;
}

/**
 * Why `value` is not JSON data, as "value at PATH is WHAT" (PATH a JSON
 * pointer, `/` for the whole value); undefined when it is.
 */
export function jsonOutputProblem(value: unknown): string | undefined {
  const ancestors = new Set<object>();
  const walk = (v: unknown, path: string, inObject: boolean): string | undefined => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return undefined;
    if (typeof v === 'number' && Number.isFinite(v)) return undefined;
    if (v === undefined && inObject) return undefined; // left out, as JSON.stringify does
    if (typeof v !== 'object' || v instanceof Map || v instanceof Set || v instanceof Uint8Array)
      return `value at ${path || '/'} is ${kindOf(v)}`;
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? `value at ${path || '/'} is an invalid Date` : undefined;
    if (ancestors.has(v)) return `value at ${path || '/'} contains itself (a cycle)`;
    const proto = Object.getPrototypeOf(v) as unknown;
    if (!Array.isArray(v) && proto !== Object.prototype && proto !== null)
      return `value at ${path || '/'} is ${kindOf(v)}`;
    ancestors.add(v);
    try {
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const p = walk(v[i], `${path}/${i}`, false);
          if (p) return p;
        }
      } else {
        for (const key of Object.keys(v)) {
          const p = walk(
            (v as Record<string, unknown>)[key],
            `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`,
            true,
          );
          if (p) return p;
        }
      }
    } finally {
      ancestors.delete(v);
    }
    return undefined;
  };
  return walk(value, '', false);
}
