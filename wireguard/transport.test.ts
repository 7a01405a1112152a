// Transport codec: padding sizes, seal/open round trips into caller buffers, tamper and wrong-key
// rejection, message classification.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readU32LE, readU64LE, writeU32LE } from './bytes.js';
import { MSG_INVALID, classifyMessage } from './messages.js';
import { TransportCrypto, importAeadKey, paddedLength } from './transport.js';
import { NodeCrypto } from '../crypto/backend.js';

describe('paddedLength (multiple of 16, capped at the MTU)', () => {
  it.each([
    [0, 1420, 0],
    [1, 1420, 16],
    [16, 1420, 16],
    [28, 1420, 32],
    [29, 1420, 32],
    [128, 1420, 128],
    [1412, 1420, 1420],
    [1420, 1420, 1420],
    [1500, 1420, 1500],
    [1430, 1420, 1436],
    [1281, 1280, 1296],
    [20, 0, 32],
  ])('len %i mtu %i → %i', (len, mtu, want) => {
    expect(paddedLength(len, mtu)).toBe(want);
  });
});

describe('TransportCrypto', () => {
  const tc = new TransportCrypto();
  const raw = randomBytes(32);
  const key = importAeadKey(raw);

  it.each([0, 1, 15, 16, 100, 1420])('seals %i bytes into the caller buffer and opens them again', (len) => {
    const pkt = randomBytes(len);
    const padded = paddedLength(len, 1420);
    const out = new Uint8Array(2000);
    const n = tc.seal(key, 0xabcdef01, 2 ** 40 + 5, pkt, 0, len, padded, out);
    expect(n).toBe(32 + padded);
    expect(readU32LE(out, 0)).toBe(4);
    expect(readU32LE(out, 4)).toBe(0xabcdef01);
    expect(readU64LE(out, 8)).toBe(2 ** 40 + 5);
    // Independent check with the generic AEAD: nonce = counter, empty AAD.
    const plain = new NodeCrypto().open(raw, 2 ** 40 + 5, out.subarray(16, n), new Uint8Array(0));
    expect(plain && Buffer.from(plain.subarray(0, len)).equals(pkt)).toBe(true);
    expect(plain && plain.subarray(len).every((b) => b === 0)).toBe(true);
    const back = new Uint8Array(2000);
    expect(tc.open(key, out, n, back)).toBe(padded);
    expect(Buffer.from(back.subarray(0, len)).equals(pkt)).toBe(true);
    out[n - 1] ^= 1;
    expect(tc.open(key, out, n, back)).toBe(-1);
    out[n - 1] ^= 1;
    out[8] ^= 1; // counter is the nonce
    expect(tc.open(key, out, n, back)).toBe(-1);
    out[8] ^= 1;
    expect(tc.open(importAeadKey(randomBytes(32)), out, n, back)).toBe(-1);
  });
});

describe('classifyMessage', () => {
  const msg = (type: number, len: number): Uint8Array => {
    const b = new Uint8Array(len);
    if (len >= 4) writeU32LE(b, 0, type);
    return b;
  };
  it.each([
    ['initiation 148', msg(1, 148), 1],
    ['initiation 147', msg(1, 147), MSG_INVALID],
    ['response 92', msg(2, 92), 2],
    ['response 93', msg(2, 93), MSG_INVALID],
    ['cookie 64', msg(3, 64), 3],
    ['transport 32 (keepalive)', msg(4, 32), 4],
    ['transport 31', msg(4, 31), MSG_INVALID],
    ['transport 1452', msg(4, 1452), 4],
    ['type 5', msg(5, 148), MSG_INVALID],
    ['reserved byte set', msg(0x0101, 148), MSG_INVALID],
    ['3 bytes', msg(1, 3), MSG_INVALID],
  ])('%s', (_n, b, want) => {
    expect(classifyMessage(b, b.length)).toBe(want);
  });
});
