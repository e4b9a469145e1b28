/**
 * The file store's job index and beacons (see job-index.ts for what they
 * are), in two private directories beside the jobs':
 *
 * - `DIR/.index/<submitted>~<id>~<state>~<expires>~<task>`: one file per
 *   job, its name carrying every field a query filters on, so listing is one
 *   `readdir` and a sort, whatever the number of jobs; only the entries a
 *   page shows are opened (for their label). A state change renames the
 *   file (written beside it first, so a reader never sees none).
 * - `DIR/.beacons/<kind>/<name>`: `{ expires, text }`.
 *
 * Nothing here expires by itself: the store sweeps as it is used. Listing
 * (and, at most once a minute, writing) the index removes every job whose
 * entry has expired, with its data; listing beacons removes the dead ones.
 * Names starting with a dot cannot be job ids, so these never clash with a job.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TransportError } from '../core/errors.js';
import {
  checkBeaconName,
  checkEntry,
  checkTtl,
  JOB_STATES,
  matches,
  readEntry,
  type BeaconKind,
  type IndexEntry,
  type IndexPage,
  type IndexQuery,
  type JobState,
} from './job-index.js';

/** Fixed width, so names sort by time. */
const pad = (n: number) => String(n).padStart(15, '0');
/** Task names may hold any character: encoded so `~` and `/` cannot split a name. */
const enc = (task: string) => encodeURIComponent(task).replace(/~/g, '%7E').replace(/\./g, '%2E');

/** An entry's file name. */
export function entryName(e: IndexEntry): string {
  return `${pad(e.submitted)}~${e.id}~${e.state}~${pad(e.expires)}~${enc(e.task)}`;
}

interface Named {
  name: string;
  submitted: number;
  id: string;
  state: JobState;
  expires: number;
  task: string;
}

/** The fields of an entry's file name; undefined for a name that is not one. */
function parseName(name: string): Named | undefined {
  const parts = name.split('~');
  if (parts.length !== 5) return undefined;
  const [sub, id, state, exp, task] = parts as [string, string, string, string, string];
  if (!/^\d{15}$/.test(sub) || !/^\d{15}$/.test(exp) || !(JOB_STATES as readonly string[]).includes(state))
    return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(task);
  } catch {
    return undefined;
  }
  return { name, submitted: Number(sub), id, state: state as JobState, expires: Number(exp), task: decoded };
}

/** Sweeps on writes happen at most this often per process. */
const SWEEP_EVERY_MS = 60_000;

export class FileIndex {
  private readonly indexDir: string;
  private readonly beaconDir: string;
  private lastSweep = 0;
  /** Directories {@link dirOf} made or found, and checked. */
  private readonly checked = new Set<string>();

  constructor(
    dir: string,
    private readonly url: string,
    /** Removes a job's data (the store's deleteJob without the index). */
    private readonly removeJob: (jobId: string) => Promise<void>,
  ) {
    this.indexDir = join(dir, '.index');
    this.beaconDir = join(dir, '.beacons');
  }

  /** Writes `entry` (replacing the file named `previous`, if another); sweeps now and then. */
  async write(entry: IndexEntry, previous: IndexEntry | undefined): Promise<void> {
    const e = checkEntry(entry);
    const name = entryName(e);
    await this.inDir([this.indexDir], (dir) => this.writeAtomic(dir, name, JSON.stringify(e)));
    const old = previous && entryName(previous);
    if (old && old !== name) await unlink(join(this.indexDir, old)).catch(() => {});
    if (Date.now() - this.lastSweep > SWEEP_EVERY_MS) await this.list({ limit: 0 });
  }

  /** Removes the entry of `entry`'s job. */
  async remove(entry: IndexEntry): Promise<void> {
    await unlink(join(this.indexDir, entryName(entry))).catch(() => {});
  }

  /**
   * Lists entries matching `q`, newest first. Names sort as the index does
   * (submitted, then id), so only the names a page needs are parsed; every
   * {@link SWEEP_EVERY_MS} (and on `limit: 0`) all of them are, and the
   * expired jobs are removed with their data.
   */
  async list(q: IndexQuery): Promise<IndexPage> {
    let names: string[];
    try {
      names = await this.inDir([this.indexDir], (dir) => readdir(dir));
    } catch (err) {
      throw this.fail('list the job index', err);
    }
    const now = Date.now();
    const sweep = q.limit === 0 || now - this.lastSweep > SWEEP_EVERY_MS;
    if (sweep) this.lastSweep = now;
    names.sort();
    const page: Named[] = [];
    const expired: Named[] = [];
    let more = false;
    for (let i = names.length - 1; i >= 0; i--) {
      if (more && !sweep) break;
      const p = parseName(names[i]);
      if (!p) continue;
      if (p.expires <= now) {
        expired.push(p);
        continue;
      }
      if (more || !matches({ ...p, label: '' }, q)) continue;
      // Two files for one job (two writers raced) sort side by side: the later state wins.
      const prev = page.at(-1);
      if (prev?.id === p.id) {
        if (JOB_STATES.indexOf(p.state) > JOB_STATES.indexOf(prev.state)) page[page.length - 1] = p;
        continue;
      }
      if (page.length === q.limit) more = true;
      else page.push(p);
    }
    for (const p of expired) {
      await this.removeJob(p.id).catch(() => {});
      await unlink(join(this.indexDir, p.name)).catch(() => {});
    }
    const entries = await Promise.all(
      page.map(async (p) => {
        const text = await readFile(join(this.indexDir, p.name), 'utf8').catch(() => '');
        const e = readEntry(text);
        return e && e.id === p.id
          ? e
          : { id: p.id, state: p.state, task: p.task, label: '', submitted: p.submitted, expires: p.expires };
      }),
    );
    return { entries, more };
  }

  async putBeacon(kind: BeaconKind, name: string, text: string, ttlMs: number): Promise<void> {
    const body = JSON.stringify({ expires: Date.now() + checkTtl(ttlMs), text });
    await this.inDir([this.beaconDir, join(this.beaconDir, kind)], (dir) =>
      this.writeAtomic(dir, checkBeaconName(name), body),
    );
  }

  async listBeacons(kind: BeaconKind): Promise<{ name: string; text: string }[]> {
    const dir = join(this.beaconDir, kind);
    const names = await this.inDir([this.beaconDir, dir], (d) => readdir(d));
    const now = Date.now();
    const out: { name: string; text: string }[] = [];
    for (const name of names) {
      if (name.startsWith('.')) continue;
      try {
        const b = JSON.parse(await readFile(join(dir, name), 'utf8')) as { expires?: unknown; text?: unknown };
        if (typeof b.expires !== 'number' || typeof b.text !== 'string') continue;
        if (b.expires <= now) await unlink(join(dir, name)).catch(() => {});
        else out.push({ name, text: b.text });
      } catch {
        // gone meanwhile, or not a beacon
      }
    }
    return out;
  }

  /**
   * `dir`, created 0700 when missing, refused when it is not a real
   * directory. Checked once, then remembered: it lies in the store's
   * private directory (checked 0700 and ours when the store opened), where
   * no one else can replace it; a worker asks for its beacons' directory
   * several times a second, and each check was two system calls.
   */
  private async dirOf(dir: string): Promise<string> {
    if (this.checked.has(dir)) return dir;
    await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw this.fail(`create ${dir}`, err);
    });
    const st = await lstat(dir);
    if (!st.isDirectory())
      throw new TransportError(`payload store ${this.url}: ${dir} is not a directory: refused`, { resumable: false });
    this.checked.add(dir);
    return dir;
  }

  /**
   * Runs `op` in the last of `dirs` (each made by {@link dirOf} in the one
   * before); once more, with the directories checked afresh, when one was
   * removed or replaced under this process (ENOENT, ENOTDIR: `rm -r` of the
   * store's `.beacons`): made again, or refused by name.
   */
  private async inDir<T>(dirs: string[], op: (dir: string) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let dir = '';
      for (const d of dirs) dir = await this.dirOf(d);
      try {
        return await op(dir);
      } catch (err) {
        const code =
          ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (err as NodeJS.ErrnoException).code;
        if (attempt > 0 || (code !== 'ENOENT' && code !== 'ENOTDIR')) throw err;
        for (const d of dirs) this.checked.delete(d);
      }
    }
  }

  private async writeAtomic(dir: string, name: string, text: string): Promise<void> {
    const tmp = join(dir, `.${randomBytes(6).toString('hex')}.${process.pid}.tmp`);
    try {
      await writeFile(tmp, text, { flag: 'wx', mode: 0o600 });
      await rename(tmp, join(dir, name));
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw this.fail(`write ${join(dir, name)}`, err);
    }
  }

  private fail(op: string, err: unknown): TransportError {
    if (err instanceof TransportError) return err;
    return new TransportError(`payload store ${this.url}: cannot ${op}: ${(err as Error).message}`, { cause: err });
  }
}
