/**
 * Stage 3 of the `align-campaign` pipeline (pipelines/align-campaign.ts):
 * `align`'s output in, a campaign summary out, as a fold: each batch of
 * alignments folds into one accumulator where it ran (counts, a score
 * histogram, the best and the worst), and `join` merges the batches'.
 *
 * The histogram counts aligned edits (score above 0) by score, in bins of
 * {@link BIN_WIDTH}: `{ from: 180, to: 190, edits: 3 }` is three edits
 * scoring 180 to 189. Edits with no alignment are listed by id instead.
 * Ties for best and worst go to the first edit in edit order, as `align`'s
 * own `bestId` does, so the summary is the same however items are batched.
 */
import { FoldTask, type ProcessContext } from '../src/index.js';
import type { Alignment, AlignOutput } from './align.js';

/** Width of a histogram bin, in score points. */
export const BIN_WIDTH = 10;

/** An edit named in the summary: its id and score. */
export interface NamedScore {
  id: string;
  score: number;
}

/** One bin of the score histogram: aligned edits scoring `from` to `to - 1`. */
export interface ScoreBin {
  from: number;
  to: number;
  edits: number;
}

export interface AlignCampaignSummary {
  /** Edits aligned (those that reached this stage). */
  edits: number;
  /** Edits with an alignment (score above 0). */
  aligned: number;
  /** Ids of the edits with no alignment, in edit order. */
  unaligned: string[];
  /** Mean score over all edits, to 2 decimals (0 when there are none). */
  meanScore: number;
  /** The best-scoring edit; null when nothing aligned. */
  best: NamedScore | null;
  /** The worst-scoring edit that aligned; null when nothing aligned. */
  worst: NamedScore | null;
  /** Aligned edits by score, lowest bin first; bins with no edit are left out. */
  histogram: ScoreBin[];
}

/** An edit and where it stands in edit order (the tie-break). */
interface Ranked extends NamedScore {
  index: number;
}

/** One batch's figures (plain data: it crosses threads and hosts). */
export interface SummaryAcc {
  edits: number;
  aligned: number;
  scoreSum: number;
  unaligned: { index: number; id: string }[];
  best: Ranked | null;
  worst: Ranked | null;
  /** Aligned edits per bin, keyed by the bin's `from`. */
  bins: Record<string, number>;
}

export default class AlignSummary extends FoldTask<AlignOutput, Alignment, SummaryAcc, AlignCampaignSummary> {
  static override description =
    "Summarise align's output: counts, a score histogram, best and worst (stage 3 of align-campaign)";
  static override schema = 'align-summary';
  static override module = import.meta.url;

  setup(input: AlignOutput): Alignment[] {
    return input.alignments;
  }

  seed(): SummaryAcc {
    return { edits: 0, aligned: 0, scoreSum: 0, unaligned: [], best: null, worst: null, bins: {} };
  }

  fold(acc: SummaryAcc, a: Alignment, _params: Record<string, never>, ctx: ProcessContext): SummaryAcc {
    acc.edits++;
    acc.scoreSum += a.score;
    if (a.score <= 0) {
      acc.unaligned.push({ index: ctx.index, id: a.id });
      return acc;
    }
    acc.aligned++;
    const me = { id: a.id, score: a.score, index: ctx.index };
    acc.best = better(acc.best, me, 1);
    acc.worst = better(acc.worst, me, -1);
    const bin = String(Math.floor(a.score / BIN_WIDTH) * BIN_WIDTH);
    acc.bins[bin] = (acc.bins[bin] ?? 0) + 1;
    return acc;
  }

  combine(accs: SummaryAcc[]): SummaryAcc {
    const out = this.seed();
    for (const acc of accs) {
      out.edits += acc.edits;
      out.aligned += acc.aligned;
      out.scoreSum += acc.scoreSum;
      out.unaligned.push(...acc.unaligned);
      out.best = better(out.best, acc.best, 1);
      out.worst = better(out.worst, acc.worst, -1);
      for (const [bin, n] of Object.entries(acc.bins)) out.bins[bin] = (out.bins[bin] ?? 0) + n;
    }
    out.unaligned.sort((a, b) => a.index - b.index); // the same list whatever the order of the batches
    return out;
  }

  join(accs: SummaryAcc[]): AlignCampaignSummary {
    const all = this.combine(accs);
    const named = (r: Ranked | null): NamedScore | null => r && { id: r.id, score: r.score };
    return {
      edits: all.edits,
      aligned: all.aligned,
      unaligned: all.unaligned.map((u) => u.id),
      meanScore: all.edits ? Math.round((100 * all.scoreSum) / all.edits) / 100 : 0,
      best: named(all.best),
      worst: named(all.worst),
      histogram: Object.entries(all.bins)
        .map(([from, edits]) => ({ from: Number(from), to: Number(from) + BIN_WIDTH, edits }))
        .sort((a, b) => a.from - b.from),
    };
  }
}

/** Of two edits, the one with the higher score (`sign` 1) or the lower (`sign` -1); on a tie, the earlier one. */
function better(a: Ranked | null, b: Ranked | null, sign: 1 | -1): Ranked | null {
  if (!a || !b) return a ?? b;
  if (a.score !== b.score) return sign * (a.score - b.score) > 0 ? a : b;
  return a.index <= b.index ? a : b;
}
