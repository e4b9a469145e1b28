/**
 * The file payload store (`file://DIR`): `DIR/<jobId>/<sha256 hex>`, one
 * directory per job so deleting a job is one recursive remove. DIR may be a
 * shared mount (NFS and the like) read by workers on other hosts.
 *
 * What is read back is trusted only as far as who could have written it:
 * - DIR must be the user's and not writable by group or others (unless
 *   sticky, like /tmp, where others cannot touch our entries), and no
 *   directory above it writable by others (the rule of core/private-dir.ts,
 *   shared with the validator cache); a symlink on the way to DIR owned by
 *   another user is refused. Refused: TransportError naming the directory.
 * - A job directory must be a real directory (not a symlink), the user's and
 *   private; fj creates directories 0700 and files 0600.
 * - Payload files are opened without following symlinks, and their bytes
 *   are hashed and compared with the ref on every read (and before an
 *   existing file is taken as a put already done): planted or damaged bytes
 *   are refused, never used.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TransportError } from '../core/errors.js';
import {
  describeStat,
  foreignLink,
  isOpen,
  isPrivate,
  isSticky,
  unsafeAncestor,
  currentUid,
} from '../core/private-dir.js';
import { checkJobId, hashBytes, makeRef, metaKey, missingRef, parseRef, verified } from './memory.js';
import { FileIndex } from './file-index.js';
import { readEntry, type BeaconKind, type IndexEntry, type IndexPage, type IndexQuery } from './job-index.js';
import type { PayloadStore, Ref } from './store.js';

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Errors that waiting will not cure: the store cannot take the data (full, read-only, not allowed). */
const REFUSALS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

/** Whether a job stopped by this write error could be resumed later (see TransportErrorOptions.resumable). */
function resumable(err: unknown): boolean {
  return !REFUSALS.has((err as NodeJS.ErrnoException).code ?? '');
}

/**
 * Payloads as files under one directory. Writes go to a temp file in the
 * job's directory and are renamed into place: rename is atomic within a
 * directory, so a reader (here or on another host) sees either no file or the
 * whole file, never a partial one. Temp names start with a dot, which no valid
 * ref can, so they are never mistaken for payloads.
 */
export class FileStore implements PayloadStore {
  readonly url: string;
  /** The absolute directory holding one subdirectory per job (symlinks resolved). */
  readonly dir: string;
  readonly #index: FileIndex;

  private constructor(dir: string) {
    this.dir = dir;
    this.url = pathToFileURL(dir).href;
    this.#index = new FileIndex(dir, this.url, (jobId) => this.#removeJobDir(jobId));
  }

  /**
   * Opens the store at `dir` (resolved against the cwd), creating the
   * directory (0700) if missing. Rejects with TransportError when it cannot
   * be created, or when someone else could write to it (see the module
   * comment).
   */
  static async open(dir: string): Promise<FileStore> {
    const abs = resolve(dir);
    const url = pathToFileURL(abs).href;
    let real: string;
    try {
      const link = foreignLink(abs);
      if (link) throw new TransportError(`payload store ${url}: refused: ${link}`, { resumable: false });
      await mkdir(abs, { recursive: true, mode: 0o700 });
      real = await realpath(abs);
      const st = await lstat(real);
      const why =
        currentUid !== undefined && st.uid !== currentUid
          ? `${real} belongs to another user (${describeStat(st)})`
          : isOpen(st) && !isSticky(st)
            ? `${real} is writable by others (${describeStat(st)})`
            : unsafeAncestor(real);
      if (why)
        throw new TransportError(
          `payload store ${url}: refused: ${why}; anyone who can write there could change the job's data (use a directory of your own, mode 0700)`,
          { resumable: false },
        );
    } catch (err) {
      if (err instanceof TransportError) throw err;
      throw new TransportError(`payload store ${url}: cannot create directory: ${reason(err)}`, {
        cause: err,
        resumable: false,
      });
    }
    return new FileStore(real);
  }

  /**
   * The job's directory, checked: a real directory of ours that no one else
   * can write to. With `create`, made (0700) when missing; without, a
   * missing one is returned as is (reads then find nothing).
   */
  async #jobDir(jobId: string, create: boolean): Promise<string> {
    const jobDir = join(this.dir, checkJobId(jobId));
    if (create)
      await mkdir(jobDir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    let st;
    try {
      st = await lstat(jobDir);
    } catch (err) {
      if (!create && (err as NodeJS.ErrnoException).code === 'ENOENT') return jobDir;
      throw err;
    }
    if (st.isSymbolicLink())
      throw new TransportError(`payload store ${this.url}: job directory ${jobDir} is a symbolic link: refused`, {
        resumable: false,
      });
    if (!st.isDirectory())
      throw new TransportError(`payload store ${this.url}: ${jobDir} is not a directory: refused`, {
        resumable: false,
      });
    if (!isPrivate(st))
      throw new TransportError(
        `payload store ${this.url}: job directory ${jobDir} is writable by others or not ours (${describeStat(st)}): refused`,
        { resumable: false },
      );
    return jobDir;
  }

  async put(jobId: string, bytes: Uint8Array): Promise<Ref> {
    const hash = hashBytes(bytes);
    const ref = makeRef(checkJobId(jobId), hash);
    try {
      const jobDir = await this.#jobDir(jobId, true);
      const path = join(jobDir, hash);
      // Same name should mean same bytes, but only a check says so: a file
      // left short by a host crash, or planted by someone, is replaced.
      const existing = await readNoFollow(path, bytes.byteLength).catch(() => undefined);
      if (existing && hashBytes(existing) === hash) return ref;
      // pid + random suffix: concurrent puts of the same bytes, in this
      // process or on other hosts, never share a temp file.
      const tmp = join(jobDir, `.${hash}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        await writeFile(tmp, bytes, { flag: 'wx', mode: 0o600 });
        await rename(tmp, path); // replaces a symlink of that name, never follows it
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => undefined);
        throw err;
      }
    } catch (err) {
      if (err instanceof TransportError) throw err;
      throw new TransportError(`payload store ${this.url}: cannot write ${ref}: ${reason(err)}`, {
        cause: err,
        resumable: resumable(err),
      });
    }
    return ref;
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const { jobId, hash } = parseRef(ref);
    let bytes: Uint8Array;
    try {
      bytes = (await readNoFollow(join(await this.#jobDir(jobId, false), hash)))!;
    } catch (err) {
      if (err instanceof TransportError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missingRef(ref, this.url);
      if ((err as NodeJS.ErrnoException).code === 'ELOOP')
        throw new TransportError(`payload store ${this.url}: ${ref} is a symbolic link: refused`, { resumable: false });
      throw new TransportError(`payload store ${this.url}: cannot read ${ref}: ${reason(err)}`, { cause: err });
    }
    return verified(ref, hash, bytes, this.url);
  }

  async setMeta(jobId: string, name: string, bytes: Uint8Array): Promise<void> {
    const key = metaKey(name);
    let tmp: string | undefined;
    try {
      const jobDir = await this.#jobDir(jobId, true);
      tmp = join(jobDir, `.${key}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      await writeFile(tmp, bytes, { flag: 'wx', mode: 0o600 });
      await rename(tmp, join(jobDir, key)); // atomic replace: readers see the old record or the new one
    } catch (err) {
      if (tmp) await rm(tmp, { force: true }).catch(() => undefined);
      if (err instanceof TransportError) throw err;
      throw new TransportError(
        `payload store ${this.url}: cannot write record ${name} of job ${jobId}: ${reason(err)}`,
        { cause: err, resumable: resumable(err) },
      );
    }
  }

  async getMeta(jobId: string, name: string): Promise<Uint8Array | undefined> {
    const key = metaKey(name);
    try {
      return await readNoFollow(join(await this.#jobDir(jobId, false), key));
    } catch (err) {
      if (err instanceof TransportError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new TransportError(
        `payload store ${this.url}: cannot read record ${name} of job ${jobId}: ${reason(err)}`,
        { cause: err },
      );
    }
  }

  async deleteJob(jobId: string): Promise<void> {
    const entry = await this.indexEntry(jobId).catch(() => undefined);
    if (entry) await this.#index.remove(entry);
    await this.#removeJobDir(jobId);
  }

  async indexJob(entry: IndexEntry): Promise<void> {
    const previous = await this.indexEntry(entry.id);
    await this.#index.write(entry, previous);
    // The job keeps its own copy: the next write knows which file to replace.
    await this.setMeta(entry.id, 'index', new TextEncoder().encode(JSON.stringify(entry)));
  }

  async indexEntry(jobId: string): Promise<IndexEntry | undefined> {
    const bytes = await this.getMeta(jobId, 'index');
    const e = bytes && readEntry(new TextDecoder().decode(bytes));
    if (!e || e.id !== jobId) return undefined;
    if (e.expires <= Date.now()) {
      await this.#index.remove(e);
      await this.#removeJobDir(jobId);
      return undefined;
    }
    return e;
  }

  listJobs(query: IndexQuery): Promise<IndexPage> {
    return this.#index.list(query);
  }

  putBeacon(kind: BeaconKind, name: string, text: string, ttlMs: number): Promise<void> {
    return this.#index.putBeacon(kind, name, text, ttlMs);
  }

  listBeacons(kind: BeaconKind): Promise<{ name: string; text: string }[]> {
    return this.#index.listBeacons(kind);
  }

  async #removeJobDir(jobId: string): Promise<void> {
    // checkJobId first: this is a recursive remove, and `..` must never reach it.
    const jobDir = join(this.dir, checkJobId(jobId));
    try {
      // A file written into the directory while it is removed (a late duplicate's result) fails the last rmdir
      // with ENOTEMPTY: rm tries again (seen once in bench/cluster.mjs, a job that ended with copies still running).
      await rm(jobDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
    } catch (err) {
      throw new TransportError(`payload store ${this.url}: cannot delete job ${jobId}: ${reason(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    // Nothing held open between calls.
  }
}

/**
 * The bytes of a regular file, opened without following a symlink (ELOOP
 * then); with `size`, undefined at once when the file has another size.
 */
async function readNoFollow(path: string, size?: number): Promise<Uint8Array | undefined> {
  const fh = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'EINVAL' });
    if (size !== undefined && st.size !== size) return undefined;
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
