// NAT routers for the lab (tailnet-lab.ts): a node behind its own router namespace, plugged into the lab's
// public bridge (198.51.100.0/24) on the WAN side, with the node on a home LAN in 192.0.2.0/24 (a /26
// per router). The router masquerades with nftables:
//   'eim'        plain masquerade: the source port is kept, so the mapping is endpoint-independent
//   'symmetric'  masquerade fully-random: a new random port per destination (endpoint-dependent)
// and may block forwarded UDP entirely ('udp-blocked': the node can reach control and relays over TCP only).
// Unsolicited inbound UDP to the router is dropped, as home routers' firewalls do. On a lab with an IPv6
// underlay (TailnetLab's underlay6) the same routers do NAT66 (nftables ip6 masquerade): WAN PREFIX::20n/64
// on the lab's bridge, the node on LAN 2001:db8:1n::/64.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { addAddr, delAddr, haveCommand, nsRun, run, vethPair } from '../../test/netns.js';
import type { LabNode, TailnetLab } from './tailnet-lab.js';

export type NatKind = 'eim' | 'symmetric' | 'udp-blocked';

export interface NatNode extends LabNode {
  router: string;
  wanIP: string;
  lanPrefix: string;
  /** The LAN index (0..7): the /26 the node sits in (0..3 in 192.0.2.0/24, 4..7 in 203.0.113.0/24). */
  lan: number;
}

export function natPrerequisites(): string[] {
  return haveCommand('nft') ? [] : ['nftables (`nft`)'];
}

/** Adds router `${prefix}r${name}` and node `${prefix}${name}` behind it; starts the node's daemon. */
export async function addNodeBehindNat(lab: TailnetLab, name: string, kind: NatKind, lan: number): Promise<NatNode> {
  const router = lab.scope.netns(`${lab.prefix}r${name}`);
  const ns = lab.scope.netns(`${lab.prefix}${name}`);
  const hubIf = `${lab.prefix}w${name}`.slice(0, 15);
  vethPair(router, 'wan', lab.hub, hubIf);
  run('ip', ['-n', lab.hub, 'link', 'set', hubIf, 'master', lab.bridge]);
  const v6 = lab.underlay6 !== null;
  const wanIP = v6 ? lab.underlayAddress(200 + lan) : `198.51.100.${200 + lan}`;
  addAddr(router, 'wan', `${wanIP}/${v6 ? 64 : 24}`);
  vethPair(router, 'lan', ns, 'eth0');
  const lanNet = v6 ? lanOf6(lan) : null;
  const [net, base] = lanOf(lan);
  const routerLan = lanNet ? `${lanNet}::1` : `${net}.${base + 1}`;
  const nodeIP = lanNet ? `${lanNet}::2` : `${net}.${base + 2}`;
  const bits = v6 ? 64 : 26;
  addAddr(router, 'lan', `${routerLan}/${bits}`);
  addAddr(ns, 'eth0', `${nodeIP}/${bits}`);
  run('ip', ['-n', ns, 'route', 'add', 'default', 'via', routerLan]);
  // Keep the other addresses when the first one is removed (changeUnderlayAddress).
  if (!v6) nsRun(ns, 'sysctl', ['-qw', 'net.ipv4.conf.eth0.promote_secondaries=1']);
  nsRun(router, 'sysctl', ['-qw', v6 ? 'net.ipv6.conf.all.forwarding=1' : 'net.ipv4.ip_forward=1']);
  const masq = kind === 'symmetric' ? 'masquerade fully-random' : 'masquerade';
  const rules = [
    // NAT66 on an IPv6 underlay: the same masquerade and firewall in the ip6 family.
    `table ${v6 ? 'ip6' : 'ip'} gwnat {`,
    '  chain post { type nat hook postrouting priority 100; oifname "wan" ' + masq + '; }',
    // Like a home router's firewall: unsolicited UDP to the router itself is dropped before conntrack
    // confirms it. (Otherwise a peer's early punch creates a "to the router" entry that claims the very
    // tuple the node's own punch needs, and every later punch refreshes it.)
    '  chain input { type filter hook input priority 0; iifname "wan" meta l4proto udp ct state new drop; }',
    kind === 'udp-blocked' ? '  chain blockudp { type filter hook forward priority 0; meta l4proto udp drop; }' : '',
    '}',
  ].join('\n');
  nsRun(router, 'nft', ['-f', '-'], rules);
  const stateDir = join(lab.dir, name);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const node: NatNode = {
    name,
    ns,
    underlayIP: nodeIP,
    stateDir,
    socket: join(lab.dir, 'sock', `${name}.sock`),
    logFile: join(lab.dir, `${name}.log`),
    daemon: null,
    router,
    wanIP,
    lanPrefix: lanNet ? `${lanNet}::/64` : `${net}.${base}/26`,
    lan,
  };
  lab.nodes.set(name, node);
  await lab.startDaemon(node);
  return node;
}

/** Moves the node to another address of its LAN (roaming): the new address first, then the old one goes. */
export function changeUnderlayAddress(node: NatNode, hostPart: number): string {
  if (node.lanPrefix.includes(':')) throw new Error('changeUnderlayAddress: IPv4 LANs only');
  const [net, base] = lanOf(node.lan);
  const next = `${net}.${base + hostPart}`;
  addAddr(node.ns, 'eth0', `${next}/26`);
  delAddr(node.ns, 'eth0', `${node.underlayIP}/26`);
  // Deleting the primary address removed the default route with it.
  try {
    run('ip', ['-n', node.ns, 'route', 'replace', 'default', 'via', `${net}.${base + 1}`]);
  } catch {
    // still there
  }
  node.underlayIP = next;
  return next;
}

/** LAN i on an IPv6 underlay: its /64 as the part before `::` (2001:db8:1i::/64). */
function lanOf6(lan: number): string {
  if (!(lan >= 0 && lan < 8)) throw new RangeError(`LAN index ${lan} out of 0..7`);
  return `2001:db8:${(0x10 + lan).toString(16)}`;
}

/** LAN i: its /24 and the first address of its /26. */
function lanOf(lan: number): [string, number] {
  if (!(lan >= 0 && lan < 8)) throw new RangeError(`LAN index ${lan} out of 0..7`);
  return [lan < 4 ? '192.0.2' : '203.0.113', 64 * (lan % 4)];
}
