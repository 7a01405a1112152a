// The RST that answers a local socket still talking on a revoked tuple. The filter's first RST toward the
// local socket (sent at revocation) uses its best estimate of the socket's RCV.NXT; if the kernel did not
// take it (data from the peer it had not yet acknowledged, a segment the filter did not see), the socket's
// next segment on the tuple carries its exact RCV.NXT as the ACK number, and an RST at that number is
// accepted (RFC 9293 §3.10.7.4, RFC 5961 §3.2). Runs per such segment, never per forwarded packet.
import { ParsedPacket, PKT_OK } from '../filter/packet.js';
import { parsePacket, readTcpAck } from '../filter/packet-parser.js';
import { buildPacket } from '../packet/build.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../packet/headers.js';
import { formatIP } from '../types/ip.js';
import { IPPROTO_TCP } from '../types/ipproto.js';

/**
 * For an outbound TCP segment buf[off, off+len) from the local socket, the RST toward that socket (as if
 * from the peer), or null when the segment is itself an RST or not TCP.
 */
export function resetForLocalSegment(buf: Uint8Array, off: number, len: number): Uint8Array | null {
  const p = new ParsedPacket();
  if (parsePacket(buf, off, len, p) !== PKT_OK || p.proto !== IPPROTO_TCP || !p.hasPorts || (p.tcpFlags & TCP_RST) !== 0) return null;
  const n = p.family === 4 ? 4 : 16;
  const local = formatIP(buf.subarray(p.srcOff, p.srcOff + n));
  const remote = formatIP(buf.subarray(p.dstOff, p.dstOff + n));
  if ((p.tcpFlags & TCP_ACK) !== 0) {
    return buildPacket({ proto: IPPROTO_TCP,  src: remote, dst: local, sport: p.dport, dport: p.sport, seq: readTcpAck(buf, off, p) >>> 0, ack: 0, tcpFlags: TCP_RST });
  }
  // No ACK field to go by: RFC 9293 §3.10.7.1's reset for a segment without ACK.
  const segLen = p.payloadLen + (p.tcpFlags & TCP_SYN ? 1 : 0) + (p.tcpFlags & TCP_FIN);
  return buildPacket({ proto: IPPROTO_TCP,  src: remote, dst: local, sport: p.dport, dport: p.sport, seq: 0, ack: (p.seq + segLen) >>> 0, tcpFlags: TCP_RST | TCP_ACK });
}
