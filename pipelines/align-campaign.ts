/**
 * `fj run align-campaign reads.json`: the "Campaign Design" example as a
 * pipeline of the built-in tasks.
 *
 * 1. `prepare` (tasks/align-prepare.ts): raw reads cleaned and checked, one
 *    item per read, into `align`'s input. Under `collect`, with at most 20% of
 *    the reads failing: an unusable read is left out and named on stderr;
 *    more than that fails the campaign.
 * 2. `align` (tasks/align.ts) on a pool of its own: on amqp its items go to
 *    the workers of pool `$FJ_ALIGN_QUEUE` (default `align`, so
 *    `fj worker --queue align`); on local and eager the pool means nothing.
 * 3. `summary` (tasks/align-summary.ts): a fold of the alignments into counts,
 *    a score histogram, the best and the worst.
 *
 * On error, `failure-record` (tasks/failure-record.ts) writes the failure as
 * a JSON file in `$FJ_FAILURE_DIR` (default ./fj-failures). It runs eager, in
 * the pipeline's own process: it needs no pool, and a broker that went away
 * (one way a stage fails) does not stop the record.
 */
import { pipeline } from '../src/index.js';
import Align from '../tasks/align.js';
import AlignPrepare from '../tasks/align-prepare.js';
import AlignSummary from '../tasks/align-summary.js';
import FailureRecord from '../tasks/failure-record.js';

export default pipeline(AlignPrepare, { name: 'prepare', onFailure: 'collect', maxFailures: '20%' })
  .pipe(Align, { queue: process.env.FJ_ALIGN_QUEUE || 'align' })
  .pipe(AlignSummary, { name: 'summary' })
  .onError(FailureRecord, { executor: 'eager' })
  .named('align-campaign');
