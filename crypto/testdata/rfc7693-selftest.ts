// RFC 7693 Appendix E: the deterministic input generator of the BLAKE2s self-test (a Fibonacci-like
// sequence seeded per length), shared by the tests of our BLAKE2s and of the crypto backends.
export function selftestSeq(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let a = Math.imul(0xdead4bad, seed) >>> 0;
  let b = 1;
  for (let i = 0; i < len; i++) {
    const t = (a + b) >>> 0;
    a = b;
    b = t;
    out[i] = (t >>> 24) & 0xff;
  }
  return out;
}
