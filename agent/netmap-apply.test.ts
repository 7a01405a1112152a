import { describe, expect, it } from 'vitest';
import { syntheticNetmap } from '../localapi/fake-backend.js';
import { parsePrefix, type IPPrefix } from '../types/ip.js';
import type { Netmap } from '../types/netmap.js';
import { chooseEndpoint, NetmapApplier, type DataplanePorts } from './netmap-apply.js';

const LAN: IPPrefix[] = [parsePrefix('198.51.100.0/24')!];

describe('chooseEndpoint', () => {
  it.each([
    { eps: ['203.0.113.9:41641', '198.51.100.7:41641'], want: '198.51.100.7:41641' },
    { eps: ['[2001:db8::1]:41641', '203.0.113.9:41641'], want: '203.0.113.9:41641' },
    { eps: ['[2001:db8::1]:41641'], want: '[2001:db8::1]:41641' },
    { eps: ['garbage', 'also:bad:1'], want: null },
    { eps: [], want: null },
  ])('$eps → $want', ({ eps, want }) => {
    expect(chooseEndpoint(eps, LAN)).toBe(want);
  });
});

class FakePorts implements DataplanePorts {
  log: string[] = [];
  upsertPeer(p: { nodeKey: string; endpoint: string | null; allowedIPs: string[] }) {
    this.log.push(`upsert ${p.nodeKey.slice(-2)} ${p.endpoint} ${p.allowedIPs.join(',')}`);
  }
  removePeer(k: Uint8Array) {
    this.log.push(`remove ${k[31].toString(16).padStart(2, '0')}`);
  }
  addAddress(a: string) {
    this.log.push(`addr+ ${a}`);
  }
  removeAddress(a: string) {
    this.log.push(`addr- ${a}`);
  }
  replaceFilter(rules: unknown[], _o: unknown, local: string[]) {
    this.log.push(`filter ${rules.length} ${local.join(',')}`);
    return 0;
  }
}

function clone(nm: Netmap): Netmap {
  return JSON.parse(JSON.stringify(nm)) as Netmap;
}

describe('NetmapApplier', () => {
  it('first netmap: filter, addresses, every peer', () => {
    const ports = new FakePorts();
    const a = new NetmapApplier(ports, () => LAN);
    a.apply(syntheticNetmap(2));
    expect(ports.log).toEqual([
      'filter 0 100.64.0.1/32,fd7a:115c:a1e0::1/128',
      'addr+ 100.64.0.1/32',
      'addr+ fd7a:115c:a1e0::1/128',
      'upsert 02 192.0.2.3:41641 100.64.0.2/32,fd7a:115c:a1e0::2/128',
      'upsert 03 192.0.2.4:41641 100.64.0.3/32,fd7a:115c:a1e0::3/128',
    ]);
  });

  it('same netmap again: nothing; changed peer/rules/removed peer: only those', () => {
    const ports = new FakePorts();
    const a = new NetmapApplier(ports, () => LAN);
    const nm = syntheticNetmap(3);
    a.apply(nm);
    ports.log = [];
    a.apply(clone(nm));
    expect(ports.log).toEqual([]);
    const nm2 = clone(nm);
    nm2.peers[0].endpoints = ['198.51.100.2:5555'];
    nm2.peers.splice(2, 1);
    nm2.packetFilter = [{ SrcIPs: ['100.64.0.2'], DstPorts: [{ IP: '100.64.0.1', Ports: { First: 22, Last: 22 } }] }];
    a.apply(nm2);
    expect(ports.log).toEqual(['filter 1 100.64.0.1/32,fd7a:115c:a1e0::1/128', 'remove 04', 'upsert 02 198.51.100.2:5555 100.64.0.2/32,fd7a:115c:a1e0::2/128']);
  });

  it('ignores peers with malformed keys or prefixes, and itself', () => {
    const ports = new FakePorts();
    const a = new NetmapApplier(ports, () => LAN);
    const nm = syntheticNetmap(3);
    nm.peers[0].nodeKey = 'nodekey:zz';
    nm.peers[1].allowedIPs = ['100.64.0.3/32', 'not-a-prefix'];
    nm.peers.push({ ...nm.self });
    a.apply(nm);
    expect(ports.log.filter((l) => l.startsWith('upsert'))).toEqual(['upsert 03 192.0.2.4:41641 100.64.0.3/32', 'upsert 04 192.0.2.5:41641 100.64.0.4/32,fd7a:115c:a1e0::4/128']);
  });

  it('clear removes every peer and empties the filter', () => {
    const ports = new FakePorts();
    const a = new NetmapApplier(ports, () => LAN);
    a.apply(syntheticNetmap(2));
    ports.log = [];
    a.clear();
    expect(ports.log).toEqual(['remove 02', 'remove 03', 'filter 0 100.64.0.1/32,fd7a:115c:a1e0::1/128']);
    ports.log = [];
    a.apply(syntheticNetmap(2));
    expect(ports.log.filter((l) => l.startsWith('upsert'))).toHaveLength(2);
  });
});
