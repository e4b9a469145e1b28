/**
 * mulberry32: a small, fast, deterministic 32-bit PRNG returning floats in
 * [0, 1). Shared by the input generators, the benchmarks and the tests, so
 * the same seed gives the same data everywhere.
 * @param {number} seed
 * @returns {() => number}
 */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
