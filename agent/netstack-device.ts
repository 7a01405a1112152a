// The userspace packet device: a PacketDevice backed by a Netstack instead of a Linux TUN, so a node runs
// with no /dev/net/tun, no netlink and no capabilities. Packets the WireGuard device writes "toward the
// host" (already judged by the filter, exactly as in TUN mode) go to netstack.input; what the netstack
// sends comes back through start()'s callback as outbound packets (recorded by the filter hook,
// encrypted, sent). It is also the TunControl: the node's tailnet addresses arrive with the first netmap
// and become the netstack's; routes need nothing (the netstack sees every packet the tunnel delivers).
//
// The netstack is built once the first addresses are in; later address changes are applied to it live, so
// connections on an address that stays survive (those on a removed address are reset by the netstack).
// Whatever must live on it (listeners, UDP sockets, the inbound forwarder) registers with attach(), which
// runs now, or when the netstack is built.
//
// Output is deferred to a microtask: netstack.input may answer synchronously (an ACK) while the WireGuard
// device is still inside its inbound batch, and the device's paths are not written to be re-entered.
// Packets are copied into a pool of MTU-sized buffers that grows to the largest burst and is reused, so a
// steady flow allocates nothing per packet.
import { debuglog } from 'node:util';
import type { PacketBatch, PacketDevice } from '../net/io.js';
import { Netstack } from '../netstack/index.js';
import type { NetstackLimits } from '../netstack/index.js';
import type { TunControl } from './dataplane.js';

const log = debuglog('grantwire:userspace');

export const USERSPACE_DEVICE_NAME = 'userspace';

/**
 * The TCP receive window of a netstack behind a UDP socket (default; NetstackDeviceOptions.limits
 * overrides it). The window bounds what a sender has in flight toward us, and all of it arrives as
 * datagrams queued in our UDP socket's receive buffer (4 MiB, ~2 KiB of kernel memory per 1.3 KB
 * datagram) while this one thread is busy elsewhere: with the netstack's 4 MiB default the socket
 * overflowed (RcvbufErrors) and every overflow cost a retransmission. Measured embedded ↔ embedded in one
 * process, 32 MiB (scripts/bench/netstack.ts): 4 MiB 63–125 Mbit/s with 216–1361 retransmissions;
 * 1 MiB 166–220 Mbit/s, 0; 512 KiB 175–185 Mbit/s, 0. 1 MiB still covers 80 Mbit/s at 100 ms RTT.
 */
export const USERSPACE_RECEIVE_WINDOW = 1 << 20;

/** What runs on each netstack: called with it; the returned function undoes it when the netstack goes. */
export type StackAttachment = (stack: Netstack) => (() => void) | void;

export interface NetstackDeviceOptions {
  mtu: number;
  limits?: NetstackLimits;
}

export class NetstackDevice implements PacketDevice, TunControl {
  readonly name = USERSPACE_DEVICE_NAME;
  readonly mtu: number;
  private stackValue: Netstack | null = null;
  private addrs: string[] = [];
  private buildQueued = false;
  private onPackets: ((b: PacketBatch) => void) | null = null;
  private readonly attachments = new Map<StackAttachment, (() => void) | void>();
  private readonly addressWaiters: (() => void)[] = [];
  private closed = false;
  // Deferred output: bufs[0..count) hold lens[i] bytes each.
  // Two batches: output during a flush (the device's callback may cause more) fills the other one.
  private out: PacketBatch = { count: 0, bufs: [], lens: new Uint32Array(64) };
  private spare: PacketBatch = { count: 0, bufs: [], lens: new Uint32Array(64) };
  private flushQueued = false;
  private readonly flush = () => this.flushOutput();
  /** Packets delivered to the netstack / dropped because it has no address yet. */
  readonly stats = { toStack: 0, fromStack: 0, dropNoStack: 0 };

  constructor(private readonly opts: NetstackDeviceOptions) {
    this.mtu = opts.mtu;
  }

  /** The current netstack (null until the node has an address). */
  get stack(): Netstack | null {
    return this.stackValue;
  }

  get addresses(): readonly string[] {
    return this.addrs;
  }

  /** Resolves once the netstack exists (the first netmap gave this node its addresses). */
  whenReady(): Promise<Netstack> {
    if (this.stackValue) return Promise.resolve(this.stackValue);
    return new Promise((resolve) => this.addressWaiters.push(() => resolve(this.stackValue!)));
  }

  /** Runs `a` on the current netstack (if any) and on every later one; returns the detacher. */
  attach(a: StackAttachment): () => void {
    this.attachments.set(a, this.stackValue ? a(this.stackValue) : undefined);
    return () => {
      const undo = this.attachments.get(a);
      this.attachments.delete(a);
      if (typeof undo === 'function') undo();
    };
  }

  // ---- PacketDevice ----

  start(onPackets: (batch: PacketBatch) => void): void {
    this.onPackets = onPackets;
  }

  write(buf: Uint8Array, off: number, len: number): boolean {
    const s = this.stackValue;
    if (!s) {
      this.stats.dropNoStack++;
      return false;
    }
    this.stats.toStack++;
    s.input(buf, off, len);
    return true;
  }

  async close(): Promise<void> {
    this.closeStack();
    this.onPackets = null;
  }

  /**
   * Closes the netstack now and sends what it sends on closing (a RST to each connection's peer) while
   * the tunnel is still up; the device then drops input. Open sockets are destroyed without an 'error'
   * (see Netstack.close). Called by an embedded node's close() before it takes the tunnel down.
   */
  closeStack(): void {
    if (this.closed) return;
    this.closed = true;
    this.teardown();
    this.flushOutput();
  }

  // ---- TunControl ----

  addAddress(prefix: string): void {
    const a = prefix.split('/')[0];
    if (this.addrs.includes(a)) return;
    this.addrs = [...this.addrs, a];
    if (this.stackValue) this.stackValue.addAddress(a);
    else this.queueBuild();
  }

  removeAddress(prefix: string): void {
    const a = prefix.split('/')[0];
    if (!this.addrs.includes(a)) return;
    this.addrs = this.addrs.filter((x) => x !== a);
    this.stackValue?.removeAddress(a);
  }

  addRoute(_prefix: string): void {
    // Nothing to route: every packet the tunnel accepts is delivered to the netstack.
  }

  // ---- internals ----

  /** The first addresses arrive one by one from the same netmap; build once they are all in. */
  private queueBuild(): void {
    if (this.buildQueued) return;
    this.buildQueued = true;
    queueMicrotask(() => {
      this.buildQueued = false;
      this.build();
    });
  }

  private build(): void {
    if (this.closed || this.stackValue || this.addrs.length === 0) return;
    const limits: NetstackLimits = { receiveBuffer: USERSPACE_RECEIVE_WINDOW, ...this.opts.limits };
    const stack = new Netstack({ addresses: [...this.addrs], mtu: this.mtu, output: (p, l) => this.output(p, l), limits });
    this.stackValue = stack;
    log('netstack on %s', this.addrs.join(', '));
    for (const a of [...this.attachments.keys()]) {
      try {
        this.attachments.set(a, a(stack));
      } catch (err) {
        log('attaching to the new netstack failed: %s', (err as Error).message);
      }
    }
    const w = this.addressWaiters.splice(0);
    for (const f of w) f();
  }

  private teardown(): void {
    const s = this.stackValue;
    if (!s) return;
    this.stackValue = null;
    for (const [a, undo] of this.attachments) {
      if (typeof undo === 'function') {
        try {
          undo();
        } catch (err) {
          log('detaching failed: %s', (err as Error).message);
        }
      }
      this.attachments.set(a, undefined);
    }
    s.close();
  }

  private output(packet: Uint8Array, len: number): void {
    if (!this.onPackets) return;
    const b = this.out;
    const i = b.count;
    if (i === b.lens.length) {
      const lens = new Uint32Array(b.lens.length * 2);
      lens.set(b.lens);
      b.lens = lens;
    }
    if (i === b.bufs.length) b.bufs.push(new Uint8Array(this.mtu));
    let buf = b.bufs[i];
    if (buf.length < len) buf = b.bufs[i] = new Uint8Array(len);
    buf.set(packet.subarray(0, len));
    b.lens[i] = len;
    b.count = i + 1;
    this.stats.fromStack++;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
  }

  private flushOutput(): void {
    this.flushQueued = false;
    const b = this.out;
    if (b.count === 0) return;
    this.out = this.spare;
    this.spare = b;
    try {
      this.onPackets?.(b);
    } finally {
      b.count = 0;
    }
  }
}
