// The data plane's edges, as interfaces: a packet device (a Linux TUN, an in-memory fake, later a
// userspace netstack) and a UDP bind (the native addon's batched sockets, node:dgram, an in-memory fake).
// The WireGuard device is written against these only, so it never knows which is behind them; net/
// implements them and never imports wireguard/ (like wireguard-go's tun/ and conn/ under device/).
//
// Batches are caller-owned and reused: a receiver must finish with (or copy) every buffer before its
// callback returns. Nothing here allocates per packet.

/** A batch of packets: `bufs[i]` holds `lens[i]` bytes starting at offset 0, for i < count. */
export interface PacketBatch {
  count: number;
  bufs: Uint8Array[];
  lens: Uint32Array;
}

/**
 * A batch of datagrams with their sources. Addresses are 16 bytes each at `addrs[16*i]` (IPv4 as
 * v4-mapped `::ffff:a.b.c.d`), ports at `ports[i]`.
 */
export interface DatagramBatch extends PacketBatch {
  addrs: Uint8Array;
  ports: Uint16Array;
}

/**
 * Optional on a PacketDevice or UdpBind: its own packet counters (drops included), as flat
 * snake_case names → counts. The agent exports them as grantwire_io_packets_total{dev,counter}.
 */
export interface IoCounterSource {
  ioCounters(): Record<string, number>;
}

/** Whether `x` reports I/O counters. */
export function hasIoCounters(x: object): x is IoCounterSource {
  return typeof (x as Partial<IoCounterSource>).ioCounters === 'function';
}

/** A layer-3 packet device: IP packets in and out (no packet-information header). */
export interface PacketDevice {
  readonly name: string;
  readonly mtu: number;
  /** Starts delivering packets read from the device (outbound traffic, from the host's point of view). */
  start(onPackets: (batch: PacketBatch) => void): void;
  /** Writes one IP packet toward the host (inbound traffic). Returns false if it was dropped. */
  write(buf: Uint8Array, off: number, len: number): boolean;
  close(): Promise<void>;
}

/** A UDP socket (or pair, v4 + v6) that the device sends and receives WireGuard messages on. */
export interface UdpBind {
  /** The bound local port (known after open). */
  readonly port: number;
  start(onDatagrams: (batch: DatagramBatch) => void): void;
  /** Sends `len` bytes of `buf` from `off` to a 16-byte (v4-mapped for IPv4) address and port. */
  send(buf: Uint8Array, off: number, len: number, addr16: Uint8Array, port: number): void;
  close(): Promise<void>;
}

/** v4-mapped prefix for 16-byte address fields. */
export const V4_MAPPED_PREFIX = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff);
