// UdpBind over the native addon: one dual-stack nonblocking socket; receive with recvmmsg in batches
// (uv_poll on the event-loop thread, one JS call per batch into a preallocated DatagramBatch); send
// through a native queue that is flushed with sendmmsg (plus UDP GSO for runs of equal-sized datagrams
// to one peer) once per turn of the microtask queue, i.e. right after the batch handler that produced
// the datagrams returns. With UDP GRO (default on; GRANTWIRE_OFFLOAD=0 or GRANTWIRE_UDP_GRO=0 turns it off)
// the kernel hands over runs of datagrams from one source as one message, which the native reader cuts
// back into datagrams, one per slot: fewer trips through the kernel's receive path. See scripts/bench/dataplane.ts (--udp) for the numbers against node:dgram.
import type { DatagramBatch, IoCounterSource, UdpBind } from './io.js';
import { READER_UDP, READER_UDP_GRO, requireNative, type NativeAddon, type NativeHandle } from './native-addon.js';
import { udpGroEnabled } from './offload-env.js';

export interface NativeUdpOptions {
  /** Local port; 0 picks a free one. */
  port?: number;
  /** Datagrams per receive batch and per send queue (default 64). */
  batch?: number;
  /** Largest datagram accepted (default 9216, enough for a 9000-byte MTU tunnel); bigger ones are dropped. */
  maxDatagram?: number;
  /** Socket buffer sizes in bytes (default 4 MiB each; forced past rmem_max when running as root). */
  rcvbuf?: number;
  sndbuf?: number;
  /** Coalesce equal-sized datagrams to one peer into UDP GSO sends (default true; falls back by itself). */
  gso?: boolean;
  /**
   * Run sendmmsg on a native sender thread so the kernel's send path overlaps with encryption (default
   * true; env GRANTWIRE_UDP_THREAD=0 turns it off).
   */
  senderThread?: boolean;
  /** Receive with UDP_GRO (default: on unless GRANTWIRE_OFFLOAD=0 or GRANTWIRE_UDP_GRO=0); falls back by itself. */
  gro?: boolean;
}

export interface UdpStats {
  rxDatagrams: number;
  rxBatches: number;
  txDatagrams: number;
  txDropped: number;
  txSyscalls: number;
  gso: boolean;
  /** UDP GRO is on, and how many received messages were runs of several datagrams. */
  gro: boolean;
  rxCoalesced: number;
}

export class NativeUdpBind implements UdpBind, IoCounterSource {
  readonly port: number;
  /** 6 for a dual-stack socket, 4 when the host has no IPv6. */
  readonly family: 4 | 6;
  private readonly addon: NativeAddon;
  private fd: number;
  private readonly sender: NativeHandle;
  private reader: NativeHandle | null = null;
  private readonly batch: DatagramBatch;
  private readonly arena: Uint8Array;
  private readonly slotSize: number;
  private readonly gro: boolean;
  private onDatagrams: ((batch: DatagramBatch) => void) | null = null;
  private flushScheduled = false;
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.fd >= 0) this.addon.udpFlush(this.sender);
  };
  private readonly deliver = (count: number): void => {
    this.batch.count = count;
    this.onDatagrams?.(this.batch);
  };

  private constructor(addon: NativeAddon, opts: Required<NativeUdpOptions>) {
    this.addon = addon;
    const { fd, port, family } = addon.udpOpen(opts.port, opts.rcvbuf, opts.sndbuf);
    this.fd = fd;
    this.port = port;
    this.family = family;
    this.slotSize = opts.maxDatagram;
    this.gro = opts.gro;
    this.arena = new Uint8Array(opts.batch * this.slotSize);
    const bufs: Uint8Array[] = [];
    for (let i = 0; i < opts.batch; i++) bufs.push(this.arena.subarray(i * this.slotSize, (i + 1) * this.slotSize));
    this.batch = {
      count: 0,
      bufs,
      lens: new Uint32Array(opts.batch),
      addrs: new Uint8Array(16 * opts.batch),
      ports: new Uint16Array(opts.batch),
    };
    this.sender = addon.udpSenderCreate(fd, family, opts.batch, this.slotSize, opts.gso, opts.senderThread);
  }

  /** Opens and binds the socket (throws with code EADDRINUSE etc. on failure). */
  static open(opts: NativeUdpOptions = {}): NativeUdpBind {
    const full: Required<NativeUdpOptions> = {
      port: opts.port ?? 0,
      batch: opts.batch ?? 64,
      maxDatagram: opts.maxDatagram ?? 9216,
      rcvbuf: opts.rcvbuf ?? 4 << 20,
      sndbuf: opts.sndbuf ?? 4 << 20,
      gso: opts.gso ?? true,
      senderThread: opts.senderThread ?? process.env.GRANTWIRE_UDP_THREAD !== '0',
      gro: opts.gro ?? udpGroEnabled(),
    };
    if (!Number.isInteger(full.port) || full.port < 0 || full.port > 65535) throw new Error(`invalid port ${full.port}`);
    if (!Number.isInteger(full.batch) || full.batch < 1 || full.batch > 1024) throw new Error(`invalid batch ${full.batch}`);
    if (!Number.isInteger(full.maxDatagram) || full.maxDatagram < 64 || full.maxDatagram > 65536) {
      throw new Error(`invalid maxDatagram ${full.maxDatagram}`);
    }
    return new NativeUdpBind(requireNative(), full);
  }

  start(onDatagrams: (batch: DatagramBatch) => void): void {
    if (this.fd < 0) throw new Error('udp bind is closed');
    if (this.reader !== null) throw new Error('udp bind already started');
    this.onDatagrams = onDatagrams;
    const b = this.batch;
    this.reader = this.addon.readerCreate(this.gro ? READER_UDP_GRO : READER_UDP, this.fd, this.arena, this.slotSize, b.lens, b.addrs, b.ports, this.deliver);
  }

  send(buf: Uint8Array, off: number, len: number, addr16: Uint8Array, port: number): void {
    if (this.fd < 0) return;
    this.addon.udpQueue(this.sender, buf, off, len, addr16, port);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /** Sends whatever is queued now (normally done automatically at the end of the current task). */
  flushNow(): void {
    if (this.fd >= 0) this.addon.udpFlush(this.sender);
  }

  stats(): UdpStats {
    const r = this.reader !== null ? this.addon.readerStats(this.reader) : { packets: 0, batches: 0, supers: 0, gro: 0 };
    const s = this.addon.udpSenderStats(this.sender);
    return {
      rxDatagrams: r.packets,
      rxBatches: r.batches,
      txDatagrams: s.sent,
      txDropped: s.dropped,
      txSyscalls: s.syscalls,
      gso: s.gso,
      gro: r.gro === 1,
      rxCoalesced: r.supers,
    };
  }

  ioCounters(): Record<string, number> {
    const s = this.stats();
    return { rx_datagrams: s.rxDatagrams, tx_datagrams: s.txDatagrams, tx_dropped: s.txDropped, tx_syscalls: s.txSyscalls };
  }

  async close(): Promise<void> {
    if (this.fd < 0) return;
    this.addon.udpSenderClose(this.sender);
    if (this.reader !== null) this.addon.readerClose(this.reader);
    this.reader = null;
    this.onDatagrams = null;
    this.addon.fdClose(this.fd);
    this.fd = -1;
  }
}
