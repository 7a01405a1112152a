// Engine-level fuzz: random, truncated and bit-flipped packets never throw, never accept a packet the
// parser calls malformed, and never accept a later fragment or short first fragment without state.
import { describe, expect, it } from 'vitest';
import { TCP_SYN } from '../packet/headers.js';
import { compileFilter } from './compile.js';
import { FilterEngine } from './engine.js';
import { parsePacket } from './packet-parser.js';
import { ParsedPacket, PKT_FRAGMENT_SHORT, PKT_MALFORMED } from './packet.js';
import { L4, L6, LOCAL, pkt, rng, rule } from './test-helpers.js';
import { isAccept, verdictReason } from './verdict.js';

/** The long (GRANTWIRE_LONG) variant runs for minutes on a shared machine. */
const LONG_TIMEOUT = process.env.GRANTWIRE_LONG ? 900_000 : 120_000;

describe('engine fuzz', () => {
  const n = process.env.GRANTWIRE_LONG ? 1_000_000 : 100_000;
  it(`${n} mutated packets: no throw, malformed never accepted, outbound never throws`, () => {
    // Allow-everything rules, so that only packet validity can cause a drop.
    const f = compileFilter([rule(['*'], ['*:*'], Array.from({ length: 256 }, (_, i) => i))], { localPrefixes: ['0.0.0.0/0', '::/0'] });
    const e = new FilterEngine(f, { now: () => 0, maxFlows: 1024 });
    const seeds = [
      pkt('tcp', '100.64.0.2', L4, 1, 22, { tcpFlags: TCP_SYN }),
      pkt('udp', 'fd7a:115c:a1e0::2', L6, 1, 53, { moreFragments: true, ipId: 3, payload: new Uint8Array(16) }),
      pkt('icmp', '100.64.0.2', L4, undefined, undefined, { icmpType: 3, payload: pkt('udp', L4, '100.64.0.2', 1, 2).slice(0, 28) }),
      pkt('icmp', 'fd7a:115c:a1e0::2', L6),
      pkt('sctp', '100.64.0.2', L4, 1, 2),
      pkt(47, 'fd7a:115c:a1e0::2', L6, undefined, undefined, { payload: new Uint8Array(4) }),
    ];
    const r = rng(99);
    const p = new ParsedPacket();
    const buf = new Uint8Array(200);
    let bad = 0;
    const verdicts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const s = seeds[i % seeds.length];
      buf.fill(0);
      buf.set(s);
      let len = s.length;
      const mode = r();
      if (mode < 0.3) len = Math.floor(r() * (s.length + 1));
      else if (mode < 0.9) for (let k = 0, m = 1 + Math.floor(r() * 3); k < m; k++) buf[Math.floor(r() * s.length)] ^= 1 << Math.floor(r() * 8);
      else {
        len = Math.floor(r() * 100);
        for (let k = 0; k < len; k++) buf[k] = Math.floor(r() * 256);
      }
      const st = parsePacket(buf, 0, len, p);
      const v = e.inbound(buf, 0, len);
      e.outbound(buf, 0, len);
      verdicts.set(verdictReason(v), (verdicts.get(verdictReason(v)) ?? 0) + 1);
      if ((st === PKT_MALFORMED || st === PKT_FRAGMENT_SHORT) && isAccept(v)) bad++;
    }
    expect(bad).toBe(0);
    expect(verdicts.get('malformed') ?? 0).toBeGreaterThan(0);
    expect(verdicts.get('rule') ?? 0).toBeGreaterThan(0);
  }, LONG_TIMEOUT);
});
