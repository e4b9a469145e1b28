/**
 * Stage 1 of the `align-campaign` pipeline (pipelines/align-campaign.ts):
 * raw reads in, `align`'s input out. One item per read: each is cleaned and
 * checked on its own, so one unusable read fails that item, not the input
 * (the pipeline collects such failures up to a limit).
 *
 * Cleaning a read: whitespace (line breaks of a pasted sequence) and `-`
 * (gaps of an aligned format) are dropped, bases are upper-cased, and the
 * runs of `N` at either end (low-quality ends) are trimmed. The read is
 * refused, with an `UnrecoverableError` naming it (retrying cannot help),
 * when a character is not a base (`A`, `C`, `G`, `T`, `N`), when fewer than
 * `minLength` bases are left, or when more than a `maxN` share of them are `N`.
 *
 * The reference is cleaned the same way, once per job (no trimming: its
 * coordinates are the alignment's), and `match`, `mismatch` and `gap` pass
 * through to `align` when given.
 */
import { ForkJoinTask, UnrecoverableError } from '../src/index.js';
import type { AlignInput, Edit } from './align.js';

/** One read as it comes from the sequencer or a spreadsheet: any case, whitespace, `-` gaps, `N` ends. */
export interface RawRead {
  id: string;
  sequence: string;
}

export interface AlignPrepareInput {
  /** The reference, raw (any case, whitespace allowed). */
  reference: string;
  reads: RawRead[];
  /** Default 20 (from the schema). */
  minLength: number;
  /** Default 0.1 (from the schema). */
  maxN: number;
  match?: number;
  mismatch?: number;
  gap?: number;
}

/** What every item needs, and what `join` passes on: the clean reference, the limits, the scores given. */
export type AlignPrepareParams = Omit<AlignPrepareInput, 'reads'>;

/** `align`'s input: the clean reference and reads, with the scores only when the input gave them (align's defaults apply). */
export type AlignPrepareOutput = Pick<AlignInput, 'reference' | 'edits'> &
  Partial<Pick<AlignInput, 'match' | 'mismatch' | 'gap'>>;

export default class AlignPrepare extends ForkJoinTask<
  AlignPrepareInput,
  RawRead,
  Edit,
  AlignPrepareOutput,
  AlignPrepareParams
> {
  static override description = 'Clean and check raw reads into the input of align (stage 1 of align-campaign)';
  static override schema = 'align-prepare';
  static override module = import.meta.url;

  /** Cleans the reference once per job, not once per read. */
  override params({ reads: _reads, ...rest }: AlignPrepareInput): AlignPrepareParams {
    return { ...rest, reference: rest.reference.replace(/\s+/g, '').toUpperCase() };
  }

  setup(input: AlignPrepareInput): RawRead[] {
    return input.reads;
  }

  process(read: RawRead, params: AlignPrepareParams): Edit {
    return { id: read.id, sequence: cleanRead(read, params) };
  }

  join(edits: Edit[], { reference, match, mismatch, gap }: AlignPrepareParams): AlignPrepareOutput {
    const scores = Object.entries({ match, mismatch, gap }).filter(([, v]) => v !== undefined);
    return { reference, edits, ...Object.fromEntries(scores) };
  }
}

const BASES = new Set(['A', 'C', 'G', 'T', 'N']);

/** The read's bases, cleaned as the module comment says; throws UnrecoverableError naming the read when it is unusable. */
export function cleanRead(read: RawRead, { minLength, maxN }: Pick<AlignPrepareParams, 'minLength' | 'maxN'>): string {
  let bases = '';
  for (let i = 0; i < read.sequence.length; i++) {
    const ch = read.sequence[i];
    if (ch === '-' || /\s/.test(ch)) continue;
    const base = ch.toUpperCase();
    if (!BASES.has(base))
      throw new UnrecoverableError(
        `read ${read.id}: ${JSON.stringify(ch)} at position ${i + 1} is not a base (A, C, G, T or N)`,
      );
    bases += base;
  }
  const trimmed = bases.replace(/^N+/, '').replace(/N+$/, '');
  if (trimmed.length < minLength)
    throw new UnrecoverableError(
      `read ${read.id}: ${trimmed.length} bases once cleaned and trimmed, fewer than minLength ${minLength}`,
    );
  let n = 0;
  for (const b of trimmed) if (b === 'N') n++;
  if (n > maxN * trimmed.length)
    throw new UnrecoverableError(
      `read ${read.id}: ${n} of its ${trimmed.length} bases are N, more than maxN ${maxN} of them`,
    );
  return trimmed;
}
