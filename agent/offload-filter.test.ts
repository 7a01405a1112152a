// Differential: the filter's per-packet decisions, its counters and what reaches the host are the same
// with TUN offloads on and off, over the same traffic. Off: the kernel hands over one packet per segment
// and each accepted inbound packet is written alone. On: the kernel hands over TSO/USO super-segments that
// the native reader splits (net/ gsoSplit) before the filter sees them, and accepted inbound packets are
// merged by the TUN writer (groCoalesce) after the filter judged each one, so a flow revoked in the middle
// of a batch loses exactly the packets after the revocation. Needs the native addon, not root.
import { describe, expect, it } from 'vitest';
import { buildPacket, type PacketSpec } from '../packet/build.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../packet/headers.js';
import { compileFilter } from '../filter/compile.js';
import { FilterEngine } from '../filter/engine.js';
import type { FilterRule } from '../types/filter-rule.js';
import { GRO_TCP, GRO_UDP, loadNative, nativeLoadError, type NativeAddon } from '../net/native-addon.js';
import { seededRng } from '../types/seeded-rng.js';

const addon = loadNative();
if (addon === null) console.warn(`offload-filter.test: skipped (${nativeLoadError()})`);
const native = (): NativeAddon => addon as NativeAddon;

const L4 = '100.64.0.1';
const L6 = 'fd7a:115c:a1e0::1';
const LOCAL = [`${L4}/32`, `${L6}/128`];
const SLOT = 2048;
const BATCH = 64;

function rule(src: string, dst: string, first: number, last: number, proto: number): FilterRule {
  return { SrcIPs: [src], DstPorts: [{ IP: dst, Ports: { First: first, Last: last } }], IPProto: [proto] };
}
// .2 may reach TCP 5201 and UDP 9000 on us (both families); .3 nothing.
const RULES = [rule('100.64.0.2', L4, 5201, 5201, 6), rule('100.64.0.2', L4, 9000, 9000, 17), rule('fd7a:115c:a1e0::2', L6, 5201, 5201, 6), rule('fd7a:115c:a1e0::2', L6, 9000, 9000, 17)];
// After the revocation: TCP 5201 from .2 (IPv4) is gone.
const REVOKED = RULES.slice(1);

interface Flow {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp';
  sport: number;
  dport: number;
}

function seg(f: Flow, data: Uint8Array, seq: number, flags: number, id: number): Uint8Array {
  const spec: PacketSpec = { src: f.src, dst: f.dst, proto: f.proto, sport: f.sport, dport: f.dport, payload: data, ipId: f.src.includes(':') ? 0 : id & 0xffff };
  if (f.proto === 'tcp') Object.assign(spec, { tcpFlags: flags, seq: seq >>> 0, ack: 1, window: 1000 });
  return buildPacket(spec);
}

function vnet(gsoType: number, hdrLen: number, gso: number, csumStart: number, csumOffset: number): Uint8Array {
  const h = new Uint8Array(10);
  const v = new DataView(h.buffer);
  h[0] = 1;
  h[1] = gsoType;
  v.setUint16(2, hdrLen, true);
  v.setUint16(4, gso, true);
  v.setUint16(6, csumStart, true);
  v.setUint16(8, csumOffset, true);
  return h;
}

function splitAll(p: Uint8Array, hdr: Uint8Array): Uint8Array[] {
  const arena = new Uint8Array(SLOT * 128);
  const lens = new Uint32Array(128);
  const r = native().gsoSplit(p, p.length, hdr, 0, arena, SLOT, lens);
  if (r.count < 0 || r.count !== r.total) throw new Error('split failed');
  return Array.from({ length: r.count }, (_, i) => arena.slice(i * SLOT, i * SLOT + lens[i]));
}

/**
 * Outbound traffic both ways: `off` as one packet per segment, `on` as super-segments split natively.
 * (The same bytes by construction of the split; what is compared here is what the filter makes of them.)
 */
function outboundTraffic(rand: () => number): { off: Uint8Array[]; on: Uint8Array[] } {
  const flows: Flow[] = [
    { src: L4, dst: '100.64.0.2', proto: 'tcp', sport: 40000, dport: 80 },
    { src: L4, dst: '100.64.0.3', proto: 'tcp', sport: 40001, dport: 443 },
    { src: L6, dst: 'fd7a:115c:a1e0::2', proto: 'tcp', sport: 40002, dport: 22 },
    { src: L4, dst: '100.64.0.2', proto: 'udp', sport: 40003, dport: 53 },
    { src: L6, dst: 'fd7a:115c:a1e0::3', proto: 'udp', sport: 40004, dport: 53 },
  ];
  const seqs = flows.map(() => 1000);
  const off: Uint8Array[] = [];
  const on: Uint8Array[] = [];
  for (let round = 0; round < 40; round++) {
    const k = Math.floor(rand() * flows.length);
    const f = flows[k];
    const gso = 500 + Math.floor(rand() * 900);
    const len = 1 + Math.floor(rand() * 30000);
    const data = new Uint8Array(len).map((_, i) => (i + round) & 0xff);
    const flags = TCP_ACK | (rand() < 0.5 ? TCP_PSH : 0);
    const sup = seg(f, data, seqs[k], flags, round * 100);
    const v6 = f.src.includes(':');
    const l4 = v6 ? 40 : 20;
    const tcp = f.proto === 'tcp';
    on.push(...splitAll(sup, vnet(tcp ? (v6 ? 4 : 1) : 5, l4 + (tcp ? 20 : 8), gso, l4, tcp ? 16 : 6)));
    const n = Math.ceil(len / gso);
    for (let i = 0; i < n; i++) {
      off.push(seg(f, data.subarray(i * gso, (i + 1) * gso), seqs[k] + i * gso, i === n - 1 ? flags : TCP_ACK, round * 100 + i));
    }
    seqs[k] += len;
  }
  return { off, on };
}

/** Inbound segments as peers send them: interleaved runs of several flows, one of them later revoked. */
function inboundTraffic(rand: () => number): Uint8Array[] {
  const flows: Flow[] = [
    { src: '100.64.0.2', dst: L4, proto: 'tcp', sport: 50000, dport: 5201 }, // allowed, then revoked
    { src: 'fd7a:115c:a1e0::2', dst: L6, proto: 'tcp', sport: 50001, dport: 5201 }, // allowed
    { src: '100.64.0.3', dst: L4, proto: 'tcp', sport: 50002, dport: 5201 }, // no rule
    { src: '100.64.0.2', dst: L4, proto: 'udp', sport: 50003, dport: 9000 }, // allowed
    { src: '100.64.0.2', dst: L4, proto: 'tcp', sport: 50004, dport: 22 }, // no rule
  ];
  const out: Uint8Array[] = [];
  const seqs = flows.map(() => 7000);
  // Every TCP flow opens with a SYN so flow state exists.
  flows.forEach((f, k) => {
    if (f.proto === 'tcp') out.push(seg(f, new Uint8Array(0), seqs[k]++, TCP_SYN, 1));
  });
  let id = 10;
  for (let round = 0; round < 60; ++round) {
    const k = Math.floor(rand() * flows.length);
    const f = flows[k];
    const run = 1 + Math.floor(rand() * 12);
    const size = 1000 + Math.floor(rand() * 300);
    for (let i = 0; i < run; i++) {
      const last = i === run - 1;
      const len = last && rand() < 0.3 ? 1 + Math.floor(rand() * size) : size;
      out.push(seg(f, new Uint8Array(len).fill(round), seqs[k], last && rand() < 0.5 ? TCP_ACK | TCP_PSH : TCP_ACK, id++));
      seqs[k] += len;
    }
  }
  return out;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Judges `pkts` inbound in batches, revoking after packet `revokeAt`; returns verdicts, counters and what the host gets. */
function receive(pkts: Uint8Array[], revokeAt: number, merge: boolean): { verdicts: number[]; counters: Record<string, number>; delivered: string[] } {
  const e = new FilterEngine(compileFilter(RULES, { localPrefixes: LOCAL }), { now: () => 0 });
  const verdicts: number[] = [];
  const delivered: string[] = [];
  const arena = new Uint8Array(SLOT * BATCH);
  const lens = new Uint32Array(BATCH);
  const out = new Uint8Array((SLOT + 10) * BATCH);
  const outLens = new Uint32Array(BATCH);
  for (let b = 0; b < pkts.length; b += BATCH) {
    let queued = 0;
    for (let i = b; i < Math.min(pkts.length, b + BATCH); i++) {
      if (i === revokeAt) e.replace(compileFilter(REVOKED, { localPrefixes: LOCAL }), 0);
      const v = e.inbound(pkts[i], 0, pkts[i].length, 0);
      verdicts.push(v);
      if (v >= 16) continue;
      if (!merge) delivered.push(hex(pkts[i]));
      else {
        arena.set(pkts[i], queued * SLOT);
        lens[queued++] = pkts[i].length;
      }
    }
    if (!merge) continue;
    // The writer thread's view of the batch: merged runs, which the kernel splits back per segment.
    const n = native().groCoalesce(arena, SLOT, lens, queued, GRO_TCP | GRO_UDP, out, outLens);
    let pos = 0;
    for (let r = 0; r < n; r++) {
      const p = out.subarray(pos + 10, pos + outLens[r]);
      if (out[pos + 1] === 0) delivered.push(hex(p));
      else for (const s of splitAll(Uint8Array.from(p), out.subarray(pos, pos + 10))) delivered.push(hex(s));
      pos += outLens[r];
    }
  }
  return { verdicts, counters: e.counters(), delivered };
}

describe.skipIf(addon === null)('filter decisions with TUN offloads on vs off', () => {
  it.each([1, 2, 3, 4, 5])('outbound: split super-segments judged like per-segment packets (seed %i)', (seed) => {
    const { off, on } = outboundTraffic(seededRng(seed));
    expect(on.length).toBe(off.length);
    const run = (pkts: Uint8Array[]): { v: number[]; c: Record<string, number>; replies: number[] } => {
      const e = new FilterEngine(compileFilter(RULES, { localPrefixes: LOCAL }), { now: () => 0 });
      const v = pkts.map((p) => e.outbound(p, 0, p.length, 0));
      // The flow state the outbound packets created decides the replies.
      const replies = pkts.map((p) => {
        const v6 = p[0] >> 4 === 6;
        const l4 = v6 ? 40 : 20;
        const proto = v6 ? p[6] : p[9];
        const src = v6 ? ipv6Text(p, 24) : Array.from(p.subarray(16, 20)).join('.');
        const dst = v6 ? ipv6Text(p, 8) : Array.from(p.subarray(12, 16)).join('.');
        const reply = buildPacket({ src, dst, proto, sport: (p[l4 + 2] << 8) | p[l4 + 3], dport: (p[l4] << 8) | p[l4 + 1], tcpFlags: TCP_ACK });
        return e.inbound(reply, 0, reply.length, 0);
      });
      return { v, c: e.counters(), replies };
    };
    const a = run(off);
    const b = run(on);
    expect(b.v).toEqual(a.v);
    expect(b.replies).toEqual(a.replies);
    expect(b.c).toEqual(a.c);
  });

  it.each([
    { seed: 11, revokeAt: 100 },
    { seed: 12, revokeAt: 150 },
    { seed: 13, revokeAt: 37 },
    { seed: 14, revokeAt: 1e9 },
  ])('inbound: same verdicts, counters and delivered packets; a flow revoked mid-batch is cut there (seed $seed)', ({ seed, revokeAt }) => {
    const pkts = inboundTraffic(seededRng(seed));
    const off = receive(pkts, revokeAt, false);
    const on = receive(pkts, revokeAt, true);
    expect(on.verdicts).toEqual(off.verdicts);
    expect(on.counters).toEqual(off.counters);
    expect(on.delivered).toEqual(off.delivered);
    // The revoked flow: delivered before the revocation, never after it.
    const revokedFlow = (p: Uint8Array): boolean => p[0] >> 4 === 4 && p[9] === 6 && p[15] === 2 && p[19] === 1 && ((p[20] << 8) | p[21]) === 50000;
    const afterRevoke = pkts.slice(Math.min(revokeAt, pkts.length)).filter(revokedFlow).map(hex);
    for (const h of afterRevoke) expect(on.delivered.includes(h)).toBe(false);
    if (revokeAt < pkts.length) expect(afterRevoke.length).toBeGreaterThan(0);
    expect(on.delivered.length).toBeGreaterThan(0);
  });
});

function ipv6Text(p: Uint8Array, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((p[off + i] << 8) | p[off + i + 1]).toString(16));
  return parts.join(':');
}
