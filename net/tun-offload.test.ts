// TUN offloads' byte logic (native/offload.cc) against hand-built packets: the split of TSO/USO
// super-segments into MTU-sized packets must give exactly the packets packet/build.ts builds for each
// segment (lengths, IPv4 IDs, sequence numbers, PSH/FIN on the last, CWR on the first, checksums), and
// coalescing a stream of segments then splitting the result must give the stream back, with runs broken
// where the kernel's GRO would break them. Needs the addon, not root.
import { describe, expect, it } from 'vitest';
import { buildPacket, type PacketSpec } from '../packet/build.js';
import { onesComplementSum, pseudoHeaderSum } from '../packet/checksum.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../packet/headers.js';
import { GRO_TCP, GRO_UDP, loadNative, nativeLoadError, type NativeAddon } from './native-addon.js';

const addon = loadNative();
if (addon === null) console.warn(`tun-offload.test: skipped (${nativeLoadError()})`);
const d = describe.skipIf(addon === null);
const native = (): NativeAddon => addon as NativeAddon;

const TCP_CWR = 0x80;
const GSO_NONE = 0;
const GSO_TCPV4 = 1;
const GSO_TCPV6 = 4;
const GSO_UDP_L4 = 5;
const NEEDS_CSUM = 1;
const SLOT = 2048;

type Fam = 4 | 6;
const ADDR = { 4: ['198.51.100.2', '198.51.100.1'], 6: ['2001:db8::2', '2001:db8::1'] } as const;

/** Payload bytes that differ per position, so a misplaced chunk shows. */
function payload(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed * 13 + (i >> 8)) & 0xff;
  return b;
}

// TCP options as Linux sends them on data segments: NOP NOP timestamp(10).
const TS_OPTIONS = Uint8Array.of(1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78);

interface Seg {
  fam: Fam;
  proto: 'tcp' | 'udp';
  data: Uint8Array;
  seq?: number;
  flags?: number;
  ipId?: number;
  options?: Uint8Array;
  sport?: number;
  window?: number;
}

function pkt(s: Seg): Uint8Array {
  const spec: PacketSpec = {
    src: ADDR[s.fam][0],
    dst: ADDR[s.fam][1],
    proto: s.proto,
    sport: s.sport ?? 40000,
    dport: 5201,
    payload: s.data,
    ipId: s.ipId ?? 0,
  };
  if (s.proto === 'tcp') Object.assign(spec, { tcpFlags: s.flags ?? TCP_ACK, seq: s.seq ?? 1000, ack: 777, window: s.window ?? 500, tcpOptions: s.options });
  return buildPacket(spec);
}

function vnetHdr(flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number): Uint8Array {
  const h = new Uint8Array(10);
  const v = new DataView(h.buffer);
  h[0] = flags;
  h[1] = gsoType;
  v.setUint16(2, hdrLen, true);
  v.setUint16(4, gsoSize, true);
  v.setUint16(6, csumStart, true);
  v.setUint16(8, csumOffset, true);
  return h;
}

function parseVnet(b: Uint8Array, off: number): { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number } {
  const v = new DataView(b.buffer, b.byteOffset + off, 10);
  return { flags: b[off], gsoType: b[off + 1], hdrLen: v.getUint16(2, true), gsoSize: v.getUint16(4, true), csumStart: v.getUint16(6, true), csumOffset: v.getUint16(8, true) };
}

/** Replaces the L4 checksum with the pseudo-header sum, as the kernel leaves it for NEEDS_CSUM. */
function partialChecksum(p: Uint8Array, fam: Fam, proto: 'tcp' | 'udp'): { start: number; offset: number } {
  const l4 = fam === 4 ? 20 : 40;
  const offset = proto === 'tcp' ? 16 : 6;
  const src = fam === 4 ? p.subarray(12, 16) : p.subarray(8, 24);
  const dst = fam === 4 ? p.subarray(16, 20) : p.subarray(24, 40);
  const sum = pseudoHeaderSum(src, dst, proto === 'tcp' ? 6 : 17, p.length - l4);
  p[l4 + offset] = sum >> 8;
  p[l4 + offset + 1] = sum & 0xff;
  return { start: l4, offset };
}

function split(p: Uint8Array, hdr: Uint8Array, maxOut = 128): Uint8Array[] {
  const arena = new Uint8Array(SLOT * maxOut);
  const lens = new Uint32Array(maxOut);
  const out: Uint8Array[] = [];
  for (let first = 0; ; ) {
    const r = native().gsoSplit(p, p.length, hdr, first, arena, SLOT, lens);
    if (r.count < 0) throw new Error('gsoSplit: malformed');
    for (let i = 0; i < r.count; i++) out.push(arena.slice(i * SLOT, i * SLOT + lens[i]));
    first += r.count;
    if (first >= r.total || r.count === 0) return out;
  }
}

/** The super-segment and the header the kernel would hand over for `data` cut at `gso`. */
function superSegment(s: Seg, gso: number): { p: Uint8Array; hdr: Uint8Array } {
  const p = pkt(s);
  const { start, offset } = partialChecksum(p, s.fam, s.proto);
  const l4hl = s.proto === 'tcp' ? (p[start + 12] >> 4) * 4 : 8;
  const type = s.proto === 'udp' ? GSO_UDP_L4 : s.fam === 4 ? GSO_TCPV4 : GSO_TCPV6;
  return { p, hdr: vnetHdr(NEEDS_CSUM, type, start + l4hl, gso, start, offset) };
}

/** What the stack would have sent without TSO: one packet per gso-sized chunk. */
function expectedSegments(s: Seg, gso: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const n = Math.max(1, Math.ceil(s.data.length / gso));
  const flags = s.flags ?? TCP_ACK;
  for (let i = 0; i < n; i++) {
    let f = flags;
    if (i !== n - 1) f &= ~(TCP_FIN | TCP_PSH);
    if (i !== 0) f &= ~TCP_CWR;
    out.push(pkt({ ...s, data: s.data.subarray(i * gso, (i + 1) * gso), seq: ((s.seq ?? 1000) + i * gso) >>> 0, flags: f, ipId: s.fam === 4 ? ((s.ipId ?? 0) + i) & 0xffff : 0 }));
  }
  return out;
}

d('gsoSplit: super-segments into MTU-sized packets', () => {
  it.each([
    { name: 'TCPv4, ACK|PSH, 10 full segments', s: { fam: 4, proto: 'tcp', data: payload(13800), flags: TCP_ACK | TCP_PSH }, gso: 1380 },
    { name: 'TCPv4 with timestamps, short last segment, FIN|PSH at the end', s: { fam: 4, proto: 'tcp', data: payload(5000, 1), flags: TCP_ACK | TCP_PSH | TCP_FIN, options: TS_OPTIONS }, gso: 1368 },
    { name: 'TCPv4, CWR only on the first', s: { fam: 4, proto: 'tcp', data: payload(4000, 2), flags: TCP_ACK | TCP_CWR | TCP_PSH }, gso: 1000 },
    { name: 'TCPv4, sequence wraps past 2^32', s: { fam: 4, proto: 'tcp', data: payload(3000, 3), seq: 0xfffffc00 }, gso: 1380 },
    { name: 'TCPv4, IP ID wraps past 65535', s: { fam: 4, proto: 'tcp', data: payload(3000, 4), ipId: 0xfffe }, gso: 1380 },
    { name: 'TCPv4, 64 KiB super-segment, small MSS', s: { fam: 4, proto: 'tcp', data: payload(65000, 5), options: TS_OPTIONS }, gso: 536 },
    { name: 'TCPv6 with timestamps, PSH', s: { fam: 6, proto: 'tcp', data: payload(20000, 6), flags: TCP_ACK | TCP_PSH, options: TS_OPTIONS }, gso: 1348 },
    { name: 'TCPv6, one odd-length segment', s: { fam: 6, proto: 'tcp', data: payload(777, 7) }, gso: 1360 },
    { name: 'UDPv4 (USO), short last datagram', s: { fam: 4, proto: 'udp', data: payload(5555, 8) }, gso: 1200 },
    { name: 'UDPv6 (USO), exact multiple', s: { fam: 6, proto: 'udp', data: payload(4800, 9) }, gso: 1200 },
  ] as Array<{ name: string; s: Seg; gso: number }>)('$name', ({ s, gso }) => {
    const { p, hdr } = superSegment(s, gso);
    const want = expectedSegments(s, gso);
    const got = split(p, hdr);
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Buffer.from(got[i]).equals(Buffer.from(want[i])), `segment ${i}`).toBe(true);
    // The same segments when the batch has room for only 3 at a time (carried over between batches).
    const inThrees = split(p, hdr, 3);
    expect(inThrees.map((b) => Buffer.from(b).toString('hex'))).toEqual(want.map((b) => Buffer.from(b).toString('hex')));
  });

  it.each([
    { name: 'TCPv4', fam: 4, proto: 'tcp' },
    { name: 'TCPv6', fam: 6, proto: 'tcp' },
    { name: 'UDPv4', fam: 4, proto: 'udp' },
    { name: 'UDPv6', fam: 6, proto: 'udp' },
  ] as Array<{ name: string; fam: Fam; proto: 'tcp' | 'udp' }>)('no GSO, NEEDS_CSUM: $name checksum completed', ({ fam, proto }) => {
    const want = pkt({ fam, proto, data: payload(999, 11) });
    const p = Uint8Array.from(want);
    const { start, offset } = partialChecksum(p, fam, proto);
    expect(Buffer.from(p).equals(Buffer.from(want))).toBe(false);
    const got = split(p, vnetHdr(NEEDS_CSUM, GSO_NONE, 0, 0, start, offset));
    expect(got.map((b) => Buffer.from(b).toString('hex'))).toEqual([Buffer.from(want).toString('hex')]);
  });

  it('no GSO, checksum complete: passed through unchanged', () => {
    const want = pkt({ fam: 4, proto: 'tcp', data: payload(100) });
    expect(split(want, vnetHdr(0, GSO_NONE, 0, 0, 0, 0)).map((b) => Buffer.from(b).toString('hex'))).toEqual([Buffer.from(want).toString('hex')]);
  });

  it.each([
    { name: 'TSO4 header on an IPv6 packet', p: () => pkt({ fam: 6, proto: 'tcp', data: payload(3000) }), hdr: vnetHdr(NEEDS_CSUM, GSO_TCPV4, 60, 1000, 40, 16) },
    { name: 'TSO on a UDP packet', p: () => pkt({ fam: 4, proto: 'udp', data: payload(3000) }), hdr: vnetHdr(NEEDS_CSUM, GSO_TCPV4, 28, 1000, 20, 16) },
    { name: 'gso_size 0', p: () => pkt({ fam: 4, proto: 'tcp', data: payload(3000) }), hdr: vnetHdr(NEEDS_CSUM, GSO_TCPV4, 40, 0, 20, 16) },
    { name: 'segment larger than a slot', p: () => pkt({ fam: 4, proto: 'tcp', data: payload(6000) }), hdr: vnetHdr(NEEDS_CSUM, GSO_TCPV4, 40, 4000, 20, 16) },
    { name: 'csum offset past the end', p: () => pkt({ fam: 4, proto: 'udp', data: payload(10) }), hdr: vnetHdr(NEEDS_CSUM, GSO_NONE, 0, 0, 20, 400) },
    { name: 'unknown GSO type', p: () => pkt({ fam: 4, proto: 'tcp', data: payload(3000) }), hdr: vnetHdr(NEEDS_CSUM, 3, 40, 1000, 20, 16) },
  ])('malformed: $name is refused', ({ p, hdr }) => {
    const b = p();
    const arena = new Uint8Array(SLOT * 8);
    expect(native().gsoSplit(b, b.length, hdr, 0, arena, SLOT, new Uint32Array(8)).count).toBe(-1);
  });

  it('fuzz: random and truncated input never crashes and never writes past its slots', () => {
    let seed = 0x9e3779b9;
    const rnd = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const base = [superSegment({ fam: 4, proto: 'tcp', data: payload(9000), options: TS_OPTIONS }, 1380), superSegment({ fam: 6, proto: 'udp', data: payload(5000) }, 1200)];
    const arena = new Uint8Array(SLOT * 9);
    const lens = new Uint32Array(8);
    const deadline = Date.now() + 3000;
    for (let i = 0; i < 20000 && Date.now() < deadline; i++) {
      const { p, hdr } = base[rnd(2)];
      const b = Uint8Array.from(p.subarray(0, rnd(p.length + 1)));
      const h = Uint8Array.from(hdr);
      for (let k = rnd(4); k > 0; k--) b[rnd(Math.max(1, b.length))] = rnd(256);
      for (let k = rnd(3); k > 0; k--) h[rnd(10)] = rnd(256);
      arena.fill(0xee, SLOT * 8);
      const r = native().gsoSplit(b, b.length, h, rnd(3), arena, SLOT, lens);
      expect(r.count).toBeGreaterThanOrEqual(-1);
      expect(r.count).toBeLessThanOrEqual(8);
      for (let k = 0; k < r.count; k++) expect(lens[k]).toBeLessThanOrEqual(SLOT);
      expect(arena.subarray(SLOT * 8).every((x) => x === 0xee)).toBe(true);
    }
  });
});

interface CoalesceCase {
  name: string;
  mode: number;
  /** The packets in write order. */
  stream: () => Uint8Array[];
  /** How many consecutive packets each output holds. */
  runs: number[];
}

/** A run of `n` consecutive segments of one flow from `seq`, each `size` bytes (the last `last`). */
function tcpRun(fam: Fam, n: number, size: number, o: { seq?: number; last?: number; lastFlags?: number; options?: Uint8Array; sport?: number; id?: number } = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  let seq = o.seq ?? 5000;
  for (let i = 0; i < n; i++) {
    const len = i === n - 1 && o.last !== undefined ? o.last : size;
    const flags = i === n - 1 && o.lastFlags !== undefined ? o.lastFlags : TCP_ACK;
    out.push(pkt({ fam, proto: 'tcp', data: payload(len, i), seq, flags, options: o.options, sport: o.sport, ipId: fam === 4 ? (o.id ?? 100) + i : 0 }));
    seq = (seq + len) >>> 0;
  }
  return out;
}

function udpRun(fam: Fam, n: number, size: number, last = size, id = 300): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => pkt({ fam, proto: 'udp', data: payload(i === n - 1 ? last : size, i), ipId: fam === 4 ? id + i : 0 }));
}

const COALESCE: CoalesceCase[] = [
  // Merges
  { name: 'TCPv4: 8 full segments merge', mode: GRO_TCP, stream: () => tcpRun(4, 8, 1380), runs: [8] },
  { name: 'TCPv4 with timestamps: short last segment ends the run', mode: GRO_TCP, stream: () => [...tcpRun(4, 5, 1368, { last: 100, options: TS_OPTIONS }), ...tcpRun(4, 3, 1368, { seq: 5000 + 4 * 1368 + 100, options: TS_OPTIONS, id: 105 })], runs: [5, 3] },
  { name: 'TCPv4: PSH on a middle segment ends the run after it', mode: GRO_TCP, stream: () => [...tcpRun(4, 3, 1000, { lastFlags: TCP_ACK | TCP_PSH }), ...tcpRun(4, 2, 1000, { seq: 8000, id: 103 })], runs: [3, 2] },
  { name: 'TCPv6 with timestamps: 20 segments', mode: GRO_TCP, stream: () => tcpRun(6, 20, 1348, { options: TS_OPTIONS, lastFlags: TCP_ACK | TCP_PSH }), runs: [20] },
  { name: 'TCPv4: at most 64 segments', mode: GRO_TCP, stream: () => tcpRun(4, 70, 500), runs: [64, 6] },
  { name: 'TCPv4: at most 65535 bytes of IP packet', mode: GRO_TCP, stream: () => tcpRun(4, 50, 1380), runs: [47, 3] },
  { name: 'UDPv4 (USO): equal datagrams, short last', mode: GRO_UDP, stream: () => udpRun(4, 6, 1200, 50), runs: [6] },
  { name: 'UDPv6 (USO): a bigger datagram starts a new run', mode: GRO_UDP, stream: () => [...udpRun(6, 3, 1000), ...udpRun(6, 2, 1200)], runs: [3, 2] },
  // No merge
  { name: 'UDP with TCP-only mode', mode: GRO_TCP, stream: () => udpRun(4, 3, 1200), runs: [1, 1, 1] },
  { name: 'TCP with UDP-only mode', mode: GRO_UDP, stream: () => tcpRun(4, 3, 1200), runs: [1, 1, 1] },
  { name: 'TCP: a sequence gap', mode: GRO_TCP, stream: () => [...tcpRun(4, 2, 1000), ...tcpRun(4, 2, 1000, { seq: 9000, id: 102 })], runs: [2, 2] },
  { name: 'TCP: interleaved flows', mode: GRO_TCP, stream: () => { const a = tcpRun(4, 2, 1000); const b = tcpRun(4, 2, 1000, { sport: 40001, id: 500 }); return [a[0], b[0], a[1], b[1]]; }, runs: [1, 1, 1, 1] },
  { name: 'TCPv4: contiguous sequence but the IP ID jumps', mode: GRO_TCP, stream: () => [...tcpRun(4, 2, 1000), ...tcpRun(4, 2, 1000, { seq: 7000, id: 900 })], runs: [2, 2] },
  { name: 'UDPv4: IP ID jumps (a datagram in between was dropped)', mode: GRO_UDP, stream: () => [...udpRun(4, 2, 1000), ...udpRun(4, 2, 1000, 1000, 303)], runs: [2, 2] },
  { name: 'TCP: a SYN never merges', mode: GRO_TCP, stream: () => [pkt({ fam: 4, proto: 'tcp', data: payload(10), flags: TCP_SYN }), ...tcpRun(4, 2, 1000, { seq: 1011 })], runs: [1, 2] },
  { name: 'TCP: FIN ends a run and merges with nothing', mode: GRO_TCP, stream: () => [...tcpRun(4, 2, 1000), pkt({ fam: 4, proto: 'tcp', data: payload(1000), seq: 7000, flags: TCP_ACK | TCP_FIN, ipId: 102 })], runs: [2, 1] },
  { name: 'TCP: different options (timestamp moved on)', mode: GRO_TCP, stream: () => { const a = tcpRun(4, 2, 1000, { options: TS_OPTIONS }); const ts2 = Uint8Array.from(TS_OPTIONS); ts2[7]++; return [...a, ...tcpRun(4, 2, 1000, { seq: 7000, options: ts2, id: 102 })]; }, runs: [2, 2] },
  { name: 'TCP: pure ACKs (no payload)', mode: GRO_TCP, stream: () => [pkt({ fam: 4, proto: 'tcp', data: new Uint8Array(0) }), pkt({ fam: 4, proto: 'tcp', data: new Uint8Array(0) })], runs: [1, 1] },
  { name: 'TCP: IPv4 then IPv6', mode: GRO_TCP, stream: () => [...tcpRun(4, 1, 1000), ...tcpRun(6, 1, 1000, { seq: 6000 })], runs: [1, 1] },
];

d('groCoalesce: segments into super-segments, and back', () => {
  it.each(COALESCE)('$name', ({ mode, stream, runs }) => {
    const pkts = stream();
    const arena = new Uint8Array(SLOT * pkts.length);
    const lens = new Uint32Array(pkts.length);
    pkts.forEach((p, i) => {
      arena.set(p, i * SLOT);
      lens[i] = p.length;
    });
    const out = new Uint8Array(pkts.length * SLOT + 10 * pkts.length);
    const outLens = new Uint32Array(pkts.length);
    const n = native().groCoalesce(arena, SLOT, lens, pkts.length, mode, out, outLens);
    expect(n).toBe(runs.length);
    let pos = 0;
    let next = 0;
    for (let r = 0; r < n; r++) {
      const h = parseVnet(out, pos);
      const merged = out.subarray(pos + 10, pos + outLens[r]);
      const orig = pkts.slice(next, next + runs[r]);
      if (runs[r] === 1) {
        expect(h).toEqual({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });
        expect(Buffer.from(merged).equals(Buffer.from(orig[0]))).toBe(true);
      } else {
        const fam = orig[0][0] >> 4;
        const l4 = fam === 4 ? 20 : 40;
        const tcp = (fam === 4 ? orig[0][9] : orig[0][6]) === 6;
        const hdr = l4 + (tcp ? (orig[0][l4 + 12] >> 4) * 4 : 8);
        expect(h).toEqual({
          flags: NEEDS_CSUM,
          gsoType: tcp ? (fam === 4 ? GSO_TCPV4 : GSO_TCPV6) : GSO_UDP_L4,
          hdrLen: hdr,
          gsoSize: orig[0].length - hdr,
          csumStart: l4,
          csumOffset: tcp ? 16 : 6,
        });
        // IP length covers the whole super-segment; the IPv4 header checksum is valid.
        if (fam === 4) {
          expect((merged[2] << 8) | merged[3]).toBe(merged.length);
          expect(onesComplementSum(merged, 0, 20)).toBe(0xffff);
        } else expect(((merged[4] << 8) | merged[5]) + 40).toBe(merged.length);
        // Splitting it the way the kernel would gives the original segments back, byte for byte.
        const back = split(merged, out.subarray(pos, pos + 10));
        expect(back.map((b) => Buffer.from(b).toString('hex'))).toEqual(orig.map((b) => Buffer.from(b).toString('hex')));
      }
      next += runs[r];
      pos += outLens[r];
    }
    expect(next).toBe(pkts.length);
  });
});
