import { describe, expect, it } from 'vitest';
import { FakeBackend, syntheticNetmap } from '../localapi/fake-backend.js';
import type { WhoIsResponse } from '../localapi/types.js';
import { formatStatus, formatWhois } from './format.js';

describe('formatStatus', () => {
  it('one aligned row per node: IP, hostname, owner, OS, state', () => {
    const b = new FakeBackend(syntheticNetmap(3));
    const st = b.status({ peers: true });
    const p2 = st.Peer![b.netmap!.peers[0].nodeKey];
    p2.Active = true;
    p2.CurAddr = '192.0.2.3:41641';
    st.Peer![b.netmap!.peers[2].nodeKey].Online = false;
    expect(formatStatus(st)).toBe(
      [
        '100.64.0.1  node-1  alice@          linux  -',
        '100.64.0.2  node-2  alice@          linux  active; direct 192.0.2.3:41641',
        '100.64.0.3  node-3  tagged-devices  linux  idle',
        '100.64.0.4  node-4  alice@          linux  offline',
        '',
      ].join('\n'),
    );
  });
  it('shields up adds a line after the table', () => {
    const b = new FakeBackend(syntheticNetmap(1));
    const st = { ...b.status({ peers: true }), ShieldsUp: true };
    expect(formatStatus(st)).toBe(
      ['100.64.0.1  node-1  alice@  linux  -', '100.64.0.2  node-2  alice@  linux  idle', '# Shields up: this node accepts no new incoming connections.', ''].join('\n'),
    );
  });
  it('says what to do when not running', () => {
    const b = new FakeBackend(null);
    b.state = 'NeedsLogin';
    expect(formatStatus(b.status({ peers: true }))).toMatch(/^Logged out/);
  });
});

describe('formatWhois', () => {
  const base: WhoIsResponse = {
    Node: { ID: 3, StableID: 'n3', Name: 'prod.example.grantwire.', User: 2147483647, Key: 'nodekey:00', Addresses: ['100.64.0.3/32', 'fd7a:115c:a1e0::3/128'], Tags: ['tag:prod-server'], Hostinfo: { Hostname: 'prod', OS: 'linux' }, Online: true, ComputedName: 'prod' },
    UserProfile: { ID: 2147483647, LoginName: 'tagged-devices', DisplayName: 'Tagged Devices' },
    CapMap: { 'example.com/cap/tailsql': [{ dataSrc: ['*'] }] },
  };
  it('tagged node: Machine, Tags, Capabilities', () => {
    expect(formatWhois(base)).toBe(
      'Machine:\n  Name:          prod.example.grantwire.\n  ID:            3\n  Addresses:     [100.64.0.3/32 fd7a:115c:a1e0::3/128]\n' +
        'Tags:\n  tag:prod-server\nCapabilities:\n  - example.com/cap/tailsql:\n    {"dataSrc":["*"]}\n',
    );
  });
  it('user node without capabilities: Machine, User', () => {
    const w: WhoIsResponse = { ...base, Node: { ...base.Node, Tags: [] }, UserProfile: { ID: 7, LoginName: 'alice@example.com', DisplayName: 'Alice' }, CapMap: null };
    expect(formatWhois(w)).toBe(
      'Machine:\n  Name:          prod.example.grantwire.\n  ID:            3\n  Addresses:     [100.64.0.3/32 fd7a:115c:a1e0::3/128]\nUser:\n  Name:     alice@example.com\n  ID:       7\n',
    );
  });
});
