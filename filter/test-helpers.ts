// Test helpers shared by the filter test files (not part of the public API): tiny packet and rule
// builders so tables read like the spec, and a seeded PRNG.
import { buildPacket, type PacketSpec } from '../packet/build.js';
import type { FilterRule } from '../types/filter-rule.js';

export const L4 = '100.64.0.1';
export const L6 = 'fd7a:115c:a1e0::1';
export const LOCAL = [`${L4}/32`, `${L6}/128`];

/** pkt('tcp', src, dst, sport, dport, extra) */
export function pkt(proto: PacketSpec['proto'], src: string, dst: string, sport?: number, dport?: number, extra: Partial<PacketSpec> = {}): Uint8Array {
  return buildPacket({ proto, src, dst, sport, dport, ...extra });
}

/** rule(['100.64.0.2'], ['100.64.0.1:22', '*:80-443'], [6]) */
export function rule(srcs: string[], dsts: string[], protos?: number[]): FilterRule {
  const r: FilterRule = {
    SrcIPs: srcs,
    DstPorts: dsts.map((d) => {
      const i = d.lastIndexOf(':');
      const ip = d.slice(0, i);
      const ports = d.slice(i + 1);
      if (ports === '*') return { IP: ip, Ports: { First: 0, Last: 65535 } };
      const [a, b] = ports.split('-').map(Number);
      return { IP: ip, Ports: { First: a, Last: b ?? a } };
    }),
  };
  if (protos) r.IPProto = protos;
  return r;
}

/** The tree's one seeded PRNG (types/seeded-rng.ts), under the name these tests use. */
export { seededRng as rng } from '../types/seeded-rng.js';
