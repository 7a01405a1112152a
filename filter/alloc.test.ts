// Zero allocation per packet: after warm-up, 100,000 decisions (v4/v6 accepts, drops of every kind,
// flow hits, outbound packets, fragments) must not grow the heap and must not trigger a GC.
import { PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_SYN } from '../packet/headers.js';
import { compileFilter } from './compile.js';
import { FilterEngine } from './engine.js';
import { L4, L6, LOCAL, pkt, rule } from './test-helpers.js';

describe('allocation guard', () => {
  it('100,000 decisions do not grow the heap', async () => {
    const f = compileFilter(
      [rule(['100.64.0.0/10', 'fd7a:115c:a1e0::/48'], [`${L4}:22`, `${L6}:22`, `${L4}:80-443`, `${L6}:80-443`]), rule(['100.64.0.3'], [`${L4}:*`], [47])],
      { localPrefixes: LOCAL },
    );
    let t = 0;
    // Start with one more grant, use it, then revoke it: a tombstone that outbound packets keep hitting.
    const withExtra = compileFilter([rule(['100.64.0.2'], [`${L4}:9999`], [17])], { localPrefixes: LOCAL });
    const e = new FilterEngine(withExtra, { now: () => t, maxFlows: 4096 });
    const extra = pkt('udp', '100.64.0.2', L4, 7, 9999);
    expect(e.inbound(extra, 0, extra.length)).toBeLessThan(16);
    expect(e.replace(f)).toHaveLength(1);
    const inbound = [
      pkt('tcp', '100.64.0.2', L4, 40000, 22, { tcpFlags: TCP_SYN }),
      pkt('tcp', 'fd7a:115c:a1e0::2', L6, 40000, 443, { tcpFlags: TCP_SYN }),
      pkt('tcp', '100.64.0.2', L4, 40000, 23, { tcpFlags: TCP_SYN }),
      pkt('udp', '100.64.0.9', L4, 53, 5353),
      pkt('tcp', '100.64.0.9', L4, 443, 50000, { tcpFlags: TCP_ACK }),
      pkt('icmp', 'fd7a:115c:a1e0::9', L6),
      pkt('icmp', '100.64.0.9', L4, undefined, undefined, { icmpType: 0, icmpId: 9 }),
      pkt(47, '100.64.0.3', L4),
      pkt('udp', '100.64.0.2', '224.0.0.251', 5353, 5353),
      pkt('udp', '100.64.0.2', '100.64.0.77', 1, 443),
      pkt('udp', '100.64.0.2', L4, 1, 443, { moreFragments: true, ipId: 5, payload: new Uint8Array(16) }),
      pkt(17, '100.64.0.2', L4, undefined, undefined, { fragOffset: 24, ipId: 5, payload: new Uint8Array(8) }),
      Uint8Array.of(0x45, 1, 2),
    ];
    const outbound = [
      pkt('udp', L4, '100.64.0.9', 5353, 53),
      pkt('tcp', L4, '100.64.0.9', 50000, 443, { tcpFlags: TCP_SYN }),
      pkt('icmp', L4, '100.64.0.9', undefined, undefined, { icmpId: 9 }),
      pkt('tcp', L4, '100.64.0.2', 22, 40000, { tcpFlags: TCP_ACK, ack: 5 }), // reads the ACK number
      pkt('udp', L4, '100.64.0.2', 9999, 7), // a revoked tuple (tombstone hit)
    ];
    const all = new Uint8Array(inbound.reduce((s, b) => s + b.length, 0));
    const offs: number[] = [];
    let o = 0;
    for (const b of inbound) {
      all.set(b, o);
      offs.push(o);
      o += b.length;
    }
    const offsets = Int32Array.from(offs);
    const lens = Int32Array.from(inbound.map((b) => b.length));
    let accepted = 0;
    const run = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const k = i % offsets.length;
        if (k === 0) {
          t += 1;
          const ob = outbound[i % outbound.length];
          e.outbound(ob, 0, ob.length);
        }
        if (e.inbound(all, offsets[k], lens[k]) < 16) accepted++;
      }
    };
    run(1_000_000); // warm up: JIT, inline caches, flow table steady state
    // A GC during the window would hide allocations (it shrinks the heap), so a window only counts when
    // no GC ran in it. Any per-packet allocation (≥ 16 B × 1e5 = 1.6 MB) shows up as growth in every
    // clean window; the best of a few windows filters out the test runner's own occasional allocations
    // (its worker RPC), which are tens of KB at most.
    let gcs = 0;
    const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
    obs.observe({ entryTypes: ['gc'] });
    let growth = Infinity;
    let clean = 0;
    for (let attempt = 0; attempt < 8 && clean < 3; attempt++) {
      await new Promise((r) => setTimeout(r, 20));
      gcs = 0;
      const before = process.memoryUsage().heapUsed;
      run(100_000);
      const after = process.memoryUsage().heapUsed;
      await new Promise((r) => setTimeout(r, 20));
      if (gcs === 0) {
        clean++;
        growth = Math.min(growth, after - before);
      }
    }
    obs.disconnect();
    expect(accepted).toBeGreaterThan(0);
    expect(clean).toBeGreaterThan(0);
    expect(growth).toBeLessThan(64 * 1024);
  });
});
