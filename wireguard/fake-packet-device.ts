// An in-memory packet device for tests (in the spirit of wireguard-go's tuntest): `inject` plays the
// host sending IP packets into the tunnel (the device's outbound path); packets the device writes
// toward the host are collected in `received` (copies). Also: tiny IPv4/IPv6 packet builders.
import type { PacketBatch, PacketDevice } from '../net/io.js';
import { parseIP } from '../types/ip.js';

export class FakePacketDevice implements PacketDevice {
  readonly name: string;
  readonly mtu: number;
  readonly received: Uint8Array[] = [];
  /** Return false to make write() fail (simulates a full TUN queue). */
  writeOk = true;
  receivedLimit = 100_000;
  /** Packets written, including those not kept. */
  written = 0;
  onWrite: ((pkt: Uint8Array) => void) | null = null;
  private handler: ((b: PacketBatch) => void) | null = null;
  closed = false;

  constructor(name = 'fake0', mtu = 1420) {
    this.name = name;
    this.mtu = mtu;
  }

  start(onPackets: (batch: PacketBatch) => void): void {
    this.handler = onPackets;
  }

  /** Delivers packets to the device as one batch (synchronously). */
  inject(...pkts: Uint8Array[]): void {
    if (!this.handler) throw new Error('FakePacketDevice: inject before start');
    this.handler({ count: pkts.length, bufs: pkts, lens: Uint32Array.from(pkts.map((p) => p.length)) });
  }

  write(buf: Uint8Array, off: number, len: number): boolean {
    if (!this.writeOk) return false;
    this.written++;
    if (this.received.length >= this.receivedLimit && !this.onWrite) return true;
    const pkt = buf.slice(off, off + len);
    if (this.received.length < this.receivedLimit) this.received.push(pkt);
    this.onWrite?.(pkt);
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handler = null;
  }
}

/** An IPv4 packet (UDP-ish protocol 17, no checksum) with `payloadLen` bytes of payload after 20 bytes of header. */
export function ipv4Packet(src: string, dst: string, payloadLen = 8, fill = 0xab): Uint8Array {
  const s = parseIP(src);
  const d = parseIP(dst);
  if (!s || !d || s.family !== 4 || d.family !== 4) throw new Error(`bad IPv4 ${src} ${dst}`);
  const p = new Uint8Array(20 + payloadLen).fill(fill);
  p[0] = 0x45;
  p[1] = 0;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 17;
  p[10] = p[11] = 0;
  p.set(s.bytes, 12);
  p.set(d.bytes, 16);
  return p;
}

export function ipv6Packet(src: string, dst: string, payloadLen = 8, fill = 0xcd): Uint8Array {
  const s = parseIP(src);
  const d = parseIP(dst);
  if (!s || !d || s.family !== 6 || d.family !== 6) throw new Error(`bad IPv6 ${src} ${dst}`);
  const p = new Uint8Array(40 + payloadLen).fill(fill);
  p[0] = 0x60;
  p[1] = p[2] = p[3] = 0;
  p[4] = payloadLen >> 8;
  p[5] = payloadLen & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.set(s.bytes, 8);
  p.set(d.bytes, 24);
  return p;
}
