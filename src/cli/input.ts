/** Reading a job's input: a JSON file or standard input, with errors that name the file, line and column. */
import { readFile } from 'node:fs/promises';
import { InputError, UsageError } from '../errors.js';

/** Reads and parses JSON from `path`, or from standard input when `path` is `-`. */
export async function readJsonInput(path: string): Promise<{ value: unknown; source: string }> {
  const source = path === '-' ? 'standard input' : path;
  let text: string;
  try {
    text = path === '-' ? await readStdin() : await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`input file not found: ${path}`);
    if (code === 'EISDIR') throw new UsageError(`input is a directory, not a JSON file: ${path}`);
    throw new UsageError(`cannot read input ${source}: ${(err as Error).message}`);
  }
  try {
    return { value: JSON.parse(text), source };
  } catch (err) {
    throw new InputError(`${source}: invalid JSON: ${describeJsonError(text, (err as Error).message)}`);
  }
}

/** Turns V8's "... at position N" into "line L, column C". */
export function describeJsonError(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  // V8 gives no position for "Unexpected token" (a trailing comma, a stray bracket).
  const pos = m ? Number(m[1]) : /end of JSON input/.test(message) ? text.length : findErrorPosition(text);
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      col = 1;
    } else col++;
  }
  const reason = message.replace(/\s*(in JSON )?at position \d+.*$/s, '').replace(/, (\.\.\.)?"[\s\S]*" is not valid JSON$/, '');
  return `${reason} at line ${line}, column ${col}`;
}

/**
 * Index of the first character JSON.parse rejects, by bisection on prefixes:
 * a prefix that stops before the bad character fails only at its end (or
 * parses), one that includes it fails inside.
 */
function findErrorPosition(text: string): number {
  const failsInside = (end: number): boolean => {
    try {
      JSON.parse(text.slice(0, end));
      return false;
    } catch (err) {
      const message = (err as Error).message;
      const at = /position (\d+)/.exec(message);
      return at ? Number(at[1]) < end : !/end of JSON input/.test(message);
    }
  };
  let lo = 0;
  let hi = text.length; // failsInside(hi) holds: the whole text fails inside
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (failsInside(mid + 1)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
