// A Linux TUN interface as a PacketDevice, through the native addon: packets are read by a uv_poll-driven
// batched reader (one JS call per batch, into a preallocated arena) and written with one nonblocking
// write() each. Also configures the interface (MTU, link state, addresses, routes) over rtnetlink.
//
// Offloads (default on; `offload: false` or env GRANTWIRE_OFFLOAD=0 / GRANTWIRE_TUN_OFFLOAD=0 turns them off): the TUN is opened
// with a virtio-net header and TSO/USO + checksum offload, probed feature by feature (a plain TUN when the
// kernel accepts none). The kernel then hands over up to 64 KiB super-segments, which the native reader
// splits into MTU-sized packets before JS sees them (the filter and the device still get one IP packet
// each), and the writer thread merges runs of one flow's segments into super-segments (GRO).
//
// The interface is not persistent: closing the device (or the process dying) removes it, together with
// its addresses and routes. Not safe for use after close().
import type { IoCounterSource, PacketBatch, PacketDevice } from './io.js';
import {
  GRO_TCP,
  GRO_UDP,
  READER_TUN,
  READER_TUN_VNET,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_USO4,
  TUN_F_USO6,
  requireNative,
  type NativeAddon,
  type NativeHandle,
} from './native-addon.js';
import { tunOffloadEnabled } from './offload-env.js';

export interface TunOptions {
  /** Interface name (≤ 15 bytes), or a kernel pattern like 'gw%d'. */
  name: string;
  /** MTU to set at open; default 1420 (WireGuard's default on a 1500-byte underlay). */
  mtu?: number;
  /** Packets per read batch (default 64). */
  batch?: number;
  /**
   * Write through a native writer thread (default true; env GRANTWIRE_TUN_WRITER=0 turns it off). A TUN
   * write runs the kernel's receive path for the packet; on its own thread that overlaps with decryption.
   */
  writerThread?: boolean;
  /**
   * TUN offloads (default true; env GRANTWIRE_OFFLOAD=0 or GRANTWIRE_TUN_OFFLOAD=0 turns them off): virtio-net header, checksum
   * offload, TSO4/6 and USO4/6 where the kernel has them, with GRO on writes.
   */
  offload?: boolean;
}

/** Offloads asked for: everything the split/coalesce code handles. */
const OFFLOADS_WANTED = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6;


export interface TunStats {
  rxPackets: number;
  rxBatches: number;
  txPackets: number;
  txDropped: number;
  /** Reads that carried a TSO/USO super-segment (split into rxPackets). */
  rxSuperSegments: number;
  /** Packets written inside merged super-segments, and write syscalls (writer thread only). */
  txMerged: number;
  txWrites: number;
  /** Times a full writer ring made the event loop wait for room (backpressure instead of a drop). */
  txWaits: number;
  /** The TUN_F_* offloads the kernel accepted (0: plain TUN). */
  offloads: number;
}

/** Splits 'addr/len' (or a bare address: a host prefix) into its parts; throws on a malformed prefix. */
export function splitPrefix(prefix: string): { addr: string; len: number } {
  const slash = prefix.indexOf('/');
  const addr = slash < 0 ? prefix : prefix.slice(0, slash);
  const isV6 = addr.includes(':');
  const max = isV6 ? 128 : 32;
  const lenText = slash < 0 ? String(max) : prefix.slice(slash + 1);
  const len = /^[0-9]{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  if (!(len >= 0 && len <= max)) throw new Error(`invalid prefix length in ${JSON.stringify(prefix)}`);
  return { addr, len };
}

/** Packets the writer thread may have queued (≈2 MiB of ring at a 1420 MTU). */
const WRITER_SLOTS = 1024;

export class TunDevice implements PacketDevice, IoCounterSource {
  readonly name: string;
  private mtuValue: number;
  private readonly addon: NativeAddon;
  private fd: number;
  private readonly batchSize: number;
  private reader: NativeHandle | null = null;
  private readonly batch: PacketBatch;
  private arena: Uint8Array = new Uint8Array(0);
  private onPackets: ((batch: PacketBatch) => void) | null = null;
  private txPackets = 0;
  private txDropped = 0;
  private writer: NativeHandle | null = null;
  private kickScheduled = false;
  // Wakes the writer thread once per burst, after the handler that produced the packets returns.
  private readonly kick = (): void => {
    this.kickScheduled = false;
    if (this.writer !== null) this.addon.tunWriterKick(this.writer);
  };
  private writerMtu: number;
  private rxBase = { packets: 0, batches: 0, supers: 0 };
  /** TUN_F_* accepted by the kernel; non-zero means every read and write carries a virtio-net header. */
  readonly offloads: number;
  private readonly deliver = (count: number): void => {
    this.batch.count = count;
    this.onPackets?.(this.batch);
  };

  private constructor(addon: NativeAddon, fd: number, name: string, mtu: number, batch: number, offloads: number) {
    this.addon = addon;
    this.offloads = offloads;
    this.fd = fd;
    this.name = name;
    this.mtuValue = mtu;
    this.batchSize = batch;
    this.writerMtu = mtu;
    this.batch = { count: 0, bufs: [], lens: new Uint32Array(batch) };
  }

  /** Creates (or attaches to) the TUN interface and sets its MTU; the link stays down until up(). */
  static open(opts: TunOptions): TunDevice {
    const addon = requireNative();
    const mtu = opts.mtu ?? 1420;
    const batch = opts.batch ?? 64;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new Error(`invalid MTU ${mtu}`);
    if (!Number.isInteger(batch) || batch < 1 || batch > 1024) throw new Error(`invalid batch size ${batch}`);
    const { fd, name, offloads } = addon.tunOpen(opts.name, (opts.offload ?? tunOffloadEnabled()) ? OFFLOADS_WANTED : 0);
    try {
      addon.linkSet(name, false, mtu);
    } catch (err) {
      addon.fdClose(fd);
      throw err;
    }
    const dev = new TunDevice(addon, fd, name, mtu, batch, offloads);
    const threaded = opts.writerThread ?? process.env.GRANTWIRE_TUN_WRITER !== '0';
    if (threaded) dev.writer = dev.createWriter(mtu);
    return dev;
  }

  get mtu(): number {
    return this.mtuValue;
  }

  /** The TUN file descriptor (for diagnostics; the device owns it). */
  get fileDescriptor(): number {
    return this.fd;
  }

  setMtu(mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new Error(`invalid MTU ${mtu}`);
    this.addon.linkSet(this.name, this.isUp, mtu);
    this.mtuValue = mtu;
    // Reads and the writer ring are sized from the MTU; a bigger MTU needs bigger slots.
    if (this.reader !== null && this.slotSizeFor(mtu) > this.slotSize) this.restartReader();
    if (this.writer !== null && this.slotSizeFor(mtu) > this.slotSizeFor(this.writerMtu)) {
      this.addon.tunWriterClose(this.writer);
      this.writer = this.createWriter(mtu);
      this.writerMtu = mtu;
    }
  }

  private isUp = false;

  up(): void {
    this.addon.linkSet(this.name, true, 0);
    this.isUp = true;
  }

  down(): void {
    this.addon.linkSet(this.name, false, 0);
    this.isUp = false;
  }

  /** Adds an address with its prefix ('100.64.0.1/32', 'fd7a::1/48'); replaces an identical one. */
  addAddress(prefix: string): void {
    const { addr, len } = splitPrefix(prefix);
    this.addon.addrAdd(this.name, addr, len);
  }

  removeAddress(prefix: string): void {
    const { addr, len } = splitPrefix(prefix);
    this.addon.addrDel(this.name, addr, len);
  }

  /** Routes a prefix through this interface (main table, link scope); idempotent. */
  addRoute(prefix: string): void {
    const { addr, len } = splitPrefix(prefix);
    this.addon.routeAdd(this.name, addr, len);
  }

  removeRoute(prefix: string): void {
    const { addr, len } = splitPrefix(prefix);
    this.addon.routeDel(this.name, addr, len);
  }

  private slotSize = 0;

  private get vnet(): boolean {
    return this.offloads !== 0;
  }

  private createWriter(mtu: number): NativeHandle {
    // Merge TCP runs when the kernel takes TSO back in, UDP runs when it takes USO.
    const gro = (this.offloads & (TUN_F_TSO4 | TUN_F_TSO6) ? GRO_TCP : 0) | (this.offloads & TUN_F_USO4 ? GRO_UDP : 0);
    return this.addon.tunWriterCreate(this.fd, WRITER_SLOTS, this.slotSizeFor(mtu), this.vnet, gro);
  }

  private slotSizeFor(mtu: number): number {
    // Room for the MTU plus slack, rounded to 64 bytes; at least 2 KiB so small MTUs keep one layout.
    return Math.max(2048, (mtu + 64 + 63) & ~63);
  }

  start(onPackets: (batch: PacketBatch) => void): void {
    if (this.fd < 0) throw new Error(`${this.name}: device is closed`);
    if (this.reader !== null) throw new Error(`${this.name}: already started`);
    this.onPackets = onPackets;
    this.startReader();
  }

  private startReader(): void {
    this.slotSize = this.slotSizeFor(this.mtuValue);
    this.arena = new Uint8Array(this.slotSize * this.batchSize);
    const bufs: Uint8Array[] = [];
    for (let i = 0; i < this.batchSize; i++) bufs.push(this.arena.subarray(i * this.slotSize, (i + 1) * this.slotSize));
    this.batch.bufs = bufs;
    this.reader = this.addon.readerCreate(this.vnet ? READER_TUN_VNET : READER_TUN, this.fd, this.arena, this.slotSize, this.batch.lens, null, null, this.deliver);
  }

  private restartReader(): void {
    this.stopReader();
    this.startReader();
  }

  private stopReader(): void {
    if (this.reader === null) return;
    const s = this.addon.readerStats(this.reader);
    this.rxBase.packets += s.packets;
    this.rxBase.batches += s.batches;
    this.rxBase.supers += s.supers;
    this.addon.readerClose(this.reader);
    this.reader = null;
  }

  write(buf: Uint8Array, off: number, len: number): boolean {
    if (this.fd < 0) return false;
    if (this.writer !== null) {
      if (this.addon.tunWriterWrite(this.writer, buf, off, len)) {
        this.txPackets++;
        if (!this.kickScheduled) {
          this.kickScheduled = true;
          queueMicrotask(this.kick);
        }
        return true;
      }
      this.txDropped++;
      return false;
    }
    if (this.addon.tunWrite(this.fd, buf, off, len, this.vnet) >= 0) {
      this.txPackets++;
      return true;
    }
    this.txDropped++;
    return false;
  }

  stats(): TunStats {
    const s = this.reader !== null ? this.addon.readerStats(this.reader) : { packets: 0, batches: 0, supers: 0 };
    const w = this.writer !== null ? this.addon.tunWriterStats(this.writer) : null;
    return {
      rxPackets: this.rxBase.packets + s.packets,
      rxBatches: this.rxBase.batches + s.batches,
      rxSuperSegments: this.rxBase.supers + s.supers,
      txPackets: this.txPackets,
      txDropped: this.txDropped + (w?.errors ?? 0),
      txMerged: w?.merged ?? 0,
      txWrites: w?.writes ?? this.txPackets,
      txWaits: w?.waits ?? 0,
      offloads: this.offloads,
    };
  }

  ioCounters(): Record<string, number> {
    const s = this.stats();
    return { rx_packets: s.rxPackets, tx_packets: s.txPackets, tx_dropped: s.txDropped, tx_merged: s.txMerged, tx_writes: s.txWrites, tx_waits: s.txWaits };
  }

  async close(): Promise<void> {
    if (this.fd < 0) return;
    this.stopReader();
    this.onPackets = null;
    if (this.writer !== null) this.addon.tunWriterClose(this.writer);
    this.writer = null;
    this.addon.fdClose(this.fd);
    this.fd = -1;
  }
}
