// TCP option encoding and parsing, with SACK (RFC 2018 §2-3) in detail: what writeTcpOptions and
// writeSackOption produce, what parseTcpOptions makes of well-formed, malformed and truncated options
// (never a throw; a malformed SACK option yields no blocks), and random bytes.
import { describe, expect, it } from 'vitest';
import { seededRng } from '../types/seeded-rng.js';
import {
  newTcpOptions,
  parseTcpOptions,
  TCP_MAX_SACK_BLOCKS,
  TCP_MAX_SACK_BLOCKS_WITH_TS,
  TCPOPT_NOP,
  TCPOPT_SACK,
  TCPOPT_SACK_PERMITTED,
  writeSackOption,
  writeTcpOptions,
} from './tcp-options.js';

const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
/** A SACK option with the given (left, right) pairs and an explicit length byte. */
const sack = (len: number, ...edges: number[]): number[] => [TCPOPT_SACK, len, ...edges.flatMap(u32)];
const ts = (v: number, e: number): number[] => [8, 10, ...u32(v), ...u32(e)];

function parse(bytes: number[]): ReturnType<typeof newTcpOptions> {
  const o = newTcpOptions();
  // stale state from a previous segment must not leak into this one
  o.sackCount = 3;
  o.sackPermitted = true;
  const b = Uint8Array.from([0xaa, ...bytes, 0xbb]);
  parseTcpOptions(b, 1, 1 + bytes.length, o);
  return o;
}

const blocksOf = (o: ReturnType<typeof newTcpOptions>): number[] => Array.from(o.sackBlocks.subarray(0, 2 * o.sackCount));

describe('parseTcpOptions: SACK-permitted and SACK blocks', () => {
  it.each([
    // well formed
    { name: 'SACK-permitted', bytes: [TCPOPT_SACK_PERMITTED, 2], permitted: true, blocks: [] },
    { name: 'one block', bytes: sack(10, 1000, 2000), blocks: [1000, 2000] },
    { name: 'four blocks', bytes: sack(34, 1, 2, 3, 4, 5, 6, 0xfffffff0, 0x10), blocks: [1, 2, 3, 4, 5, 6, 0xfffffff0, 0x10] },
    { name: 'three blocks after NOP NOP timestamps', bytes: [TCPOPT_NOP, TCPOPT_NOP, ...ts(7, 9), TCPOPT_NOP, TCPOPT_NOP, ...sack(26, 10, 20, 30, 40, 50, 60)], blocks: [10, 20, 30, 40, 50, 60], ts: 7 },
    { name: 'edges are unsigned 32-bit', bytes: sack(10, 0xffffffff, 0x80000000), blocks: [0xffffffff, 0x80000000] },
    // malformed: no blocks, no throw, later options still read when the length is self-consistent
    { name: 'length 2 (no blocks)', bytes: [...sack(2), ...ts(5, 6)], blocks: [], ts: 5 },
    { name: 'length 9 (not 2 + 8n)', bytes: [...sack(9, 1, 2).slice(0, 9), ...ts(5, 6)], blocks: [], ts: 5 },
    { name: 'length 42 (five blocks: more than 40 option bytes allow)', bytes: sack(42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), blocks: [] },
    { name: 'length runs past the header', bytes: sack(18, 1, 2), blocks: [] },
    { name: 'length 1', bytes: [TCPOPT_SACK, 1, 0, 0, 0, 0, 0, 0, 0, 0], blocks: [] },
    { name: 'length 0', bytes: [TCPOPT_SACK, 0], blocks: [] },
    { name: 'truncated: kind only', bytes: [TCPOPT_NOP, TCPOPT_SACK], blocks: [] },
    { name: 'SACK-permitted with length 3', bytes: [TCPOPT_SACK_PERMITTED, 3, 0], permitted: false, blocks: [] },
    { name: 'after EOL: ignored', bytes: [0, ...sack(10, 1, 2)], blocks: [] },
  ])('$name', ({ bytes, permitted, blocks, ts: tsVal }) => {
    let o: ReturnType<typeof newTcpOptions> | null = null;
    expect(() => (o = parse(bytes))).not.toThrow();
    expect(o!.sackPermitted).toBe(permitted ?? false);
    expect(blocksOf(o!)).toEqual(blocks);
    expect(o!.sackCount).toBe(blocks.length / 2);
    if (tsVal !== undefined) expect(o!.tsVal).toBe(tsVal);
  });

  it('random option bytes never throw and never report more than 4 blocks (50 000 cases)', () => {
    const r = seededRng(77);
    const o = newTcpOptions();
    let bad = 0;
    let withBlocks = 0;
    for (let i = 0; i < 50_000; i++) {
      const n = (r() * 41) | 0;
      const b = new Uint8Array(n + 4);
      for (let j = 0; j < b.length; j++) b[j] = r() < 0.3 ? [0, 1, 2, 3, 4, 5, 8, 10, 18, 26, 34][(r() * 11) | 0] : (r() * 256) | 0;
      parseTcpOptions(b, 2, 2 + n, o); // a throw fails the test
      if (o.sackCount < 0 || o.sackCount > TCP_MAX_SACK_BLOCKS) bad++;
      if (o.sackCount > 0) withBlocks++;
    }
    expect(bad).toBe(0);
    expect(withBlocks).toBeGreaterThan(0); // the generator does reach the SACK parser
  });
});

describe('writing SACK options', () => {
  it.each([
    { name: 'SYN: MSS, window scale, SACK-permitted, timestamps (24 bytes)', write: (b: Uint8Array) => writeTcpOptions(b, 0, 1460, 7, true, 1, 0, true), len: 24, permitted: true, mss: 1460, wscale: 7 },
    { name: 'SYN-ACK without SACK: no SACK-permitted', write: (b: Uint8Array) => writeTcpOptions(b, 0, 1460, -1, false, 0, 0, false), len: 4, permitted: false, mss: 1460, wscale: -1 },
    { name: 'one block', write: (b: Uint8Array) => writeSackOption(b, 0, Uint32Array.of(5, 9), 1), len: 12, blocks: [5, 9] },
    { name: 'four blocks fill 36 bytes', write: (b: Uint8Array) => writeSackOption(b, 0, Uint32Array.of(1, 2, 3, 4, 5, 6, 7, 8), TCP_MAX_SACK_BLOCKS), len: 36, blocks: [1, 2, 3, 4, 5, 6, 7, 8] },
    { name: 'timestamps then three blocks fill exactly 40 bytes', write: (b: Uint8Array) => writeTcpOptions(b, 0, 0, -1, true, 3, 4) + writeSackOption(b, 12, Uint32Array.of(0xfffffffe, 2, 10, 20, 30, 40), TCP_MAX_SACK_BLOCKS_WITH_TS), len: 40, blocks: [0xfffffffe, 2, 10, 20, 30, 40] },
    { name: 'zero blocks: nothing written', write: (b: Uint8Array) => writeSackOption(b, 0, new Uint32Array(8), 0), len: 0, blocks: [] },
  ])('$name round-trips', ({ write, len, permitted, blocks, mss, wscale }) => {
    const b = new Uint8Array(64);
    const n = write(b);
    expect(n).toBe(len);
    expect(n % 4).toBe(0);
    const o = newTcpOptions();
    parseTcpOptions(b, 0, n, o);
    expect(o.sackPermitted).toBe(permitted ?? false);
    expect(blocksOf(o)).toEqual(blocks ?? []);
    if (mss !== undefined) expect(o.mss).toBe(mss);
    if (wscale !== undefined) expect(o.wscale).toBe(wscale);
  });
});
