// In-memory UDP for tests (in the spirit of wireguard-go's bindtest): a FakeNetwork routes datagrams
// between FakeUdpBinds by (address, port). Delivery is asynchronous (setImmediate, batched per bind),
// like a real socket, so a device is never re-entered from inside its own send. Every datagram is
// copied on send. A tap can observe, drop or rewrite datagrams in flight (loss, replay, tampering).
import type { DatagramBatch, UdpBind } from './io.js';
import { parseEndpoint, formatEndpoint } from './endpoint.js';

export interface FakeDatagram {
  data: Uint8Array;
  fromAddr16: Uint8Array;
  fromPort: number;
  toAddr16: Uint8Array;
  toPort: number;
}

/** Return false to drop; may mutate `d` (e.g. change the source to simulate NAT rebinding). */
export type FakeTap = (d: FakeDatagram) => boolean;

function key(addr16: Uint8Array, port: number): string {
  return `${Buffer.from(addr16).toString('hex')}:${port}`;
}

export class FakeNetwork {
  private readonly binds = new Map<string, FakeUdpBind>();
  taps: FakeTap[] = [];
  /** Every datagram sent, before taps (for assertions on sizes and types); `dropped` counts tap drops. */
  readonly log: FakeDatagram[] = [];
  logLimit = 10_000;
  delivered = 0;
  dropped = 0;

  /** Creates a bind at `ip:port` (e.g. '192.0.2.1:51820'). */
  bind(endpoint: string): FakeUdpBind {
    const ep = parseEndpoint(endpoint);
    const b = new FakeUdpBind(this, ep.addr16, ep.port);
    this.binds.set(key(ep.addr16, ep.port), b);
    return b;
  }

  /** Moves a bind to a new address (roaming / NAT rebinding). */
  rebind(b: FakeUdpBind, endpoint: string): void {
    this.binds.delete(key(b.addr16, b.port));
    const ep = parseEndpoint(endpoint);
    b.addr16 = ep.addr16;
    (b as { port: number }).port = ep.port;
    this.binds.set(key(ep.addr16, ep.port), b);
  }

  /** Injects a raw datagram as if sent from `from` to `to` (fuzzing, replays). */
  inject(data: Uint8Array, from: string, to: string): void {
    const f = parseEndpoint(from);
    const t = parseEndpoint(to);
    this.route({ data: Uint8Array.from(data), fromAddr16: f.addr16, fromPort: f.port, toAddr16: t.addr16, toPort: t.port });
  }

  /** @internal */
  route(d: FakeDatagram): void {
    if (this.log.length < this.logLimit) this.log.push(d);
    for (const tap of this.taps) {
      if (!tap(d)) {
        this.dropped++;
        return;
      }
    }
    const dst = this.binds.get(key(d.toAddr16, d.toPort));
    if (dst) dst.enqueue(d);
  }

  /** Resolves once no datagram is in flight (a few event-loop turns). */
  async settle(maxTurns = 200): Promise<void> {
    for (let i = 0; i < maxTurns; i++) {
      await new Promise<void>((r) => setImmediate(r));
      let busy = false;
      for (const b of this.binds.values()) if (b.inFlight > 0) busy = true;
      if (!busy && i > 2) return;
    }
  }

  describe(d: FakeDatagram): string {
    return `${formatEndpoint(d.fromAddr16, d.fromPort)} -> ${formatEndpoint(d.toAddr16, d.toPort)} type ${d.data[0]} len ${d.data.length}`;
  }
}

export class FakeUdpBind implements UdpBind {
  readonly port: number;
  addr16: Uint8Array;
  private handler: ((b: DatagramBatch) => void) | null = null;
  private queue: FakeDatagram[] = [];
  private scheduled = false;
  private closed = false;
  sent = 0;

  constructor(
    private readonly net: FakeNetwork,
    addr16: Uint8Array,
    port: number,
  ) {
    this.addr16 = addr16;
    this.port = port;
  }

  get inFlight(): number {
    return this.queue.length;
  }

  get endpoint(): string {
    return formatEndpoint(this.addr16, this.port);
  }

  start(onDatagrams: (batch: DatagramBatch) => void): void {
    this.handler = onDatagrams;
  }

  send(buf: Uint8Array, off: number, len: number, addr16: Uint8Array, port: number): void {
    if (this.closed) return;
    this.sent++;
    this.net.route({
      data: buf.slice(off, off + len),
      fromAddr16: Uint8Array.from(this.addr16),
      fromPort: this.port,
      toAddr16: Uint8Array.from(addr16.subarray(0, 16)),
      toPort: port,
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handler = null;
    this.queue = [];
  }

  /** Delivers a batch synchronously to the device (benchmarks and direct tests). */
  receiveBatch(batch: DatagramBatch): void {
    this.handler?.(batch);
  }

  /** @internal */
  enqueue(d: FakeDatagram): void {
    if (this.closed) return;
    this.queue.push(d);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.deliver());
    }
  }

  private deliver(): void {
    this.scheduled = false;
    const q = this.queue;
    this.queue = [];
    if (!this.handler || q.length === 0) return;
    const batch: DatagramBatch = {
      count: q.length,
      bufs: q.map((d) => d.data),
      lens: Uint32Array.from(q.map((d) => d.data.length)),
      addrs: new Uint8Array(16 * q.length),
      ports: new Uint16Array(q.length),
    };
    q.forEach((d, i) => {
      batch.addrs.set(d.fromAddr16, 16 * i);
      batch.ports[i] = d.fromPort;
    });
    this.net.delivered += q.length;
    this.handler(batch);
  }
}
