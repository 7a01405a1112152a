// A UdpBind that passes everything through to a real bind and keeps copies of what is sent, sorted by
// WireGuard message type: the robustness suite replays and mutates real handshake and transport messages.
import type { DatagramBatch, UdpBind } from '../../net/io.js';
import { classifyMessage } from '../../wireguard/messages.js';

/** Sent messages by type (1 initiation, 2 response, 3 cookie reply, 4 transport), at most `keep` each. */
export type Captured = Map<number, Uint8Array[]>;

export class RecordingBind implements UdpBind {
  constructor(
    private readonly inner: UdpBind,
    readonly captured: Captured,
    private readonly keep = 32,
  ) {}

  get port(): number {
    return this.inner.port;
  }

  start(onDatagrams: (batch: DatagramBatch) => void): void {
    this.inner.start(onDatagrams);
  }

  send(buf: Uint8Array, off: number, len: number, addr16: Uint8Array, port: number): void {
    const type = classifyMessage(buf.subarray(off), len);
    const list = this.captured.get(type) ?? [];
    if (list.length < this.keep) list.push(buf.slice(off, off + len));
    this.captured.set(type, list);
    this.inner.send(buf, off, len, addr16, port);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
