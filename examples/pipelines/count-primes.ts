// pipelines/count-primes.ts
import { pipeline } from 'fj';

// Stages named as `fj run` names tasks: ./tasks/ranges.ts, then ./tasks/primes.ts (with a setting of its own).
// On error, fj's built-in failure-record writes the failure to $FJ_FAILURE_DIR (default ./fj-failures).
export default pipeline('ranges')
  .pipe('primes', { retries: 1 })
  .onError('failure-record', { executor: 'eager' })
  .named('count-primes');
