/**
 * Whether a batch's signal has aborted, as a flag its 'abort' event sets.
 *
 * The loops over a batch's items check it before every item. Read straight
 * from the signal (`signal.aborted`), that check deoptimized the loop in
 * every thread: each batch gets a new signal (`AbortSignal.any`), whose
 * hidden class differs from the last one's, so V8 threw the loop's
 * optimized code away and compiled it again, `fold` inlined, batch after
 * batch (~170 ms of background compilation per word count on 2 threads).
 * A flag object of one shape keeps the loop monomorphic.
 */
export interface AbortFlag {
  /** Set (synchronously) when the signal aborts. */
  readonly aborted: boolean;
  /** Stops listening to the signal: call when the loop is over. */
  done(): void;
}

/** Watches `signal` until {@link AbortFlag.done}. */
export function abortFlag(signal: AbortSignal): AbortFlag {
  const onAbort = () => void (flag.aborted = true);
  const flag = { aborted: signal.aborted, done: () => signal.removeEventListener('abort', onAbort) };
  if (!flag.aborted) signal.addEventListener('abort', onAbort, { once: true });
  return flag;
}
