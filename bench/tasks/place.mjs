/**
 * Benchmark fixture: a light stand-in for the `align` task with the same
 * input (scripts/gen-align.mjs) and the same data movement (the reference is
 * a param: stored once per job, fetched once per worker process; one item
 * per edit), but a per-item computation cheap enough for a pure-Python peer:
 * every 16-mer of the edit at offsets 0, 16, 32... is looked up (first
 * occurrence) in the reference, each hit votes for a diagonal (reference
 * position - offset), and the diagonal with the most votes wins, the
 * smallest on a tie. bench/peers/celery_app.py's place_one is the same.
 */
import { ForkJoinTask } from '../../dist/src/index.js';

const K = 16;
const STEP = 16;

export function placeOne(reference, sequence) {
  const votes = new Map();
  for (let o = 0; o + K <= sequence.length; o += STEP) {
    const p = reference.indexOf(sequence.slice(o, o + K));
    if (p >= 0) votes.set(p - o, (votes.get(p - o) ?? 0) + 1);
  }
  let start = -1;
  let n = 0;
  for (const [d, v] of votes) if (v > n || (v === n && d < start)) [start, n] = [d, v];
  return { start, votes: n };
}

export default class Place extends ForkJoinTask {
  static description = 'Benchmark fixture: place edits on a reference by 16-mer votes (align input)';
  static module = import.meta.url;
  static schema = {
    type: 'object',
    properties: {
      reference: { type: 'string' },
      edits: {
        type: 'array',
        items: {
          type: 'object',
          properties: { id: { type: 'string' }, sequence: { type: 'string' } },
          required: ['id', 'sequence'],
          additionalProperties: false,
        },
      },
    },
    required: ['reference', 'edits'],
    additionalProperties: false,
  };

  /** The reference, upper-cased once per job, is the job's shared context. */
  params(input) {
    return { reference: input.reference.toUpperCase() };
  }

  setup(input) {
    return input.edits;
  }

  process(edit, { reference }) {
    return { id: edit.id, ...placeOne(reference, edit.sequence) };
  }

  join(placements) {
    let placed = 0;
    for (const p of placements) if (p.start >= 0) placed++;
    return { edits: placements.length, placed, placements };
  }
}
