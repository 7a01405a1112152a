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

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
