// UdpBind over node:dgram: the portable fallback when the native addon is unavailable. One 'udp6'
// dual-stack socket; each datagram is delivered as a batch of one (dgram has no recvmmsg), and sends are
// one sendmsg each. Node allocates a Buffer per received datagram and needs string addresses, so this
// path costs ~9 µs per datagram (see the --udp figures in scripts/bench/dataplane.ts).
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { DatagramBatch, UdpBind } from './io.js';

/** Writes a textual address (IPv4 as v4-mapped) into 16 bytes at `out`; false if unparsable. */
export function addrToBytes16(address: string, out: Uint8Array): boolean {
  out.fill(0, 0, 16);
  let text = address;
  const pct = text.indexOf('%');
  if (pct >= 0) text = text.slice(0, pct);
  if (text.startsWith('::ffff:') && isIPv4(text.slice(7))) text = text.slice(7);
  if (isIPv4(text)) {
    out[10] = 0xff;
    out[11] = 0xff;
    const parts = text.split('.');
    for (let i = 0; i < 4; i++) out[12 + i] = Number(parts[i]);
    return true;
  }
  // IPv6: expand '::' and parse hextets.
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : halves[1].split(':')) : [];
  const groups = halves.length === 2 ? [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  if (groups.length !== 8) return false;
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(groups[i])) return false;
    const v = parseInt(groups[i], 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  }
  return true;
}

/** Formats 16 address bytes as dgram wants them: v4-mapped as '::ffff:a.b.c.d', IPv6 in full hextets. */
export function bytes16ToAddr(a: Uint8Array): string {
  let v4 = true;
  for (let i = 0; i < 10; i++) if (a[i] !== 0) v4 = false;
  if (v4 && a[10] === 0xff && a[11] === 0xff) return `::ffff:${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((a[i] << 8) | a[i + 1]).toString(16));
  return g.join(':');
}

export interface DgramUdpOptions {
  port?: number;
  /** Bind address, default '::' (dual-stack). */
  address?: string;
  /** Socket buffer sizes in bytes (the kernel caps them at net.core.rmem_max/wmem_max); default: the kernel's. */
  rcvbuf?: number;
  sndbuf?: number;
}

export class DgramUdpBind implements UdpBind {
  private readonly socket: dgram.Socket;
  private portValue = 0;
  private closed = false;
  private readonly batch: DatagramBatch = {
    count: 0,
    bufs: [new Uint8Array(0)],
    lens: new Uint32Array(1),
    addrs: new Uint8Array(16),
    ports: new Uint16Array(1),
  };
  // Formatting an address per send would allocate; cache the last destination's string.
  private readonly lastAddr = new Uint8Array(16);
  private lastAddrText = '';

  private constructor(socket: dgram.Socket) {
    this.socket = socket;
  }

  /** Binds the socket; resolves once the port is known. */
  static async open(opts: DgramUdpOptions = {}): Promise<DgramUdpBind> {
    const socket = dgram.createSocket({ type: 'udp6', ipv6Only: false, reuseAddr: false, ...(opts.rcvbuf ? { recvBufferSize: opts.rcvbuf } : {}), ...(opts.sndbuf ? { sendBufferSize: opts.sndbuf } : {}) });
    const bind = new DgramUdpBind(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.port ?? 0, opts.address ?? '::', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    bind.portValue = socket.address().port;
    // Errors after bind (ICMP-induced, send failures) are not fatal for a lossy transport.
    socket.on('error', () => {});
    return bind;
  }

  get port(): number {
    return this.portValue;
  }

  start(onDatagrams: (batch: DatagramBatch) => void): void {
    const b = this.batch;
    this.socket.on('message', (msg, rinfo) => {
      if (!addrToBytes16(rinfo.address, b.addrs)) return;
      b.bufs[0] = msg;
      b.lens[0] = msg.length;
      b.ports[0] = rinfo.port;
      b.count = 1;
      onDatagrams(b);
    });
  }

  send(buf: Uint8Array, off: number, len: number, addr16: Uint8Array, port: number): void {
    if (this.closed) return;
    let same = this.lastAddrText !== '';
    for (let i = 0; i < 16 && same; i++) same = this.lastAddr[i] === addr16[i];
    if (!same) {
      this.lastAddr.set(addr16.subarray(0, 16));
      this.lastAddrText = bytes16ToAddr(addr16);
    }
    // dgram sends asynchronously from the buffer; copy so the caller may reuse its own.
    const copy = Buffer.allocUnsafe(len);
    copy.set(buf.subarray(off, off + len));
    this.socket.send(copy, 0, len, port, this.lastAddrText);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
