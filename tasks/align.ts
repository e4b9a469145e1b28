/**
 * Sequence alignment, the "Campaign Design" example: place each edited
 * sequence on a shared reference by its best local alignment (Smith–Waterman,
 * linear gap penalty). One item per edit; the reference travels once, as a
 * param, never inside an item.
 *
 * Scoring: two equal bases score `match`, two different bases `mismatch`, a
 * base against a gap `gap`. Case is ignored. `N` is an unknown base: it scores
 * `mismatch` against everything, N included.
 *
 * Which alignment, when several score the same (the tie-break, deterministic):
 * 1. the highest score;
 * 2. of the cells holding it, the one with the smallest reference end, then
 *    the smallest query end (the first found scanning reference positions in
 *    increasing order, and query positions in increasing order within each);
 * 3. from that end, the path traced back preferring, at every cell, the
 *    diagonal (a base against a base), then a reference base against a gap,
 *    then a query base against a gap, and stopping at the first cell scoring 0.
 * Such an alignment begins and ends with a matching pair of bases.
 *
 * No alignment: when no pair of bases scores above 0 (nothing in common, or
 * only N), the score is 0 and `start`, `end`, `queryStart`, `queryEnd` are -1.
 *
 * How (O(n·m) time, O(m) memory, n = reference length, m = edit length):
 * - Pass 1 walks the whole matrix, reference in the outer loop, keeping one
 *   Int32Array row of scores. It finds the best score and its end (rule 2).
 *   It is branch-free: on random DNA the comparisons of Smith–Waterman are
 *   coin flips, and mispredicted branches cost more than the arithmetic.
 * - Pass 2 finds the start (rule 3) by propagating, with each score, where its
 *   path began (parallel Int32Array rows of reference and query starts), so
 *   no matrix is kept for a traceback. It runs only over the rows a positive
 *   path ending at the best cell can span: such a path has at most `q` base
 *   pairs (q = query end) and, its score being positive, fewer than
 *   `q·match/|gap|` reference bases against gaps. Cells on that path get the
 *   same scores inside the window as in the whole matrix, so the start is the
 *   same; only the cost shrinks (about 2q rows with the default scores).
 */
import { ForkJoinTask } from '../src/index.js';

export interface AlignInput {
  reference: string;
  edits: Edit[];
  /** Default 2 (from the schema). */
  match: number;
  /** Default -1. */
  mismatch: number;
  /** Default -2. */
  gap: number;
}

/** One item: an edited sequence to place on the reference. */
export interface Edit {
  id: string;
  sequence: string;
}

/** The job's shared context: the reference (upper case) and the scores. */
export interface AlignParams {
  reference: string;
  match: number;
  mismatch: number;
  gap: number;
}

/**
 * Where one edit aligns best. Coordinates are 0-based, end exclusive:
 * `reference.slice(start, end)` aligns with `sequence.slice(queryStart, queryEnd)`.
 * All four are -1 when `score` is 0 (no alignment).
 */
export interface Alignment {
  id: string;
  score: number;
  start: number;
  end: number;
  queryStart: number;
  queryEnd: number;
}

export interface AlignSummary {
  /** Number of edits. */
  edits: number;
  /** Edits with an alignment (score > 0). */
  aligned: number;
  /** Mean score over all edits (0 when there are none). */
  meanScore: number;
  /** Id of the best-scoring edit, the first in edit order on a tie; null when nothing aligned. */
  bestId: string | null;
  /** Its score (0 when nothing aligned). */
  bestScore: number;
}

export interface AlignOutput {
  /** One per edit, in edit order. */
  alignments: Alignment[];
  summary: AlignSummary;
}

export default class Align extends ForkJoinTask<AlignInput, Edit, Alignment, AlignOutput, AlignParams> {
  static override description = 'Align edited DNA sequences to a reference (best local alignment, Smith-Waterman)';
  static override schema = 'align';
  /** Its module: threads and workers load it from there when it is run by class (`run(Align, …)`, a pipeline's stage). */
  static override module = import.meta.url;

  /** Upper-cases the reference once per job rather than once per item. */
  override params(input: AlignInput): AlignParams {
    return { reference: input.reference.toUpperCase(), match: input.match, mismatch: input.mismatch, gap: input.gap };
  }

  setup(input: AlignInput): Edit[] {
    return input.edits;
  }

  process(edit: Edit, params: AlignParams): Alignment {
    return { id: edit.id, ...localAlign(params.reference, edit.sequence, params) };
  }

  join(alignments: Alignment[]): AlignOutput {
    let aligned = 0;
    let total = 0;
    let bestId: string | null = null;
    let bestScore = 0;
    for (const a of alignments) {
      total += a.score;
      if (a.score > 0) aligned++;
      if (a.score > bestScore) {
        bestScore = a.score;
        bestId = a.id;
      }
    }
    return {
      alignments,
      summary: {
        edits: alignments.length,
        aligned,
        meanScore: alignments.length ? total / alignments.length : 0,
        bestId,
        bestScore,
      },
    };
  }
}

type Scores = Pick<AlignParams, 'match' | 'mismatch' | 'gap'>;
type Placement = Omit<Alignment, 'id'>;

const A = 0;
const C = 1;
const G = 2;
const T = 3;
/** An unknown base: scores `mismatch` against everything. */
const N = 4;
/** Base code by character code; anything but A, C, G, T (any case) is N. */
const BASE = new Int8Array(128).fill(N);
for (const [ch, code] of [
  ['A', A],
  ['C', C],
  ['G', G],
  ['T', T],
] as const) {
  BASE[ch.charCodeAt(0)] = code;
  BASE[ch.toLowerCase().charCodeAt(0)] = code;
}

const NO_ALIGNMENT: Placement = { score: 0, start: -1, end: -1, queryStart: -1, queryEnd: -1 };

function encode(seq: string): Uint8Array {
  const out = new Uint8Array(seq.length);
  for (let i = 0; i < seq.length; i++) {
    const c = seq.charCodeAt(i);
    out[i] = c < 128 ? BASE[c] : N;
  }
  return out;
}

/** Best local alignment of `query` on `reference`, by the rules in the module comment. */
function localAlign(reference: string, query: string, scores: Scores): Placement {
  const m = query.length;
  if (m === 0 || reference.length === 0) return NO_ALIGNMENT;
  // Pass 1 relies on the differences of scores fitting in 32 bits.
  if (scores.match * m > 2 ** 30)
    throw new RangeError(`edit too long for these scores: ${m} bases at match ${scores.match}`);
  const ref = encode(reference);
  const profile = queryProfile(query, scores);
  const best = bestEnd(ref, profile, m, scores.gap);
  if (best.score === 0) return NO_ALIGNMENT;
  const span = best.queryEnd + Math.ceil((best.queryEnd * scores.match) / -scores.gap);
  const from = Math.max(0, best.end - span - 1);
  const { start, queryStart } = startOf(ref, profile, m, scores.gap, from, best);
  return { score: best.score, start, end: best.end, queryStart, queryEnd: best.queryEnd };
}

/**
 * The query profile: `profile[b * (m + 1) + j]` is the score of reference base
 * `b` against query base `j - 1`, so the inner loops read a score, not compare.
 */
function queryProfile(query: string, { match, mismatch }: Scores): Int32Array {
  const w = query.length + 1;
  const q = encode(query);
  const profile = new Int32Array(5 * w);
  for (let b = A; b <= N; b++) {
    for (let j = 1; j < w; j++) profile[b * w + j] = b !== N && q[j - 1] === b ? match : mismatch;
  }
  return profile;
}

interface End {
  score: number;
  /** Reference end (exclusive) = the cell's row. */
  end: number;
  /** Query end (exclusive) = the cell's column. */
  queryEnd: number;
}

/** Pass 1: the best score and the first cell holding it, scores only. */
function bestEnd(ref: Uint8Array, profile: Int32Array, m: number, gap: number): End {
  const w = m + 1;
  const row = new Int32Array(w); // row[j] = H[i-1][j], overwritten with H[i][j]
  let score = 0;
  let end = -1;
  let queryEnd = -1;
  for (let i = 1; i <= ref.length; i++) {
    const o = ref[i - 1] * w;
    let diag = 0; // H[i-1][j-1]
    let left = 0; // H[i][j-1]
    for (let j = 1; j <= m; j++) {
      const up = row[j];
      // Branch-free max: k is -1 when t > a, else 0; a + ((t - a) & k) = max(a, t).
      // The diagonal and up candidates (and 0) come first: they do not depend
      // on `left`, so only the last max sits on the loop-carried path.
      let a = diag + profile[o + j];
      let t = up + gap;
      let k = (a - t) >> 31;
      a += (t - a) & k;
      a &= ~(a >> 31);
      t = left + gap;
      k = (a - t) >> 31;
      const h = a + ((t - a) & k);
      row[j] = h;
      if (h > score) {
        score = h;
        end = i;
        queryEnd = j;
      }
      diag = up;
      left = h;
    }
  }
  return { score, end, queryEnd };
}

/**
 * Pass 2: where the best path begins, propagating starts over rows
 * `from + 1 .. best.end` and columns `1 .. best.queryEnd`. Row `from` and
 * column 0 are the matrix border: score 0, and a path leaving a 0 cell (i, j)
 * begins at reference index i, query index j.
 */
function startOf(
  ref: Uint8Array,
  profile: Int32Array,
  m: number,
  gap: number,
  from: number,
  best: End,
): { start: number; queryStart: number } {
  const w = m + 1;
  const cols = best.queryEnd;
  const H = new Int32Array(cols + 1);
  const SR = new Int32Array(cols + 1).fill(from);
  const SQ = new Int32Array(cols + 1);
  for (let j = 0; j <= cols; j++) SQ[j] = j;
  for (let i = from + 1; i <= best.end; i++) {
    const o = ref[i - 1] * w;
    let dH = H[0];
    let dR = SR[0];
    let dQ = SQ[0];
    let lH = 0;
    let lR = i;
    let lQ = 0;
    SR[0] = i;
    for (let j = 1; j <= cols; j++) {
      const uH = H[j],
        uR = SR[j],
        uQ = SQ[j];
      // Preference on equal scores: diagonal, then up, then left (rule 3).
      let h = dH + profile[o + j];
      let r = dR;
      let q = dQ;
      if (uH + gap > h) {
        h = uH + gap;
        r = uR;
        q = uQ;
      }
      if (lH + gap > h) {
        h = lH + gap;
        r = lR;
        q = lQ;
      }
      if (h <= 0) {
        h = 0;
        r = i;
        q = j;
      }
      H[j] = h;
      SR[j] = r;
      SQ[j] = q;
      dH = uH;
      dR = uR;
      dQ = uQ;
      lH = h;
      lR = r;
      lQ = q;
    }
  }
  // The window argument in the module comment guarantees this; check it anyway.
  if (H[cols] !== best.score) throw new Error(`align: internal error, window score ${H[cols]} != ${best.score}`);
  return { start: SR[cols], queryStart: SQ[cols] };
}
