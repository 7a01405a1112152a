// BLAKE2s (RFC 7693) specialised for the handshake's many tiny inputs: 32-byte HASH, HMAC-BLAKE2s
// (RFC 2104 over BLAKE2s, 64-byte block) and keyed BLAKE2s-128 (mac1/mac2/cookie). One module-level
// state and message buffer are reused, so a call allocates only its result.
//
// Why not node:crypto / @noble: per call, createHash/createHmac cost 3.0 / 4.5 µs and @noble's keyed
// blake2s 9 µs (figures in backend.ts), dominated by object setup, while these inputs are one to three
// 64-byte blocks. Those per-call figures came from throwaway timing loops that are not in the repo; the
// effect that is reproducible is handshakes/s, measured by wireguard/handshake-bench.ts (run by
// `npm run bench:dataplane`, section "handshakes"). Verified against RFC 7693 (Appendix B and the
// Appendix E self-test) and against node and @noble on random inputs (blake2s.test.ts).
// Not constant-time-relevant: no secret-dependent branches.

const IV0 = 0x6a09e667;
const IV1 = 0xbb67ae85;
const IV2 = 0x3c6ef372;
const IV3 = 0xa54ff53a;
const IV4 = 0x510e527f;
const IV5 = 0x9b05688c;
const IV6 = 0x1f83d9ab;
const IV7 = 0x5be0cd19;

// Message word schedule per round (RFC 7693 §2.7), flattened.
const SIGMA = Uint8Array.from([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
  7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
  2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
  13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
  10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
]);

const h = new Int32Array(8);
const m = new Int32Array(16);
const block = new Uint8Array(64);
let blockLen = 0;
let counter = 0; // bytes hashed so far (inputs here are far below 2^32)

// The compression function with the 16 working words in locals and G written out (RFC 7693 §3.2):
// about 3× faster in V8 than indexing a typed array in a helper.
function compress(last: boolean): void {
  for (let i = 0, j = 0; i < 16; i++, j += 4) m[i] = block[j] | (block[j + 1] << 8) | (block[j + 2] << 16) | (block[j + 3] << 24);
  let v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
  let v8 = IV0, v9 = IV1, v10 = IV2, v11 = IV3, v12 = IV4 ^ counter, v13 = IV5, v14 = last ? ~IV6 : IV6, v15 = IV7;
  for (let s = 0; s < 160; s += 16) {
    v0 = (v0 + v4 + m[SIGMA[s + 0]]) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16);
    v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
    v0 = (v0 + v4 + m[SIGMA[s + 1]]) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24);
    v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
    v1 = (v1 + v5 + m[SIGMA[s + 2]]) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16);
    v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
    v1 = (v1 + v5 + m[SIGMA[s + 3]]) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24);
    v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
    v2 = (v2 + v6 + m[SIGMA[s + 4]]) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16);
    v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
    v2 = (v2 + v6 + m[SIGMA[s + 5]]) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24);
    v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
    v3 = (v3 + v7 + m[SIGMA[s + 6]]) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16);
    v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
    v3 = (v3 + v7 + m[SIGMA[s + 7]]) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24);
    v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
    v0 = (v0 + v5 + m[SIGMA[s + 8]]) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16);
    v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
    v0 = (v0 + v5 + m[SIGMA[s + 9]]) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24);
    v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
    v1 = (v1 + v6 + m[SIGMA[s + 10]]) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16);
    v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
    v1 = (v1 + v6 + m[SIGMA[s + 11]]) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24);
    v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
    v2 = (v2 + v7 + m[SIGMA[s + 12]]) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16);
    v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
    v2 = (v2 + v7 + m[SIGMA[s + 13]]) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24);
    v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
    v3 = (v3 + v4 + m[SIGMA[s + 14]]) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16);
    v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
    v3 = (v3 + v4 + m[SIGMA[s + 15]]) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24);
    v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
  }
  h[0] ^= v0 ^ v8;
  h[1] ^= v1 ^ v9;
  h[2] ^= v2 ^ v10;
  h[3] ^= v3 ^ v11;
  h[4] ^= v4 ^ v12;
  h[5] ^= v5 ^ v13;
  h[6] ^= v6 ^ v14;
  h[7] ^= v7 ^ v15;
}


function init(outLen: number, key: Uint8Array | null): void {
  const keyLen = key ? key.length : 0;
  h[0] = IV0 ^ 0x01010000 ^ (keyLen << 8) ^ outLen;
  h[1] = IV1;
  h[2] = IV2;
  h[3] = IV3;
  h[4] = IV4;
  h[5] = IV5;
  h[6] = IV6;
  h[7] = IV7;
  counter = 0;
  blockLen = 0;
  if (key && keyLen > 0) {
    block.fill(0);
    block.set(key);
    blockLen = 64; // the padded key block is compressed once more data (or the end) arrives
  }
}

function update(data: Uint8Array): void {
  let off = 0;
  const n = data.length;
  while (off < n) {
    if (blockLen === 64) {
      // Only compress a full block once we know it is not the last one.
      counter += 64;
      compress(false);
      blockLen = 0;
    }
    const take = Math.min(64 - blockLen, n - off);
    for (let i = 0; i < take; i++) block[blockLen + i] = data[off + i];
    blockLen += take;
    off += take;
  }
}

function finish(out: Uint8Array, outLen: number): Uint8Array {
  counter += blockLen;
  block.fill(0, blockLen);
  compress(true);
  for (let i = 0; i < outLen; i++) out[i] = (h[i >> 2] >>> (8 * (i & 3))) & 0xff;
  return out;
}

/** BLAKE2s-256 of a ‖ b (‖ c). Input must be under 4 GiB. */
export function blake2sHash(a: Uint8Array, b?: Uint8Array, c?: Uint8Array): Uint8Array {
  init(32, null);
  update(a);
  if (b) update(b);
  if (c) update(c);
  return finish(new Uint8Array(32), 32);
}

/** Keyed BLAKE2s with `outLen` bytes of output (1..32); key 1..32 bytes. */
export function blake2sKeyed(key: Uint8Array, data: Uint8Array, outLen = 16): Uint8Array {
  if (key.length === 0 || key.length > 32 || outLen < 1 || outLen > 32) throw new RangeError('blake2s: bad key or output length');
  init(outLen, key);
  update(data);
  return finish(new Uint8Array(outLen), outLen);
}

/** Unkeyed BLAKE2s with `outLen` bytes of output (for tests of every length). */
export function blake2sN(data: Uint8Array, outLen: number): Uint8Array {
  init(outLen, null);
  update(data);
  return finish(new Uint8Array(outLen), outLen);
}

const ipad = new Uint8Array(64);
const opad = new Uint8Array(64);
const inner = new Uint8Array(32);

/** HMAC-BLAKE2s(key, a ‖ b) (RFC 2104, block size 64; keys over 64 bytes are hashed first). */
export function hmacBlake2s(key: Uint8Array, a: Uint8Array, b?: Uint8Array): Uint8Array {
  const k = key.length > 64 ? blake2sHash(key) : key;
  ipad.fill(0x36);
  opad.fill(0x5c);
  for (let i = 0; i < k.length; i++) {
    ipad[i] ^= k[i];
    opad[i] ^= k[i];
  }
  init(32, null);
  update(ipad);
  update(a);
  if (b) update(b);
  finish(inner, 32);
  init(32, null);
  update(opad);
  update(inner);
  const out = finish(new Uint8Array(32), 32);
  inner.fill(0);
  ipad.fill(0);
  opad.fill(0);
  return out;
}
