// AckThinner: which packets of an outbound batch survive, for IPv4 and IPv6.
import { describe, expect, it } from 'vitest';
import { buildPacket } from '../packet/build.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../packet/headers.js';
import type { PacketBatch } from '../net/io.js';
import { AckThinner } from './ack-thinning.js';

interface P {
  /** Connection: 1 or 2 (different source ports), or 'udp'. */
  c: 1 | 2 | 'udp';
  ack?: number;
  flags?: number;
  data?: number;
  window?: number;
}

function batch(family: 4 | 6, ps: P[]): PacketBatch {
  const [src, dst] = family === 4 ? ['192.0.2.1', '192.0.2.2'] : ['2001:db8::1', '2001:db8::2'];
  const bufs = ps.map((p) =>
    p.c === 'udp'
      ? buildPacket({ src, dst, proto: 'udp', sport: 1000, dport: 53, payload: new Uint8Array(8) })
      : buildPacket({ src, dst, proto: 'tcp', sport: 40000 + p.c, dport: 443, tcpFlags: p.flags ?? TCP_ACK, seq: 1, ack: p.ack ?? 0, window: p.window ?? 1000, payload: new Uint8Array(p.data ?? 0) }),
  );
  return { count: bufs.length, bufs, lens: Uint32Array.from(bufs.map((b) => b.length)) };
}

/** The indexes (into the input) of the packets left, identified by their buffers. */
function survivors(input: Uint8Array[], b: PacketBatch): number[] {
  const out: number[] = [];
  for (let i = 0; i < b.count; i++) out.push(input.indexOf(b.bufs[i]));
  return out;
}

const A = TCP_ACK;
const rows: { name: string; ps: P[]; keep: number[] }[] = [
  { name: 'three growing ACKs: only the last', ps: [{ c: 1, ack: 100 }, { c: 1, ack: 200 }, { c: 1, ack: 300 }], keep: [2] },
  { name: 'duplicate ACKs are all kept', ps: [{ c: 1, ack: 100 }, { c: 1, ack: 100 }, { c: 1, ack: 100 }], keep: [0, 1, 2] },
  { name: 'a lower ACK before duplicates goes, the duplicates stay', ps: [{ c: 1, ack: 50 }, { c: 1, ack: 100 }, { c: 1, ack: 100 }], keep: [1, 2] },
  { name: 'window update (same ACK, bigger window) kept', ps: [{ c: 1, ack: 100, window: 10 }, { c: 1, ack: 100, window: 5000 }], keep: [0, 1] },
  { name: 'two connections thinned apart, order kept', ps: [{ c: 1, ack: 100 }, { c: 2, ack: 900 }, { c: 1, ack: 200 }, { c: 2, ack: 800 }], keep: [1, 2, 3] },
  { name: 'a data segment supersedes an earlier pure ACK', ps: [{ c: 1, ack: 100 }, { c: 1, ack: 200, data: 100, flags: A | TCP_PSH }], keep: [1] },
  { name: 'data segments themselves are never dropped', ps: [{ c: 1, ack: 100, data: 10 }, { c: 1, ack: 200, data: 10 }], keep: [0, 1] },
  { name: 'FIN kept, and it supersedes', ps: [{ c: 1, ack: 100 }, { c: 1, ack: 150, flags: A | TCP_FIN }, { c: 1, ack: 200 }], keep: [1, 2] },
  { name: 'RST and SYN-ACK neither dropped nor superseding', ps: [{ c: 1, ack: 100 }, { c: 1, ack: 200, flags: A | TCP_RST }, { c: 2, ack: 5 }, { c: 2, ack: 9, flags: A | TCP_SYN }], keep: [0, 1, 2, 3] },
  { name: 'non-TCP passes', ps: [{ c: 'udp' }, { c: 1, ack: 100 }, { c: 'udp' }, { c: 1, ack: 200 }], keep: [0, 2, 3] },
  { name: 'sequence wrap: 0xfffffff0 then 0x10', ps: [{ c: 1, ack: 0xfffffff0 }, { c: 1, ack: 0x10 }], keep: [1] },
  { name: 'a single packet', ps: [{ c: 1, ack: 1 }], keep: [0] },
];

describe('AckThinner', () => {
  for (const family of [4, 6] as const) {
    it.each(rows)(`IPv${family}: $name`, ({ ps, keep }) => {
      const b = batch(family, ps);
      const input = [...b.bufs];
      const lens = [...b.lens];
      const t = new AckThinner();
      t.thin(b);
      expect(survivors(input, b)).toEqual(keep);
      for (let i = 0; i < b.count; i++) expect(b.lens[i]).toBe(lens[input.indexOf(b.bufs[i])]);
      // every buffer is still in the pool (the dropped ones moved past count)
      expect(new Set(b.bufs)).toEqual(new Set(input));
      expect(b.bufs.length).toBe(input.length);
      expect(t.thinned).toBe(ps.length - keep.length);
    });
  }

  it('IPv4 fragments pass untouched', () => {
    const b = batch(4, [{ c: 1, ack: 100 }, { c: 1, ack: 200 }]);
    b.bufs[0][6] |= 0x20; // more fragments
    new AckThinner().thin(b);
    expect(b.count).toBe(2);
  });
});
