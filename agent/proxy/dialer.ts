// What the SOCKS5 and HTTP proxies need from the node: a TCP dial, a UDP socket and tailnet name
// resolution. The userspace agent and embedded nodes bind it to the netstack; a TUN-mode agent binds it
// to the host's sockets (the kernel routes tailnet addresses into the TUN). A failed dial rejects with a
// DialError whose `reason` the proxies map to a SOCKS5 reply code or an HTTP status (dial-errors.ts).
import type { Duplex } from 'node:stream';

/** A UDP socket for SOCKS5 UDP ASSOCIATE: one per association. */
export interface ProxyUdpSocket {
  /** Sends `data` to `address:port` (an IP address). */
  send(data: Uint8Array, address: string, port: number): void;
  /** Datagrams arriving from the tailnet, with their source. */
  onMessage(cb: (data: Uint8Array, address: string, port: number) => void): void;
  close(): void;
}

export interface Dialer {
  /** Connects to `host:port`; `host` is an IP or a tailnet name. Rejects with DialError. */
  dialTcp(host: string, port: number): Promise<Duplex>;
  /** A UDP socket that can send to tailnet addresses. Rejects with DialError. */
  bindUdp(): Promise<ProxyUdpSocket>;
  /** A tailnet name or IP literal to an IP address; null when it names nothing on the tailnet. */
  resolve(name: string): string | null;
}
