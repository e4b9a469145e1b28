/**
 * Waiting for an event in a test: poll `check` until it returns something
 * other than undefined/false, and fail with a message naming what did not
 * happen when the deadline passes. Never a fixed sleep standing in for an
 * event, never a poll with no way out.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  withinMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + withinMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      last = undefined;
    } catch (err) {
      last = err; // e.g. a queue not declared yet: try again until the deadline
    }
    if (Date.now() >= end)
      throw new Error(
        `timed out after ${withinMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
