// The one seeded PRNG of the tree (mulberry32), for tests, fuzzers, differential checks, synthetic
// workloads and benchmarks: the same seed gives the same sequence on every run and machine, so a failure
// or a figure reproduces from its seed. Not for anything secret (use node:crypto randomBytes).
// It lives in types/ because every folder may import types/ and this file is pure (no imports).

/** Uniform doubles in [0, 1) from a 32-bit seed (mulberry32: 32-bit state, period 2^32). */
export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
