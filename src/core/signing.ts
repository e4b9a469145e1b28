/**
 * Message and record signing (HMAC-SHA256), in the spirit of Celery's
 * `auth` serializer. With a key configured on every process of a pool
 * (`FJ_SIGNING_KEY`, or a file named by `FJ_SIGNING_KEY_FILE`, or the
 * `signingKey` option), every work message, result, control message and job
 * record is signed by whoever writes it and checked by whoever reads it;
 * unsigned or mis-signed ones are dead-lettered (work), dropped (results,
 * control) or refused (records), and logged. Without a key nothing is signed
 * and anyone who can publish to the broker can speak for a job: see
 * docs/reliability.md, "Trust model".
 *
 * A signature covers every field a reader acts on (ids, job, task, code,
 * indices, body), each length-prefixed so no two field lists sign alike.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { TransportError, UsageError } from './errors.js';
import type { Env } from './location.js';

/** The header carrying a message's signature. */
export const SIGNATURE_HEADER = 'fj-sig';

/** Signs and checks with one key. */
export class Signer {
  private readonly key: Buffer;

  constructor(key: string | Uint8Array) {
    this.key = Buffer.from(key);
    if (this.key.length < 16)
      throw new UsageError('the signing key is too short: use at least 16 bytes (e.g. `openssl rand -hex 32`)');
  }

  /**
   * A fingerprint of the key, safe to publish (workers put it in their
   * heartbeats so `fj submit` can tell a pool that holds another key): the
   * first 16 hex digits of the sha256 of the key's HMAC of a fixed,
   * fj-specific text. It names the key; it tells nothing of it.
   */
  get fingerprint(): string {
    return createHash('sha256').update(this.sign('fj signing key fingerprint', 1)).digest('hex').slice(0, 16);
  }

  /** The signature of `parts` (hex). */
  sign(...parts: readonly (string | number | Uint8Array | undefined)[]): string {
    const h = createHmac('sha256', this.key);
    const len = Buffer.alloc(4);
    for (const p of parts) {
      const bytes =
        p === undefined ? Buffer.alloc(0) : typeof p === 'string' || typeof p === 'number' ? Buffer.from(String(p)) : p;
      len.writeUInt32BE(bytes.length);
      h.update(len);
      h.update(bytes);
    }
    return h.digest('hex');
  }

  /** Whether `signature` is the signature of `parts` (compared in constant time). */
  verify(signature: unknown, ...parts: readonly (string | number | Uint8Array | undefined)[]): boolean {
    if (typeof signature !== 'string' || signature.length !== 64) return false;
    const want = Buffer.from(this.sign(...parts), 'hex');
    const got = Buffer.from(signature, 'hex');
    return got.length === want.length && timingSafeEqual(got, want);
  }
}

/**
 * The signer a process uses: `key` (an option), else `FJ_SIGNING_KEY`, else
 * the file `FJ_SIGNING_KEY_FILE` names (which must not be readable by
 * others); undefined when none is set.
 */
export function signerFrom(key: string | undefined, env: Env = process.env): Signer | undefined {
  if (key) return new Signer(key);
  if (env.FJ_SIGNING_KEY) return new Signer(env.FJ_SIGNING_KEY);
  const file = env.FJ_SIGNING_KEY_FILE;
  if (!file) return undefined;
  let text: Buffer;
  try {
    if ((statSync(file).mode & 0o077) !== 0)
      throw new UsageError(`FJ_SIGNING_KEY_FILE ${file}: others can read it (chmod 600 it)`);
    text = readFileSync(file);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`FJ_SIGNING_KEY_FILE ${file}: cannot read it: ${(err as Error).message}`);
  }
  return new Signer(text.toString('utf8').trim());
}

/** The signature of a work message: its id, every fj header a worker acts on, and its body. */
export function signWork(
  signer: Signer,
  messageId: string,
  headers: Record<string, unknown>,
  body: Uint8Array,
): string {
  return signer.sign('work', messageId, ...WORK_HEADERS.map((h) => headerText(headers[h])), body);
}

/** Whether a work message carries a good signature (see {@link signWork}). */
export function verifyWork(
  signer: Signer,
  messageId: unknown,
  headers: Record<string, unknown>,
  body: Uint8Array,
): boolean {
  return (
    typeof messageId === 'string' &&
    signer.verify(
      headers[SIGNATURE_HEADER],
      'work',
      messageId,
      ...WORK_HEADERS.map((h) => headerText(headers[h])),
      body,
    )
  );
}

/** The signature of a result message. */
export function signResult(
  signer: Signer,
  correlationId: string,
  job: string,
  status: string,
  body: Uint8Array,
): string {
  return signer.sign('result', correlationId, job, status, body);
}

// The headers of protocol 1 a worker acts on (broker/amqp.ts `H`), spelled out so this module depends on no transport.
const WORK_HEADERS = [
  'fj-protocol',
  'fj-job',
  'fj-task',
  'fj-code',
  'fj-params',
  'fj-first',
  'fj-count',
  'fj-timeout',
  'fj-isolated',
];

function headerText(v: unknown): string {
  return v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** A record's text, sealed with its signature when there is a signer (`{"record": …, "sig": …}`). */
export function sealRecord(signer: Signer | undefined, name: string, jobId: string, text: string): Uint8Array {
  if (!signer) return Buffer.from(text);
  return Buffer.from(JSON.stringify({ record: text, sig: signer.sign('record', jobId, name, text) }));
}

/** Whether a record was sealed (written by a process with a signing key), whatever the key. */
export function isSealed(bytes: Uint8Array): boolean {
  const text = Buffer.from(bytes).toString('utf8');
  if (!text.startsWith('{"record":')) return false;
  try {
    const sealed = JSON.parse(text) as { record?: unknown; sig?: unknown };
    return typeof sealed.record === 'string' && typeof sealed.sig === 'string';
  } catch {
    return false;
  }
}

/**
 * A record's text, its signature checked when there is a signer: a record
 * that is not signed with the key is refused (TransportError naming it),
 * never used. Without a signer, a sealed record is read unchecked.
 */
export function openRecord(signer: Signer | undefined, name: string, jobId: string, bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('utf8');
  let sealed: { record?: unknown; sig?: unknown } | undefined;
  if (text.startsWith('{"record":')) {
    try {
      sealed = JSON.parse(text) as { record?: unknown; sig?: unknown };
    } catch {
      sealed = undefined;
    }
  }
  if (!signer) return sealed && typeof sealed.record === 'string' ? sealed.record : text;
  if (
    !sealed ||
    typeof sealed.record !== 'string' ||
    !signer.verify(sealed.sig, 'record', jobId, name, sealed.record)
  ) {
    throw new TransportError(`record ${name} of job ${jobId} is not signed with this process's signing key: refused`, {
      resumable: false,
    });
  }
  return sealed.record;
}
