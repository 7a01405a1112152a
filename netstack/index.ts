// The userspace netstack's entry point: a pure TCP/UDP/ICMP stack over IPv4 and IPv6 — IP packets in
// (input), IP packets out (options.output), time from an injectable clock. Used by the agent's userspace
// mode and by embedded nodes; knows no WireGuard, no filter and no sockets of the machine.
//
// Contract (stable for agent/ and node/):
//   const ns = new Netstack({ addresses, mtu, output });
//   ns.input(pkt, off, len)                        — a packet from the tunnel (already filtered)
//   ns.connectTcp({ remoteAddress, remotePort })   — a TcpSocket (Duplex, 'connect' event)
//   ns.listenTcp(port, onConnection, { address })  — a TcpListener ('connection' event, like net.Server)
//   ns.setTcpFallback(onSyn, onConnection, { allowHalfOpen, holdMs }) — SYNs to ports without a listener:
//                                                    accept, refuse (RST) or hold ('hold', then syn.accept()/refuse())
//   ns.bindUdp(port, { address })                  — a UdpSocket ('message' (msg, rinfo), like dgram)
//   ns.setUdpFallback(onDatagram)                  — datagrams to unbound ports
//   ns.udpReplier(flow), ns.sendPortUnreachable(flow, payload) — answer such a datagram's sender
//   ns.addAddress(a), ns.removeAddress(a)          — on the live stack (a removed address's connections reset)
//   await ns.ping(address, timeoutMs)              — ICMP/ICMPv6 echo RTT in ms
//   ns.stats(), ns.close()
export type {
  FlowInfo,
  NetstackLimits,
  NetstackOptions,
  NetstackStats,
  RemoteInfo,
  SynRequest,
  TcpConnectOptions,
  TcpFallback,
  TcpFallbackOptions,
  TcpInfo,
  TcpListener,
  TcpListenOptions,
  TcpSocket,
  TcpState,
  UdpFallback,
  UdpSocket,
} from './api.js';
export type { NetstackClock } from './clock.js';
export { systemClock } from './clock.js';
export { Netstack } from './netstack.js';
export { ConnectionError, NetstackError } from '../types/errors.js';
