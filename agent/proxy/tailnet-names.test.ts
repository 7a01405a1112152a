// Tailnet name resolution for the proxies and embedded nodes, from a status snapshot.
import { describe, expect, it } from 'vitest';
import type { PeerStatus, StatusResponse } from '../../localapi/types.js';
import { resolveTailnetName } from './tailnet-names.js';
import { parseListenAddr } from './listen-addr.js';

function node(host: string, dns: string, ips: string[], allowed: string[] = ips.map((a) => (a.includes(':') ? `${a}/128` : `${a}/32`))): PeerStatus {
  return { ID: host, PublicKey: '', HostName: host, DNSName: dns, OS: 'linux', UserID: 1, TailscaleIPs: ips, AllowedIPs: allowed, Addrs: [], CurAddr: '', Relay: '', RxBytes: 0, TxBytes: 0, LastHandshake: '', Online: true, Active: false };
}

const st = {
  Self: node('me', 'me.example.grantwire.', ['100.64.0.1', 'fd7a:115c:a1e0::1']),
  Peer: {
    a: node('prod', 'prod.example.grantwire.', ['100.64.0.2', 'fd7a:115c:a1e0::2']),
    b: node('v6only', 'v6only.example.grantwire.', ['fd7a:115c:a1e0::9']),
    c: node('router', 'router.example.grantwire.', ['100.64.0.7'], ['100.64.0.7/32', '10.1.0.0/16']),
  },
} as unknown as StatusResponse;

describe('resolveTailnetName', () => {
  it.each([
    { name: 'prod', want: '100.64.0.2' },
    { name: 'PROD', want: '100.64.0.2' },
    { name: 'prod.example.grantwire.', want: '100.64.0.2' },
    { name: 'prod.example.grantwire', want: '100.64.0.2' },
    { name: 'v6only', want: 'fd7a:115c:a1e0::9' },
    { name: 'me', want: '100.64.0.1' },
    { name: '100.64.0.2', want: '100.64.0.2' },
    { name: '100.100.1.1', want: '100.100.1.1' },
    { name: '[fd7a:115c:a1e0::2]', want: 'fd7a:115c:a1e0::2' },
    { name: '10.1.2.3', want: '10.1.2.3' },
    { name: '8.8.8.8', want: null },
    { name: 'example.com', want: null },
    { name: '', want: null },
  ])('$name → $want', ({ name, want }) => {
    expect(resolveTailnetName(name, st)).toBe(want);
  });
});

describe('parseListenAddr', () => {
  it.each([
    { text: 'localhost:1080', want: { host: 'localhost', port: 1080 } },
    { text: ':8080', want: { host: '127.0.0.1', port: 8080 } },
    { text: '[::1]:0', want: { host: '::1', port: 0 } },
    { text: '0.0.0.0:1080', want: { host: '0.0.0.0', port: 1080 } },
  ])('$text', ({ text, want }) => {
    expect(parseListenAddr('x', text)).toEqual(want);
  });
  it.each(['1080', 'localhost:', 'localhost:99999', 'example.com:80'])('%s is refused', (text) => {
    expect(() => parseListenAddr('x', text)).toThrow(/--x/);
  });
});
