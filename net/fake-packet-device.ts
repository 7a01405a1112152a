// An in-memory packet device for tests (in the spirit of wireguard-go's tuntest): `inject` plays the
// host sending IP packets into the tunnel (the device's outbound path); packets the device writes
// toward the host are collected in `received` (copies). Packets to inject come from packet/build.ts.
import type { PacketBatch, PacketDevice } from './io.js';

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
