// A PacketDevice wrapper that lets the agent put its own packets on the device's outbound path (as if
// the host had written them to the TUN): `agent ping` echo requests and the RST toward a peer whose flow
// was revoked. Everything else is passed straight through to the wrapped device.
import type { PacketBatch, PacketDevice } from '../net/io.js';

export class InjectableTun implements PacketDevice {
  private onPackets: ((batch: PacketBatch) => void) | null = null;
  private readonly one: PacketBatch = { count: 1, bufs: [new Uint8Array(0)], lens: new Uint32Array(1) };

  constructor(readonly inner: PacketDevice) {}

  get name(): string {
    return this.inner.name;
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  start(onPackets: (batch: PacketBatch) => void): void {
    this.onPackets = onPackets;
    this.inner.start(onPackets);
  }

  write(buf: Uint8Array, off: number, len: number): boolean {
    return this.inner.write(buf, off, len);
  }

  /** Sends `pkt` through the outbound path (filter hook, cryptokey routing, encryption). */
  injectOutbound(pkt: Uint8Array): boolean {
    if (!this.onPackets) return false;
    this.one.bufs[0] = pkt;
    this.one.lens[0] = pkt.length;
    this.one.count = 1;
    this.onPackets(this.one);
    return true;
  }

  close(): Promise<void> {
    this.onPackets = null;
    return this.inner.close();
  }
}
