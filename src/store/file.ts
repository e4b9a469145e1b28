/**
 * The file payload store (`file://DIR`): `DIR/<jobId>/<sha256 hex>`, one
 * directory per job so deleting a job is one recursive remove. DIR may be a
 * shared mount (NFS and the like) read by workers on other hosts.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TransportError } from '../errors.js';
import { checkJobId, hashBytes, makeRef, metaKey, missingRef, parseRef } from './memory.js';
import type { PayloadStore, Ref } from './store.js';

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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
  /** The absolute directory holding one subdirectory per job. */
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.url = pathToFileURL(dir).href;
  }

  /** Opens the store at `dir` (resolved against the cwd), creating the directory if missing. */
  static async open(dir: string): Promise<FileStore> {
    const abs = resolve(dir);
    try {
      await mkdir(abs, { recursive: true });
    } catch (err) {
      throw new TransportError(`payload store ${pathToFileURL(abs).href}: cannot create directory: ${reason(err)}`, { cause: err });
    }
    return new FileStore(abs);
  }

  async put(jobId: string, bytes: Uint8Array): Promise<Ref> {
    const hash = hashBytes(bytes);
    const ref = makeRef(checkJobId(jobId), hash);
    const jobDir = join(this.dir, jobId);
    const path = join(jobDir, hash);
    try {
      // Same name means same bytes, so an existing file is the put already
      // done. The size check catches a file left short by a host crash on a
      // filesystem that reorders the rename before the data.
      const existing = await stat(path).catch(() => undefined);
      if (existing?.size === bytes.byteLength) return ref;
      await mkdir(jobDir, { recursive: true });
      // pid + random suffix: concurrent puts of the same bytes, in this
      // process or on other hosts, never share a temp file.
      const tmp = join(jobDir, `.${hash}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        await writeFile(tmp, bytes, { flag: 'wx' });
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => undefined);
        throw err;
      }
    } catch (err) {
      throw new TransportError(`payload store ${this.url}: cannot write ${ref}: ${reason(err)}`, { cause: err });
    }
    return ref;
  }

  async get(ref: Ref): Promise<Uint8Array> {
    const { jobId, hash } = parseRef(ref);
    try {
      return await readFile(join(this.dir, jobId, hash));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missingRef(ref, this.url);
      throw new TransportError(`payload store ${this.url}: cannot read ${ref}: ${reason(err)}`, { cause: err });
    }
  }

  async setMeta(jobId: string, name: string, bytes: Uint8Array): Promise<void> {
    const jobDir = join(this.dir, checkJobId(jobId));
    const path = join(jobDir, metaKey(name));
    const tmp = join(jobDir, `.${metaKey(name)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await mkdir(jobDir, { recursive: true });
      await writeFile(tmp, bytes, { flag: 'wx' });
      await rename(tmp, path); // atomic replace: readers see the old record or the new one
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new TransportError(`payload store ${this.url}: cannot write record ${name} of job ${jobId}: ${reason(err)}`, { cause: err });
    }
  }

  async getMeta(jobId: string, name: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(join(this.dir, checkJobId(jobId), metaKey(name)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new TransportError(`payload store ${this.url}: cannot read record ${name} of job ${jobId}: ${reason(err)}`, { cause: err });
    }
  }

  async deleteJob(jobId: string): Promise<void> {
    // checkJobId first: this is a recursive remove, and `..` must never reach it.
    const jobDir = join(this.dir, checkJobId(jobId));
    try {
      await rm(jobDir, { recursive: true, force: true });
    } catch (err) {
      throw new TransportError(`payload store ${this.url}: cannot delete job ${jobId}: ${reason(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    // Nothing held open between calls.
  }
}
