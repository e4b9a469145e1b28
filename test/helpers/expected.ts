/** Expected outputs written by hand, shared by the conformance and CLI tests. */

/** Word counts of examples/wordcount.json, by hand, keys in code-unit order. */
export const EXAMPLE_COUNTS = {
  again: 2,
  and: 1,
  are: 1,
  brown: 1,
  dog: 1,
  fork: 2,
  fox: 1,
  hi: 2,
  héllo: 2,
  join: 3,
  jumps: 1,
  lazy: 1,
  over: 1,
  please: 1,
  quick: 1,
  say: 1,
  the: 2,
  there: 2,
  'wörld,': 1,
  you: 2,
};
