// TCP RSTs that cut a flow the new filter revoked (filter.md "Revocation is immediate"): one toward the
// local socket, as if the peer had reset the connection, and one toward the peer, as if the local side
// had. Sequence numbers are the ones each receiver expects next, so the RST is in window (RFC 9293
// §3.10.7.4, the receiver accepts an RST whose sequence number is exactly the next expected).
import { buildPacket } from './build.js';
import { TCP_ACK, TCP_RST } from './headers.js';

/** The two ends of a TCP flow (filter/revoke.ts's RevokedFlow has this shape). */
export interface TcpFlowEnds {
  /** This node's address and port (the side the TUN delivers to). */
  local: string;
  localPort: number;
  /** The peer's address and port. */
  remote: string;
  remotePort: number;
  /** Next sequence numbers each side expects from the other; absent when there is nothing to reset. */
  tcp?: { remoteNextSeq: number; localNextSeq: number };
}

/** RST from the peer to the local socket (write it into the TUN so the socket closes now); null without `tcp`. */
export function buildResetToLocal(f: TcpFlowEnds): Uint8Array | null {
  if (!f.tcp) return null;
  return buildPacket({ src: f.remote, dst: f.local, proto: 'tcp', sport: f.remotePort, dport: f.localPort, tcpFlags: TCP_RST, seq: f.tcp.remoteNextSeq });
}

/** RST|ACK from the local side to the peer (send it through the tunnel); null without `tcp`. */
export function buildResetToRemote(f: TcpFlowEnds): Uint8Array | null {
  if (!f.tcp) return null;
  return buildPacket({
    src: f.local,
    dst: f.remote,
    proto: 'tcp',
    sport: f.localPort,
    dport: f.remotePort,
    tcpFlags: TCP_RST | TCP_ACK,
    seq: f.tcp.localNextSeq,
    ack: f.tcp.remoteNextSeq,
  });
}
