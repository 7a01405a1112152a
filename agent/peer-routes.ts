// Which prefixes each WireGuard peer is allowed to send from (its tailnet addresses and the routes it
// serves), kept beside the Device for one question the filter asks: may this peer report an ICMP error
// about a packet we sent to an address behind it (a subnet router answering for a host on its LAN)?
// The engine already accepts errors from the quoted destination itself; this is only the relay case,
// so it runs per ICMP error that fails that test, never per ordinary packet, and may allocate.
import type { ParsedPacket } from '../filter/packet.js';
import { parsePrefix, prefixContains, type IPPrefix } from '../types/ip.js';

function bytesOf(family: number, w0: number, w1: number, w2: number, w3: number): Uint8Array {
  const words = family === 4 ? [w0] : [w0, w1, w2, w3];
  const out = new Uint8Array(words.length * 4);
  words.forEach((w, i) => {
    out[i * 4] = w >>> 24;
    out[i * 4 + 1] = (w >>> 16) & 0xff;
    out[i * 4 + 2] = (w >>> 8) & 0xff;
    out[i * 4 + 3] = w & 0xff;
  });
  return out;
}

export class PeerRoutes {
  private readonly byPeer = new Map<string, IPPrefix[]>();

  /** The peer's allowed IPs (CIDRs); invalid ones are ignored. */
  set(peer: string, allowedIPs: string[]): void {
    this.byPeer.set(peer, allowedIPs.map(parsePrefix).filter((x): x is IPPrefix => x !== null));
  }

  delete(peer: string): void {
    this.byPeer.delete(peer);
  }

  clear(): void {
    this.byPeer.clear();
  }

  /** True when the peer that owns the error's source also serves the quoted packet's destination. */
  readonly relays = (p: Readonly<ParsedPacket>): boolean => {
    const sender = bytesOf(p.family, p.src0, p.src1, p.src2, p.src3);
    const quotedDst = bytesOf(p.family, p.innerDst0, p.innerDst1, p.innerDst2, p.innerDst3);
    for (const prefixes of this.byPeer.values()) {
      if (prefixes.some((x) => prefixContains(x, sender))) return prefixes.some((x) => prefixContains(x, quotedDst));
    }
    return false;
  };
}
