/**
 * The files `-o` and `--stats` name. A job can run for hours: a target that
 * cannot be written is reported before any work (exit 2, naming the path),
 * and a write that still fails at the end (the directory removed meanwhile,
 * a full disk) never loses the output: it is saved to a file of its own in
 * the cwd (else the OS temp dir, else printed on stdout), and the error
 * says where.
 */
import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import type { Output } from './streams.js';

/** What a target holds, in messages: `the output`, `the stats`. */
export type Contents = 'output' | 'stats';

function problem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such directory';
  if (code === 'ENOTDIR') return 'not a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EROFS') return 'read-only file system';
  return (err as Error).message;
}

/**
 * Throws UsageError unless `path` could be written now: its directory exists
 * and is writable, and it is not itself a directory or a read-only file.
 * Creates nothing.
 */
export function checkOutputTarget(path: string, contents: Contents): void {
  const abs = resolve(path);
  const fail = (why: string) =>
    new UsageError(`cannot write the ${contents} to ${abs}: ${why} (checked before running the job)`);
  let st;
  try {
    st = statSync(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fail(problem(err));
  }
  if (st?.isDirectory()) throw fail('is a directory');
  try {
    if (st) accessSync(abs, constants.W_OK);
    else {
      const parent = dirname(abs);
      if (!statSync(parent).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
      accessSync(parent, constants.W_OK | constants.X_OK);
    }
  } catch (err) {
    throw fail(problem(err));
  }
}

/**
 * Writes `text` to `path`. On failure the text is saved elsewhere (see the
 * module comment) and the returned message says what failed and where the
 * text went; undefined when the write succeeded.
 */
export async function writeOutputFile(
  path: string,
  text: string,
  contents: Contents,
  stdout: Output,
): Promise<string | undefined> {
  try {
    await writeFile(path, text);
    return undefined;
  } catch (err) {
    const name = `fj-${contents}-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.json`;
    const what = `cannot write the ${contents} to ${resolve(path)}: ${problem(err)}`;
    const pronoun = contents === 'output' ? 'it was' : 'they were';
    for (const dir of [process.cwd(), tmpdir()]) {
      const fallback = join(dir, name);
      try {
        writeFileSync(fallback, text, { flag: 'wx' });
        return `${what}; ${pronoun} saved to ${fallback} instead`;
      } catch {
        // try the next place
      }
    }
    stdout.write(text);
    return `${what}; ${pronoun} printed on stdout instead`;
  }
}
