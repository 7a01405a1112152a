// tcpInfo().retransmits and the stack's tcpRetransmits counter count each retransmitted segment once: they
// equal the data segments seen on the link whose sequence range was sent before (a fast retransmit used
// to be counted twice, once by the fast-retransmit path and once by the segment sender, which doubled
// the retransmissions bench:netstack reported).
import { describe, expect, it } from 'vitest';
import { TCP_SYN } from '../packet/headers.js';
import { ADDR_B4, linkPair, type LinkImpairment } from './test-helpers.js';

/** Sequence number and payload length of a captured IPv4 TCP segment. */
function segOf(p: Uint8Array): { seq: number; dataLen: number; syn: boolean } {
  const ihl = (p[0] & 15) * 4;
  const dv = new DataView(p.buffer, p.byteOffset, p.length);
  return { seq: dv.getUint32(ihl + 4), dataLen: p.length - ihl - (p[ihl + 12] >> 4) * 4, syn: (p[ihl + 13] & TCP_SYN) !== 0 };
}

describe('retransmission counters', () => {
  const BYTES = 400_000;
  const rows: { name: string; seed: number; ab: LinkImpairment; want: 'fast' | 'any' }[] = [
    { name: 'one segment lost (fast retransmit)', seed: 61, ab: {}, want: 'fast' },
    { name: '1% random loss', seed: 62, ab: { loss: 0.01 }, want: 'any' },
    { name: '5% random loss', seed: 63, ab: { loss: 0.05 }, want: 'any' },
  ];
  it.each(rows)('$name: the counters equal the retransmitted segments on the wire', async ({ seed, ab, want }) => {
    const L = linkPair({ seed, ab });
    let dataSegs = 0;
    if (want === 'fast') {
      L.impair.ab.dropIf = (p) => {
        const s = segOf(p);
        return s.dataLen > 0 && ++dataSegs === 30;
      };
    }
    // every data segment a sends, before loss: a repeat of sequence space already sent is a retransmission
    let highest = -1;
    let base = -1;
    let onWire = 0;
    L.tapAB = (p) => {
      const s = segOf(p);
      if (s.syn) {
        base = (s.seq + 1) >>> 0;
        return;
      }
      if (s.dataLen === 0 || base < 0) return;
      const off = (s.seq - base) >>> 0;
      if (off < highest) onWire++;
      else highest = off + s.dataLen;
    };
    let got = 0;
    let done = false;
    L.b.listenTcp(5000, (s) => {
      s.on('data', (d: Buffer) => (got += d.length));
      s.on('end', () => {
        done = true;
        s.end();
      });
    });
    const c = L.a.connectTcp({ remoteAddress: ADDR_B4, remotePort: 5000 });
    c.on('data', () => {});
    c.end(Buffer.alloc(BYTES, 7));
    await L.run(() => done, 3_600_000);
    expect(got).toBe(BYTES);
    const info = c.tcpInfo();
    expect(onWire).toBeGreaterThan(0);
    expect(info.retransmits).toBe(onWire);
    expect(L.a.stats().tcpRetransmits).toBe(onWire);
    if (want === 'fast') expect({ fast: info.fastRetransmits, timeouts: info.timeouts, retransmits: info.retransmits }).toEqual({ fast: 1, timeouts: 0, retransmits: 1 });
  }, 120_000);
});
