// Two agent data planes (real WireGuard Devices, real FilterEngines) joined by the in-memory network and
// packet-device fakes: netmaps applied, the filter judging real packets, return traffic through flows,
// `ping` with an echo-replying host, and RSTs both ways when a new netmap revokes an established flow.
// No root needed.
import { afterAll, describe, expect, it } from 'vitest';
import type { Netmap, NetmapNode } from '../types/netmap.js';
import type { FilterRule } from '../types/filter-rule.js';
import { FakePacketDevice } from '../net/fake-packet-device.js';
import { buildPacket } from '../packet/build.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../packet/headers.js';
import { buildEchoRequest } from '../packet/icmp-echo.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../types/ipproto.js';
import { FakeNetwork } from '../net/fake-udp-bind.js';
import { NodePublic, generatePrivateKey, publicKeyFromPrivate } from '../crypto/key.js';
import { AgentDataplane } from './dataplane.js';

interface Side {
  dp: AgentDataplane;
  tun: FakePacketDevice;
  node: NetmapNode;
  tunOps: string[];
}

function makeSide(net: FakeNetwork, n: number, priv = generatePrivateKey()): Side {
  const tun = new FakePacketDevice(`gw${n}`);
  const bind = net.bind(`192.0.2.${n}:41641`);
  const tunOps: string[] = [];
  const dp = new AgentDataplane({
    privateKey: priv,
    tun,
    bind,
    tunControl: { addAddress: (a) => tunOps.push(`addr ${a}`), removeAddress: (a) => tunOps.push(`del ${a}`), addRoute: (r) => tunOps.push(`route ${r}`) },
    hostAddresses: () => [{ ifname: 'eth0', address: `192.0.2.${n}`, cidr: `192.0.2.${n}/24`, internal: false }],
  });
  dp.start();
  const node: NetmapNode = {
    id: n,
    stableId: `n${n}`,
    name: `node${n}`,
    nodeKey: NodePublic.text(publicKeyFromPrivate(priv)),
    addresses: [`100.64.0.${n}/32`, `fd7a:115c:a1e0::${n}/128`],
    allowedIPs: [`100.64.0.${n}/32`, `fd7a:115c:a1e0::${n}/128`],
    endpoints: [`192.0.2.${n}:41641`],
    tags: [],
    user: 1,
    hostinfo: { hostname: `node${n}`, os: 'linux' },
    online: true,
  };
  return { dp, tun, node, tunOps };
}

function netmap(self: Side, peer: Side, rules: FilterRule[]): Netmap {
  return { self: self.node, peers: [peer.node], userProfiles: [{ id: 1, loginName: 'alice@example.com', displayName: 'Alice' }], packetFilter: rules, capMap: {}, policyVersion: 1 };
}

const SSH_FROM_31: FilterRule[] = [{ SrcIPs: ['100.64.0.31'], DstPorts: [{ IP: '100.64.0.32', Ports: { First: 22, Last: 22 } }], IPProto: [6] }];
const SSH_FROM_1: FilterRule[] = [{ SrcIPs: ['100.64.0.1'], DstPorts: [{ IP: '100.64.0.2', Ports: { First: 22, Last: 22 } }], IPProto: [6] }];
const CAPS_FROM_1: FilterRule[] = [{ SrcIPs: ['100.64.0.1'], CapGrant: [{ Dsts: ['100.64.0.2/32'], CapMap: { 'example.com/cap/tailsql': [{ dataSrc: ['warehouse'] }] } }] }];

async function until(pred: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function tcpFlags(pkt: Uint8Array): number {
  return pkt[20 + 13];
}

function isTcp(pkt: Uint8Array, sport: number, dport: number): boolean {
  return pkt[0] >> 4 === 4 && pkt[9] === 6 && ((pkt[20] << 8) | pkt[21]) === sport && ((pkt[22] << 8) | pkt[23]) === dport;
}

describe('AgentDataplane over in-memory fakes', () => {
  const net = new FakeNetwork();
  const a = makeSide(net, 1);
  const b = makeSide(net, 2);
  a.dp.apply(netmap(a, b, []));
  b.dp.apply(netmap(b, a, [...SSH_FROM_1, ...CAPS_FROM_1]));
  afterAll(async () => {
    await a.dp.close();
    await b.dp.close();
  });

  it('configures the TUN: addresses, then the tailnet routes once', () => {
    expect(a.tunOps).toEqual(['addr 100.64.0.1/32', 'route 100.64.0.0/10', 'route fd7a:115c:a1e0::/48', 'addr fd7a:115c:a1e0::1/128']);
  });

  it('a granted SYN is delivered; a SYN to another port is dropped and counted', async () => {
    a.tun.inject(buildPacket({ proto: 'tcp', src: '100.64.0.1', dst: '100.64.0.2', sport: 40000, dport: 22, seq: 1000, ack: 0, tcpFlags: TCP_SYN }));
    await until(() => b.tun.received.some((p) => isTcp(p, 40000, 22)));
    a.tun.inject(buildPacket({ proto: 'tcp', src: '100.64.0.1', dst: '100.64.0.2', sport: 40001, dport: 23, seq: 1, ack: 0, tcpFlags: TCP_SYN }));
    await until(() => b.dp.engine.counters().drop_no_rule === 1);
    expect(b.tun.received.some((p) => isTcp(p, 40001, 23))).toBe(false);
  });

  it('return traffic of the allowed flow gets back; the reverse direction alone does not', async () => {
    b.tun.inject(buildPacket({ proto: 'tcp', src: '100.64.0.2', dst: '100.64.0.1', sport: 22, dport: 40000, seq: 5000, ack: 1001, tcpFlags: TCP_SYN | TCP_ACK }));
    await until(() => a.tun.received.some((p) => isTcp(p, 22, 40000)));
    a.tun.inject(buildPacket({ proto: 'tcp', src: '100.64.0.1', dst: '100.64.0.2', sport: 40000, dport: 22, seq: 1001, ack: 5001, tcpFlags: TCP_ACK }));
    await until(() => b.tun.received.filter((p) => isTcp(p, 40000, 22)).length === 2);
    b.tun.inject(buildPacket({ proto: 'tcp', src: '100.64.0.2', dst: '100.64.0.1', sport: 41000, dport: 8000, seq: 1, ack: 0, tcpFlags: TCP_SYN }));
    await until(() => a.dp.engine.counters().drop_no_rule === 1);
  });

  it('ping: an ICMP echo through the tunnel, answered by the peer host', async () => {
    // B's "kernel": answer echo requests written to its TUN.
    b.tun.onWrite = (pkt) => {
      if (pkt[0] >> 4 === 4 && pkt[9] === 1 && pkt[20] === 8) {
        const id = (pkt[24] << 8) | pkt[25];
        const seq = (pkt[26] << 8) | pkt[27];
        const reply = buildEchoRequest('100.64.0.2', '100.64.0.1', id, seq, Uint8Array.from(pkt.subarray(28)));
        reply[20] = 0; // echo reply
        reply[22] = 0;
        reply[23] = 0;
        let sum = 0;
        for (let i = 20; i < reply.length; i += 2) sum += (reply[i] << 8) | (reply[i + 1] ?? 0);
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
        const c = ~sum & 0xffff;
        reply[22] = c >> 8;
        reply[23] = c & 0xff;
        setImmediate(() => b.tun.inject(reply));
      }
    };
    const r = await a.dp.ping('100.64.0.2', 2000);
    expect(r.rttMs).toBeGreaterThan(0);
    // No disco keys here: b's datagrams come from an address disco never confirmed, so the device roamed
    // to it, and that address is the reply's direct path.
    expect(r).toMatchObject({ endpoint: '192.0.2.2:41641', relay: '' });
    await expect(a.dp.ping('100.64.0.9', 100)).rejects.toMatchObject({ code: 'ERR_LOCALAPI_FAILURE', wireCode: 'timeout' });
  });

  it('ping: an aborted signal (the LocalAPI client went away) ends the wait at once, before the timeout', async () => {
    const ac = new AbortController();
    // 100.64.0.9 is nobody's: no reply can come
    const p = a.dp.ping('100.64.0.9', 5000, ac.signal).then(() => 'replied', (e: { wireCode?: string }) => e.wireCode);
    ac.abort();
    const first = await Promise.race([p, new Promise((r) => setTimeout(() => r('still waiting'), 1000))]);
    expect(first).toBe('canceled');
    await expect(a.dp.ping('100.64.0.9', 5000, AbortSignal.abort())).rejects.toMatchObject({ wireCode: 'canceled' });
  });

  it('capsFor, explain and peer stats answer from the live state', () => {
    expect(b.dp.capsFor('100.64.0.1', '100.64.0.2')).toEqual({ 'example.com/cap/tailsql': [{ dataSrc: ['warehouse'] }] });
    expect(a.dp.capsFor('100.64.0.2', '100.64.0.1')).toBeNull();
    expect(b.dp.explain({ src: '100.64.0.1', dst: '100.64.0.2', proto: 6, dport: 22 })).toMatchObject({ Verdict: 'accept', Reason: 'rule' });
    expect(b.dp.explain({ src: '100.64.0.1', dst: '100.64.0.2', proto: 6, dport: 23 })).toMatchObject({ Verdict: 'drop', Reason: 'no_rule' });
    const st = a.dp.peerStats().get(b.node.nodeKey);
    expect(st?.lastHandshakeMs).toBeGreaterThan(0);
    expect(st?.curAddr).toBe('192.0.2.2:41641');
    expect(a.dp.endpoints()).toEqual(['192.0.2.1:41641']);
  });

  it('a packet whose source is not the sending peer\'s is dropped by the device and counted as spoofed', async () => {
    a.tun.inject(buildPacket({ proto: 'tcp', src: '100.64.0.7', dst: '100.64.0.2', sport: 1, dport: 22, seq: 1, ack: 0, tcpFlags: TCP_SYN }));
    await until(() => b.dp.device.counters().drop_spoofed_source === 1);
    const drops = b.dp.metricFamilies().find((f) => f.name === 'grantwire_filter_drops_total');
    expect(drops?.samples.find((x) => x.labels?.reason === 'spoofed')?.value).toBe(1);
    expect(b.dp.engine.counters().drop_spoofed).toBe(1);
  });

  it('a netmap that revokes the grant cuts the established flow with RSTs both ways', async () => {
    const bBefore = b.tun.received.length;
    const aBefore = a.tun.received.length;
    b.dp.apply({ ...netmap(b, a, []), policyVersion: 2 });
    // Toward B's local socket, written straight into its TUN: from A:40000 to B:22, seq = B's rcv_nxt.
    const toLocal = b.tun.received.slice(bBefore).find((p) => isTcp(p, 40000, 22));
    expect(toLocal && tcpFlags(toLocal) & TCP_RST).toBeTruthy();
    expect(toLocal && ((toLocal[24] << 24) | (toLocal[25] << 16) | (toLocal[26] << 8) | toLocal[27]) >>> 0).toBe(1001);
    // Toward A, through the tunnel.
    await until(() => a.tun.received.slice(aBefore).some((p) => isTcp(p, 22, 40000) && (tcpFlags(p) & TCP_RST) !== 0));
    // And the flow is gone: more data from A is dropped.
    const drops = b.dp.engine.counters().drop_no_rule;
    a.tun.inject(buildPacket({ proto: 'tcp', src: '100.64.0.1', dst: '100.64.0.2', sport: 40000, dport: 22, seq: 1001, ack: 5001, tcpFlags: TCP_ACK }));
    await until(() => b.dp.engine.counters().drop_no_rule === drops + 1);
    const m = b.dp.metricFamilies();
    expect(m.find((f) => f.name === 'grantwire_filter_flows_revoked_total')?.samples[0].value).toBe(1);
    expect(m.find((f) => f.name === 'grantwire_revoked_flow_rsts_total')?.samples[0].value).toBe(2);
  });

  it("after a revocation, the local socket's next segment on the tuple is answered with an RST at its own ACK number and opens nothing", async () => {
    const before = b.tun.received.length;
    const flows = b.dp.engine.flowCount;
    const rsts = b.dp.metricFamilies().find((f) => f.name === 'grantwire_revoked_flow_rsts_total')?.samples[0].value ?? 0;
    expect(b.dp.metricFamilies().find((f) => f.name === 'grantwire_filter_tombstones')?.samples[0].value).toBe(1);
    // B's kernel did not take the first RST (say a stale segment had moved its window): it sends an ACK.
    b.tun.inject(buildPacket({ proto: IPPROTO_TCP,  src: '100.64.0.2', dst: '100.64.0.1', sport: 22, dport: 40000, seq: 5001, ack: 1234, tcpFlags: TCP_ACK }));
    const rst = b.tun.received.slice(before).find((p) => isTcp(p, 40000, 22));
    expect(b.dp.metricFamilies().find((f) => f.name === 'grantwire_revoked_flow_rsts_total')?.samples[0].value).toBe(rsts + 1);
    expect(rst && tcpFlags(rst) & TCP_RST).toBeTruthy();
    expect(rst && ((rst[24] << 24) | (rst[25] << 16) | (rst[26] << 8) | rst[27]) >>> 0).toBe(1234);
    // the revoked peer is still out
    const drops = b.dp.engine.counters().drop_no_rule;
    a.tun.inject(buildPacket({ proto: IPPROTO_TCP,  src: '100.64.0.1', dst: '100.64.0.2', sport: 40000, dport: 22, seq: 1234, ack: 5001, tcpFlags: TCP_ACK }));
    await until(() => b.dp.engine.counters().drop_no_rule === drops + 1);
    // an RST from the local side is not answered
    const n = b.tun.received.length;
    b.tun.inject(buildPacket({ proto: IPPROTO_TCP,  src: '100.64.0.2', dst: '100.64.0.1', sport: 22, dport: 40000, seq: 5001, ack: 0, tcpFlags: TCP_RST }));
    expect(b.tun.received.length).toBe(n);
    expect(b.dp.engine.flowCount).toBe(flows);
  });

  it('ShieldsUp drops new inbound connections (counted, explained), cuts the ones peers opened, keeps ours', async () => {
    b.dp.apply({ ...netmap(b, a, [...SSH_FROM_1, ...CAPS_FROM_1]), policyVersion: 3 });
    a.tun.inject(buildPacket({ proto: IPPROTO_TCP,  src: '100.64.0.1', dst: '100.64.0.2', sport: 40020, dport: 22, seq: 1, ack: 0, tcpFlags: TCP_SYN }));
    await until(() => b.tun.received.some((p) => isTcp(p, 40020, 22)));
    const before = b.tun.received.length;
    b.dp.setShieldsUp(true);
    const cut = b.tun.received.slice(before).find((p) => isTcp(p, 40020, 22));
    expect(cut && tcpFlags(cut) & TCP_RST).toBeTruthy();
    a.tun.inject(buildPacket({ proto: IPPROTO_TCP,  src: '100.64.0.1', dst: '100.64.0.2', sport: 40021, dport: 22, seq: 1, ack: 0, tcpFlags: TCP_SYN }));
    await until(() => b.dp.engine.counters().drop_shields_up === 1);
    expect(b.tun.received.some((p) => isTcp(p, 40021, 22))).toBe(false);
    const drops = b.dp.metricFamilies().find((f) => f.name === 'grantwire_filter_drops_total');
    expect(drops?.samples.find((x) => x.labels?.reason === 'shields_up')?.value).toBe(1);
    expect(b.dp.explain({ src: '100.64.0.1', dst: '100.64.0.2', proto: 6, dport: 22 })).toMatchObject({ Verdict: 'drop', Reason: 'shields_up' });
    b.dp.setShieldsUp(false);
    a.tun.inject(buildPacket({ proto: IPPROTO_TCP,  src: '100.64.0.1', dst: '100.64.0.2', sport: 40022, dport: 22, seq: 1, ack: 0, tcpFlags: TCP_SYN }));
    await until(() => b.tun.received.some((p) => isTcp(p, 40022, 22)));
  });

  it("ICMP errors: accepted from a peer about a route it serves, dropped once it no longer serves it", async () => {
    const withRoute: NetmapNode = { ...a.node, allowedIPs: [...a.node.allowedIPs, '10.1.0.0/24'], routes: ['10.1.0.0/24'] };
    b.dp.apply({ ...netmap(b, a, []), peers: [withRoute], policyVersion: 4 });
    const flows = b.dp.engine.flowCount;
    b.tun.inject(buildPacket({ src: '100.64.0.2', dst: '10.1.0.9', proto: IPPROTO_UDP, sport: 5353, dport: 53 })); // through A, which serves the route
    expect(b.dp.engine.flowCount).toBe(flows + 1);
    const quoted = buildPacket({ src: '100.64.0.2', dst: '10.1.0.9', proto: IPPROTO_UDP, sport: 5353, dport: 53 }).slice(0, 28);
    const icmpErr = () => {
      const e = buildEchoRequest('100.64.0.1', '100.64.0.2', 0, 0, quoted);
      e[20] = 3; // destination unreachable
      e[21] = 1; // host unreachable
      e[22] = e[23] = 0;
      let sum = 0;
      for (let i = 20; i < e.length; i += 2) sum += (e[i] << 8) | (e[i + 1] ?? 0);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      e[22] = (~sum >> 8) & 0xff;
      e[23] = ~sum & 0xff;
      return e;
    };
    const n = b.tun.received.length;
    a.tun.inject(icmpErr());
    await until(() => b.tun.received.length === n + 1);
    expect(b.tun.received[n][9]).toBe(1);
    b.dp.apply({ ...netmap(b, a, []), policyVersion: 5 });
    const drops = b.dp.engine.counters().drop_no_rule;
    a.tun.inject(icmpErr());
    await until(() => b.dp.engine.counters().drop_no_rule === drops + 1);
    expect(b.tun.received.length).toBe(n + 1);
  });

  it('a peer that leaves the netmap (control no longer relates us) has the local sockets of every flow with it reset, ours too', async () => {
    // B opens a connection to A: a node-initiated flow, which a new filter would never revoke.
    const flows0 = b.dp.engine.flowCount;
    b.tun.inject(buildPacket({ proto: IPPROTO_TCP, src: '100.64.0.2', dst: '100.64.0.1', sport: 40100, dport: 8080, seq: 700, ack: 0, tcpFlags: TCP_SYN }));
    await until(() => b.dp.engine.flowCount === flows0 + 1);
    const flows = b.dp.engine.flowCount;
    const before = b.tun.received.length;
    // The next netmap no longer carries A: B's socket must get an RST now instead of stalling.
    b.dp.apply({ ...netmap(b, a, []), peers: [], policyVersion: 6 });
    const rst = b.tun.received.slice(before).find((p) => isTcp(p, 8080, 40100));
    expect(rst && tcpFlags(rst) & TCP_RST).toBeTruthy();
    expect(b.dp.engine.flowCount).toBeLessThan(flows);
  });
});

// Peers by policy: a revoked grant also removes the peer from both nodes' netmaps, in whichever order the
// two netmaps land. Both local sockets must get an RST they accept (sequence number = their RCV.NXT), from
// the other side through the tunnel while it is still there or from the node itself: the client's flow is
// one it opened, which no filter change revokes.
describe('a peer leaving both netmaps cuts an established connection on both sides', () => {
  const seqOf = (p: Uint8Array) => ((p[24] << 24) | (p[25] << 16) | (p[26] << 8) | p[27]) >>> 0;
  const rstTo = (s: Side, sport: number, dport: number, seq: number) => s.tun.received.some((p) => isTcp(p, sport, dport) && (tcpFlags(p) & TCP_RST) !== 0 && seqOf(p) === seq);

  it.each([
    { order: 'client first', first: 'a', settle: false },
    { order: 'server first, client at once (before the RST crosses)', first: 'b', settle: false },
    { order: 'server first, client after the RST crossed', first: 'b', settle: true },
  ])('$order', async ({ first, settle }) => {
    const net = new FakeNetwork();
    const a = makeSide(net, 1); // the client (eng)
    const b = makeSide(net, 2); // the server (prod): SSH from A
    try {
      a.dp.apply(netmap(a, b, []));
      b.dp.apply(netmap(b, a, SSH_FROM_1));
      const seg = (s: Side, sport: number, dport: number, flags: number, seq: number, ack: number, len = 0) =>
        s.tun.inject(buildPacket({ proto: IPPROTO_TCP, src: s.node.addresses[0].split('/')[0], dst: (s === a ? b : a).node.addresses[0].split('/')[0], sport, dport, seq, ack, tcpFlags: flags, payload: new Uint8Array(len) }));
      // Handshake, 5 bytes A → B, 10 bytes B → A: A expects 5011 next, B expects 1006.
      seg(a, 40000, 22, TCP_SYN, 1000, 0);
      await until(() => b.tun.received.some((p) => isTcp(p, 40000, 22)));
      seg(b, 22, 40000, TCP_SYN | TCP_ACK, 5000, 1001);
      await until(() => a.tun.received.some((p) => isTcp(p, 22, 40000)));
      seg(a, 40000, 22, TCP_ACK, 1001, 5001, 5);
      await until(() => b.tun.received.filter((p) => isTcp(p, 40000, 22)).length === 2);
      seg(b, 22, 40000, TCP_ACK, 5001, 1006, 10);
      await until(() => a.tun.received.filter((p) => isTcp(p, 22, 40000)).length === 2);
      seg(a, 40000, 22, TCP_ACK, 1006, 5011);
      await until(() => b.tun.received.filter((p) => isTcp(p, 40000, 22)).length === 3);

      // The grant is revoked: B's filter loses it, and neither node is sent the other any more.
      const leaveA = () => a.dp.apply({ ...netmap(a, b, []), peers: [], policyVersion: 2 });
      const leaveB = () => b.dp.apply({ ...netmap(b, a, []), peers: [], policyVersion: 2 });
      if (first === 'a') leaveA();
      else leaveB();
      if (settle) await until(() => rstTo(a, 22, 40000, 5011));
      if (first === 'a') leaveB();
      else leaveA();
      await until(() => rstTo(a, 22, 40000, 5011) && rstTo(b, 40000, 22, 1006));

      // A's socket ignored nothing here, but one that keeps talking on the tuple is answered at its own ACK.
      const n = a.tun.received.length;
      seg(a, 40000, 22, TCP_ACK, 1006, 5011, 1);
      expect(a.tun.received.slice(n).some((p) => isTcp(p, 22, 40000) && (tcpFlags(p) & TCP_RST) !== 0 && seqOf(p) === 5011)).toBe(true);
      expect(a.dp.engine.flowCount).toBe(0);
    } finally {
      await a.dp.close();
      await b.dp.close();
    }
  });
});

describe('a peer whose agent restarted (same node key, new disco key)', () => {
  it('is reached again at once: the old WireGuard session is dropped, not used until it times out (15 s)', async () => {
    const net = new FakeNetwork();
    const a = makeSide(net, 31);
    const bKey = generatePrivateKey();
    const withDisco = (s: Side): Side => ({ ...s, node: { ...s.node, hostinfo: { ...s.node.hostinfo, discoKey: s.dp.hostinfoExtra().discoKey } } });
    const b1 = withDisco(makeSide(net, 32, bKey));
    a.dp.apply(netmap(a, b1, []));
    b1.dp.apply(netmap(b1, a, SSH_FROM_31));
    a.tun.inject(buildPacket({ proto: 'tcp', src: '100.64.0.31', dst: '100.64.0.32', sport: 40100, dport: 22, seq: 1, ack: 0, tcpFlags: TCP_SYN }));
    await until(() => b1.tun.received.some((p) => isTcp(p, 40100, 22)));
    await b1.dp.close();
    const b2 = withDisco(makeSide(net, 32, bKey)); // the restarted agent: same key and address, a new session and disco key
    expect(b2.node.hostinfo.discoKey).not.toBe(b1.node.hostinfo.discoKey);
    try {
      b2.dp.apply(netmap(b2, a, SSH_FROM_31));
      a.dp.apply(netmap(a, b2, []));
      a.tun.inject(buildPacket({ proto: 'tcp', src: '100.64.0.31', dst: '100.64.0.32', sport: 40101, dport: 22, seq: 1, ack: 0, tcpFlags: TCP_SYN }));
      await until(() => b2.tun.received.some((p) => isTcp(p, 40101, 22)), 3000);
    } finally {
      await a.dp.close();
      await b2.dp.close();
    }
  });
});
