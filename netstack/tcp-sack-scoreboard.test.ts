// The SACK scoreboard (RFC 6675 §3-4) and the receiver's SACK block choice (RFC 2018 §4): table tests of
// recording, trimming, the capacity limit, IsLost, SetPipe and the holes NextSeg walks, a seeded
// differential test against a per-octet reference, and the block order the reassembly queue reports.
import { describe, expect, it } from 'vitest';
import { seededRng } from '../types/seeded-rng.js';
import { SACK_SCOREBOARD_RANGES, SackScoreboard } from './tcp-sack-scoreboard.js';
import { TcpReassembly } from './tcp-reassembly.js';

const ranges = (sb: SackScoreboard): number[][] => Array.from({ length: sb.count }, (_, i) => [sb.left(i), sb.right(i)]);

describe('SackScoreboard.add: recording blocks within (SND.UNA, SND.MAX]', () => {
  // una = 1000, sndMax = 10000 unless given; blocks are [left, right)
  const U = 1000;
  const M = 10_000;
  it.each([
    { name: 'one block', blocks: [[2000, 3000]], want: [[2000, 3000]], added: [1000] },
    { name: 'two disjoint, out of order', blocks: [[5000, 6000], [2000, 3000]], want: [[2000, 3000], [5000, 6000]], added: [1000, 1000] },
    { name: 'adjacent blocks merge', blocks: [[2000, 3000], [3000, 4000]], want: [[2000, 4000]], added: [1000, 1000] },
    { name: 'overlap merges and counts only new octets', blocks: [[2000, 3000], [2500, 3500]], want: [[2000, 3500]], added: [1000, 500] },
    { name: 'a block bridging two ranges', blocks: [[2000, 3000], [4000, 5000], [2500, 4500]], want: [[2000, 5000]], added: [1000, 1000, 1000] },
    { name: 'a repeat adds nothing', blocks: [[2000, 3000], [2000, 3000], [2100, 2900]], want: [[2000, 3000]], added: [1000, 0, 0] },
    { name: 'D-SACK below SND.UNA: ignored', blocks: [[500, 900]], want: [], added: [0] },
    { name: 'ending at SND.UNA: ignored', blocks: [[500, 1000]], want: [], added: [0] },
    { name: 'straddling SND.UNA: trimmed to it', blocks: [[500, 1500]], want: [[1000, 1500]], added: [500] },
    { name: 'beyond SND.MAX: ignored (never sent)', blocks: [[9000, 10_001]], want: [], added: [0] },
    { name: 'up to SND.MAX exactly', blocks: [[9000, 10_000]], want: [[9000, 10_000]], added: [1000] },
    { name: 'empty and inverted blocks: ignored', blocks: [[3000, 3000], [4000, 3000]], want: [], added: [0, 0] },
    { name: 'wider than the flight: ignored', blocks: [[0x80000000, 5000]], want: [], added: [0] },
    { name: 'across 2^32', blocks: [[0xfffffe00, 0x100]], una: 0xfffff000, max: 0x1000, want: [[0xfffffe00, 0x100]], added: [0x300] },
  ])('$name', ({ blocks, want, added, una, max }) => {
    const sb = new SackScoreboard();
    const got = blocks.map(([l, r]) => sb.add(l, r, una ?? U, max ?? M));
    expect(got).toEqual(added);
    expect(ranges(sb)).toEqual(want);
    expect(sb.sackedBytes).toBe(want.reduce((n, [l, r]) => n + ((r - l) >>> 0), 0));
  });

  it(`keeps at most ${SACK_SCOREBOARD_RANGES} ranges, forgetting the highest for a lower newcomer`, () => {
    const sb = new SackScoreboard();
    for (let i = 0; i < SACK_SCOREBOARD_RANGES; i++) sb.add(2000 + i * 200, 2100 + i * 200, 1000, 100_000);
    expect(sb.count).toBe(SACK_SCOREBOARD_RANGES);
    const top = sb.highestSacked;
    expect(sb.add(90_000, 90_100, 1000, 100_000)).toBe(0); // above everything: not recorded
    expect(sb.add(1500, 1600, 1000, 100_000)).toBe(100); // below: the highest range makes room
    expect(sb.count).toBe(SACK_SCOREBOARD_RANGES);
    expect(sb.left(0)).toBe(1500);
    expect(sb.highestSacked).toBeLessThan(top);
    expect(sb.sackedBytes).toBe(SACK_SCOREBOARD_RANGES * 100);
    expect(sb.add(2100, 2200, 1000, 100_000)).toBe(100); // merging still works when full
    expect(sb.count).toBe(SACK_SCOREBOARD_RANGES - 1);
  });
});

describe('SackScoreboard: advance, IsLost, SetPipe, holes', () => {
  const MSS = 100;
  // una 0, sndMax 2000; SACKed [300,400) [500,600) [700,900) [1200,1300)
  const board = (): SackScoreboard => {
    const sb = new SackScoreboard();
    for (const [l, r] of [[300, 400], [500, 600], [700, 900], [1200, 1300]]) sb.add(l, r, 0, 2000);
    return sb;
  };

  it.each([
    { name: 'below the first range: lost', seq: 0, lost: true },
    { name: 'the hole [400,500): three ranges above', seq: 450, lost: true },
    { name: 'the hole [600,700): two ranges, 300 bytes above: more than 2·MSS', seq: 650, lost: true },
    { name: 'the hole [900,1200): one range of 100 bytes above', seq: 1000, lost: false },
    { name: 'above all SACKs', seq: 1500, lost: false },
    { name: 'a SACKed octet is never lost', seq: 350, lost: false },
  ])('IsLost: $name', ({ seq, lost }) => {
    expect(board().isLost(seq, MSS)).toBe(lost);
  });

  it.each([
    // holes: [0,300) [400,500) [600,700) [900,1200) [1300,2000); lost below 700
    { name: 'nothing retransmitted: only the unlost holes', rxtEnd: 0, pipe: 300 + 700 },
    { name: 'the first hole retransmitted', rxtEnd: 300, pipe: 300 + 700 + 300 },
    { name: 'retransmitted up to 650', rxtEnd: 650, pipe: 300 + 700 + 300 + 100 + 50 },
    { name: 'retransmitted into the unlost hole counts twice', rxtEnd: 1000, pipe: 300 + 700 + 300 + 100 + 100 + 100 },
  ])('SetPipe: $name', ({ rxtEnd, pipe }) => {
    expect(board().pipe(0, 2000, rxtEnd, MSS)).toBe(pipe);
  });

  it.each([
    { from: 0, hole: [0, 300] },
    { from: 350, hole: [400, 500] },
    { from: 600, hole: [600, 700] },
    { from: 950, hole: [950, 1200] },
    { from: 1250, hole: null }, // above the highest SACK: not a hole NextSeg retransmits under rules 1/3
  ])('next hole from $from', ({ from, hole }) => {
    const sb = board();
    expect(sb.nextHole(from)).toBe(hole !== null);
    if (hole) expect([sb.holeStart, sb.holeEnd]).toEqual(hole);
  });

  it('advance trims and drops what SND.UNA covers; clear empties', () => {
    const sb = board();
    sb.advance(550);
    expect(ranges(sb)).toEqual([[550, 600], [700, 900], [1200, 1300]]);
    expect(sb.sackedBytes).toBe(350);
    expect(sb.lostBoundary(MSS)).toBe(700); // [1200,1300) + [700,900) = 300 bytes > 2·MSS
    sb.advance(1300);
    expect(sb.count).toBe(0);
    expect(sb.lostBoundary(MSS)).toBe(-1);
    const again = board();
    again.clear();
    expect([again.count, again.sackedBytes, again.pipe(0, 2000, 0, MSS)]).toEqual([0, 0, 2000]);
  });
});

describe('SackScoreboard against a per-octet reference (seeded)', () => {
  it('2 000 random episodes near 2^32', () => {
    const r = seededRng(5);
    const MSS = 50;
    let checks = 0;
    let mismatches = 0;
    for (let ep = 0; ep < 2000; ep++) {
      const base = (0xffffffff - ((r() * 3000) | 0)) >>> 0; // una, so ranges often wrap
      const flight = 200 + ((r() * 2000) | 0);
      const sacked = new Uint8Array(flight);
      const sb = new SackScoreboard();
      let una = 0; // offset from base
      for (let op = 0; op < 10; op++) {
        if (r() < 0.2) {
          const to = una + ((r() * (flight - una)) | 0);
          sb.advance((base + to) >>> 0);
          una = to;
          continue;
        }
        const l = ((r() * (flight + 200)) | 0) - 100;
        const len = 1 + ((r() * 300) | 0);
        const added = sb.add((base + l) >>> 0, (base + l + len) >>> 0, (base + una) >>> 0, (base + flight) >>> 0);
        let want = 0;
        if (l + len <= flight && l + len > una && len <= flight - una) for (let o = Math.max(l, una); o < l + len; o++) if (!sacked[o]) ((sacked[o] = 1), want++);
        expect(added).toBe(want);
      }
      // compare everything derived
      let bytes = 0;
      for (let o = una; o < flight; o++) bytes += sacked[o];
      expect(sb.sackedBytes).toBe(bytes);
      const rxt = una + ((r() * (flight - una)) | 0);
      // IsLost by definition, scanning down: discontiguous SACKed runs and SACKed octets above each octet
      const lostRef = new Uint8Array(flight);
      let runs = 0;
      let above = 0;
      for (let o = flight - 1; o >= una; o--) {
        if (!sacked[o]) lostRef[o] = runs >= 3 || above > 2 * MSS ? 1 : 0;
        else {
          above++;
          if (o + 1 >= flight || !sacked[o + 1]) runs++;
        }
      }
      let pipe = 0;
      for (let o = una; o < flight; o++) {
        if (sacked[o]) {
          if (sb.isLost((base + o) >>> 0, MSS)) mismatches++;
          continue;
        }
        if (sb.isLost((base + o) >>> 0, MSS) !== (lostRef[o] === 1)) mismatches++;
        if (!lostRef[o]) pipe++;
        if (o < rxt) pipe++;
        checks++;
      }
      expect(sb.pipe((base + una) >>> 0, (base + flight) >>> 0, (base + rxt) >>> 0, MSS)).toBe(pipe);
    }
    expect(mismatches).toBe(0);
    expect(checks).toBeGreaterThan(100_000);
  }, 60_000);
});

describe('TcpReassembly.sackBlocks: RFC 2018 §4 order', () => {
  const seg = (seq: number, len: number): [number, number] => [seq, len];
  it.each([
    { name: 'one segment', segs: [seg(2000, 100)], max: 4, want: [2000, 2100] },
    { name: 'the latest first, then the others newest first', segs: [seg(2000, 100), seg(3000, 100), seg(4000, 100)], max: 4, want: [4000, 4100, 3000, 3100, 2000, 2100] },
    { name: 'a segment extending an old block makes it first', segs: [seg(2000, 100), seg(3000, 100), seg(2100, 100)], max: 4, want: [2000, 2200, 3000, 3100] },
    { name: 'a segment bridging two blocks merges them', segs: [seg(2000, 100), seg(2200, 100), seg(3000, 100), seg(2100, 100)], max: 4, want: [2000, 2300, 3000, 3100] },
    { name: 'at most `max` (3 beside timestamps)', segs: [seg(2000, 10), seg(2100, 10), seg(2200, 10), seg(2300, 10), seg(2400, 10)], max: 3, want: [2400, 2410, 2300, 2310, 2200, 2210] },
    { name: 'a duplicate of a held segment reports its block first', segs: [seg(2000, 100), seg(3000, 100), seg(2000, 100)], max: 4, want: [2000, 2100, 3000, 3100] },
  ])('$name', ({ segs, max, want }) => {
    const q = new TcpReassembly();
    const payload = new Uint8Array(200);
    for (const [s, n] of segs) q.insert(s, payload, 0, n);
    const out = new Uint32Array(8);
    const n = q.sackBlocks(out, max);
    expect(Array.from(out.subarray(0, 2 * n))).toEqual(want);
  });

  it('blocks drained into the stream are no longer reported', () => {
    const q = new TcpReassembly();
    const payload = new Uint8Array(100);
    q.insert(1100, payload, 0, 100);
    q.insert(1300, payload, 0, 100);
    const out = new Uint32Array(8);
    let delivered = 0;
    // rcv.nxt reaches 1100 (the gap [1000,1100) arrived): the first block drains
    expect(q.drain(1100, (_b, _o, len) => (delivered += len))).toBe(1200);
    expect(delivered).toBe(100);
    expect(Array.from(out.subarray(0, 2 * q.sackBlocks(out, 4)))).toEqual([1300, 1400]);
    expect(q.drain(1400, () => {})).toBe(1400);
    expect(q.sackBlocks(out, 4)).toBe(0);
    expect(q.empty).toBe(true);
  });
});
