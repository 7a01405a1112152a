// Hostile netmaps (issue 10, item 10): each row changes a clean synthetic netmap the way a compromised or
// buggy control could, and states what the agent keeps and what it rejects (and counts).
import { describe, expect, it } from 'vitest';
import { syntheticNetmap } from '../localapi/fake-backend.js';
import type { Netmap } from '../types/netmap.js';
import { sanitizeNetmap, type RejectReason } from './netmap-sanitize.js';

type Row = {
  name: string;
  edit: (nm: Netmap) => void;
  /** What the clean netmap should hold afterwards (node 1 is self, 2 and 3 are peers). */
  want: { self?: string[]; addresses?: Record<number, string[]>; allowed?: Record<number, string[]>; endpoints?: Record<number, string[]> };
  rejected: { reason: RejectReason; value: string }[];
};

const P2 = ['100.64.0.2/32', 'fd7a:115c:a1e0::2/128'];
const P3 = ['100.64.0.3/32', 'fd7a:115c:a1e0::3/128'];

const ROWS: Row[] = [
  { name: 'a clean netmap passes untouched', edit: () => undefined, want: { self: ['100.64.0.1/32', 'fd7a:115c:a1e0::1/128'], allowed: { 2: P2, 3: P3 } }, rejected: [] },
  // self addresses
  { name: 'self IPv4 outside 100.64.0.0/10', edit: (nm) => (nm.self.addresses[0] = '10.0.0.1/32'), want: { self: ['fd7a:115c:a1e0::1/128'] }, rejected: [{ reason: 'self_address', value: '10.0.0.1/32' }] },
  { name: 'self IPv6 outside fd7a:115c:a1e0::/48', edit: (nm) => (nm.self.addresses[1] = 'fd7a:115c:a1e1::1/128'), want: { self: ['100.64.0.1/32'] }, rejected: [{ reason: 'self_address', value: 'fd7a:115c:a1e1::1/128' }] },
  { name: 'self address not a host prefix', edit: (nm) => (nm.self.addresses[0] = '100.64.0.0/10'), want: { self: ['fd7a:115c:a1e0::1/128'] }, rejected: [{ reason: 'self_address', value: '100.64.0.0/10' }] },
  { name: 'self address unparseable', edit: (nm) => (nm.self.addresses[0] = 'nope'), want: { self: ['fd7a:115c:a1e0::1/128'] }, rejected: [{ reason: 'self_address', value: 'nope' }] },
  { name: 'self address the whole internet', edit: (nm) => (nm.self.addresses = ['0.0.0.0/0']), want: { self: [] }, rejected: [{ reason: 'self_address', value: '0.0.0.0/0' }] },
  // routes overlapping the tailnet ranges (issue 14): refused for peers and for this node itself
  { name: 'peer route inside the tailnet range', edit: (nm) => ((nm.peers[0].allowedIPs = [...P2, '100.64.0.0/16']), (nm.peers[0].routes = ['100.64.0.0/16'])), want: { allowed: { 2: P2 } }, rejected: [{ reason: 'peer_route', value: '100.64.0.0/16' }, { reason: 'peer_allowed_ip', value: '100.64.0.0/16' }] },
  { name: 'peer route covering the tailnet range', edit: (nm) => ((nm.peers[0].allowedIPs = [...P2, '64.0.0.0/2']), (nm.peers[0].routes = ['64.0.0.0/2'])), want: { allowed: { 2: P2 } }, rejected: [{ reason: 'peer_route', value: '64.0.0.0/2' }, { reason: 'peer_allowed_ip', value: '64.0.0.0/2' }] },
  { name: 'peer IPv6 route inside the tailnet range', edit: (nm) => ((nm.peers[0].allowedIPs = [...P2, 'fd7a:115c:a1e0:1::/64']), (nm.peers[0].routes = ['fd7a:115c:a1e0:1::/64'])), want: { allowed: { 2: P2 } }, rejected: [{ reason: 'peer_route', value: 'fd7a:115c:a1e0:1::/64' }, { reason: 'peer_allowed_ip', value: 'fd7a:115c:a1e0:1::/64' }] },
  { name: 'exit routes of a peer are kept', edit: (nm) => ((nm.peers[0].allowedIPs = [...P2, '0.0.0.0/0', '::/0']), (nm.peers[0].routes = ['0.0.0.0/0', '::/0'])), want: { allowed: { 2: [...P2, '0.0.0.0/0', '::/0'] } }, rejected: [] },
  { name: 'own route inside the tailnet range', edit: (nm) => (nm.self.routes = ['100.100.0.0/16', '10.0.0.0/8']), want: {}, rejected: [{ reason: 'self_route', value: '100.100.0.0/16' }] },
  // peer allowed IPs
  { name: 'peer allowed IP outside the tailnet, not a route', edit: (nm) => nm.peers[0].allowedIPs.push('0.0.0.0/0'), want: { allowed: { 2: P2 } }, rejected: [{ reason: 'peer_allowed_ip', value: '0.0.0.0/0' }] },
  { name: 'peer allowed IP that is an approved route of that peer', edit: (nm) => ((nm.peers[0].allowedIPs = [...P2, '10.1.0.0/24']), (nm.peers[0].routes = ['10.1.0.0/24'])), want: { allowed: { 2: [...P2, '10.1.0.0/24'] } }, rejected: [] },
  { name: "a route approved for another peer does not count", edit: (nm) => ((nm.peers[0].allowedIPs = [...P2, '10.1.0.0/24']), (nm.peers[1].routes = ['10.1.0.0/24'])), want: { allowed: { 2: P2 } }, rejected: [{ reason: 'peer_allowed_ip', value: '10.1.0.0/24' }] },
  { name: 'peer allowed IP covering the tailnet range (not a host prefix)', edit: (nm) => nm.peers[0].allowedIPs.push('100.64.0.0/10'), want: { allowed: { 2: P2 } }, rejected: [{ reason: 'peer_allowed_ip', value: '100.64.0.0/10' }] },
  { name: 'peer address outside the tailnet', edit: (nm) => (nm.peers[1].addresses = ['192.0.2.50/32', ...P3]), want: { addresses: { 3: P3 } }, rejected: [{ reason: 'peer_address', value: '192.0.2.50/32' }] },
  // duplicates
  {
    name: 'two peers claiming the same address: both claims rejected, the rest kept',
    edit: (nm) => nm.peers[1].allowedIPs.push('100.64.0.2/32'),
    want: { allowed: { 2: ['fd7a:115c:a1e0::2/128'], 3: P3 }, addresses: { 2: ['fd7a:115c:a1e0::2/128'], 3: P3 } },
    rejected: [
      { reason: 'duplicate_address', value: '100.64.0.2/32' },
      { reason: 'duplicate_address', value: '100.64.0.2/32' },
    ],
  },
  { name: 'same address written differently still collides', edit: (nm) => nm.peers[1].allowedIPs.push('fd7a:115c:a1e0:0::2/128'), want: { allowed: { 2: ['100.64.0.2/32'], 3: P3 } }, rejected: [{ reason: 'duplicate_address', value: 'fd7a:115c:a1e0::2/128' }, { reason: 'duplicate_address', value: 'fd7a:115c:a1e0::2/128' }] },
  { name: "a peer claiming this node's own address", edit: (nm) => nm.peers[0].allowedIPs.push('100.64.0.1/32'), want: { self: ['100.64.0.1/32', 'fd7a:115c:a1e0::1/128'], allowed: { 2: P2 } }, rejected: [{ reason: 'duplicate_address', value: '100.64.0.1/32' }] },
  { name: 'one peer listing its address twice is not a conflict', edit: (nm) => nm.peers[0].allowedIPs.push('100.64.0.2/32'), want: { allowed: { 2: P2 } }, rejected: [] },
  // endpoints
  {
    name: 'loopback, multicast, link-local and unspecified endpoints are dropped',
    edit: (nm) => (nm.peers[0].endpoints = ['127.0.0.1:41641', '[::1]:41641', '224.0.0.1:41641', '[ff02::1]:41641', '169.254.1.1:41641', '[fe80::1]:41641', '0.0.0.0:41641', '[::ffff:127.0.0.1]:41641', '198.51.100.7:41641', '[2001:db8::7]:41641']),
    want: { endpoints: { 2: ['198.51.100.7:41641', '[2001:db8::7]:41641'] } },
    rejected: ['127.0.0.1:41641', '[::1]:41641', '224.0.0.1:41641', '[ff02::1]:41641', '169.254.1.1:41641', '[fe80::1]:41641', '0.0.0.0:41641', '[::ffff:127.0.0.1]:41641'].map((value) => ({ reason: 'endpoint' as const, value })),
  },
  { name: 'unparseable endpoint', edit: (nm) => (nm.peers[1].endpoints = ['nonsense', '192.0.2.4:41641']), want: { endpoints: { 3: ['192.0.2.4:41641'] } }, rejected: [{ reason: 'endpoint', value: 'nonsense' }] },
];

describe('sanitizeNetmap', () => {
  it.each(ROWS)('$name', ({ edit, want, rejected }) => {
    const nm = syntheticNetmap(2);
    edit(nm);
    const input = JSON.stringify(nm);
    const { netmap, rejections } = sanitizeNetmap(nm);
    expect(JSON.stringify(nm)).toBe(input); // the input is not modified
    if (want.self) expect(netmap.self.addresses).toEqual(want.self);
    const byId = new Map(netmap.peers.map((p) => [p.id, p]));
    for (const [id, v] of Object.entries(want.allowed ?? {})) expect(byId.get(Number(id))?.allowedIPs).toEqual(v);
    for (const [id, v] of Object.entries(want.addresses ?? {})) expect(byId.get(Number(id))?.addresses).toEqual(v);
    for (const [id, v] of Object.entries(want.endpoints ?? {})) expect(byId.get(Number(id))?.endpoints).toEqual(v);
    expect(rejections.map((r) => ({ reason: r.reason, value: r.value }))).toEqual(rejected);
    for (const r of rejections) expect(r.node).toMatch(/^node-\d/);
  });

  it('is idempotent', () => {
    const nm = syntheticNetmap(3);
    nm.peers[1].allowedIPs.push('100.64.0.2/32', '0.0.0.0/0');
    nm.peers[2].endpoints.push('127.0.0.1:1');
    const once = sanitizeNetmap(nm).netmap;
    const twice = sanitizeNetmap(once);
    expect(twice.rejections).toEqual([]);
    expect(twice.netmap).toEqual(once);
  });
});
