import { describe, expect, it } from 'vitest';
import { formatErrno, formatGet, parseSet, UAPI_EINVAL } from './uapi-protocol.js';

const H1 = '01'.repeat(32);
const H2 = '02'.repeat(32);
const H3 = 'ab'.repeat(32);

describe('parseSet', () => {
  it('parses a full request in the shape `wg set` sends', () => {
    const r = parseSet([
      `private_key=${H1}`,
      'listen_port=51820',
      'fwmark=0',
      'replace_peers=true',
      `public_key=${H2}`,
      `preshared_key=${H3}`,
      'endpoint=192.0.2.2:51821',
      'persistent_keepalive_interval=25',
      'replace_allowed_ips=true',
      'allowed_ip=198.51.100.2/32',
      'allowed_ip=10.1.2.3/8',
      'allowed_ip=-fd00::/64',
      'protocol_version=1',
      `public_key=${H3}`,
      'remove=true',
      `public_key=${H1.toUpperCase()}`,
      'update_only=true',
      'endpoint=[2001:db8::1]:443',
    ]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const q = r.request;
    expect(Buffer.from(q.privateKey!).toString('hex')).toBe(H1);
    expect(q.listenPort).toBe(51820);
    expect(q.fwmark).toBe(0);
    expect(q.replacePeers).toBe(true);
    expect(q.peers).toHaveLength(3);
    expect(q.peers[0]).toMatchObject({
      remove: false,
      updateOnly: false,
      endpoint: '192.0.2.2:51821',
      persistentKeepaliveSec: 25,
      replaceAllowedIPs: true,
      allowedIPs: ['198.51.100.2/32', '10.0.0.0/8'],
      removeAllowedIPs: ['fd00::/64'],
    });
    expect(Buffer.from(q.peers[0].presharedKey!).toString('hex')).toBe(H3);
    expect(q.peers[1].remove).toBe(true);
    expect(q.peers[2]).toMatchObject({ updateOnly: true, endpoint: '[2001:db8::1]:443' });
  });

  it('accepts an empty body', () => {
    expect(parseSet([])).toEqual({ ok: true, request: { replacePeers: false, peers: [] } });
  });

  it.each([
    { name: 'short key', lines: ['private_key=abcd'] },
    { name: 'base64 key', lines: ['private_key=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE='] },
    { name: 'port too big', lines: ['listen_port=65536'] },
    { name: 'port not a number', lines: ['listen_port=x'] },
    { name: 'unknown device key', lines: ['foo=1'] },
    { name: 'peer key before public_key', lines: ['endpoint=1.2.3.4:5'] },
    { name: 'replace_peers=false', lines: ['replace_peers=false'] },
    { name: 'no equals', lines: ['private_key'] },
    { name: 'bad endpoint', lines: [`public_key=${H2}`, 'endpoint=1.2.3.4'] },
    { name: 'hostname endpoint', lines: [`public_key=${H2}`, 'endpoint=example.com:1'] },
    { name: 'bad allowed ip', lines: [`public_key=${H2}`, 'allowed_ip=10.0.0.0/33'] },
    { name: 'bad keepalive', lines: [`public_key=${H2}`, 'persistent_keepalive_interval=70000'] },
    { name: 'protocol 2', lines: [`public_key=${H2}`, 'protocol_version=2'] },
    { name: 'unknown peer key', lines: [`public_key=${H2}`, 'wat=1'] },
  ])('rejects $name with errno -22', ({ lines }) => {
    const r = parseSet(lines);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errno).toBe(UAPI_EINVAL);
  });

  it('fuzz: random lines never throw', () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const keys = ['private_key', 'listen_port', 'public_key', 'endpoint', 'allowed_ip', 'remove', 'x', ''];
    const vals = [H1, '1', 'true', '192.0.2.1:1', '10.0.0.0/8', '-::/0', '[::1]:1', '', '=', '\u0000'];
    for (let i = 0; i < (process.env.GRANTWIRE_LONG ? 100_000 : 5_000); i++) {
      const lines: string[] = [];
      for (let j = rnd(8); j > 0; j--) lines.push(`${keys[rnd(keys.length)]}=${vals[rnd(vals.length)]}`.slice(0, 1 + rnd(80)));
      const r = parseSet(lines);
      expect(typeof r.ok).toBe('boolean');
    }
  });
});

describe('formatGet', () => {
  it('formats device and peers like wireguard-go', () => {
    const text = formatGet({
      privateKey: new Uint8Array(32).fill(1),
      listenPort: 51820,
      peers: [
        {
          publicKey: new Uint8Array(32).fill(2),
          endpoint: '192.0.2.2:51821',
          lastHandshakeUnixMs: 1_700_000_000_123,
          txBytes: 10,
          rxBytes: 20,
          persistentKeepaliveSec: 25,
          allowedIPs: ['198.51.100.2/32', 'fd00::/64'],
        },
        { publicKey: new Uint8Array(32).fill(3), presharedKey: new Uint8Array(32).fill(0xab), lastHandshakeUnixMs: 0, txBytes: 0, rxBytes: 0, persistentKeepaliveSec: 0, allowedIPs: [] },
      ],
    });
    expect(text).toBe(
      [
        `private_key=${H1}`,
        'listen_port=51820',
        `public_key=${H2}`,
        `preshared_key=${'00'.repeat(32)}`,
        'protocol_version=1',
        'endpoint=192.0.2.2:51821',
        'last_handshake_time_sec=1700000000',
        'last_handshake_time_nsec=123000000',
        'tx_bytes=10',
        'rx_bytes=20',
        'persistent_keepalive_interval=25',
        'allowed_ip=198.51.100.2/32',
        'allowed_ip=fd00::/64',
        `public_key=${'03'.repeat(32)}`,
        `preshared_key=${H3}`,
        'protocol_version=1',
        'last_handshake_time_sec=0',
        'last_handshake_time_nsec=0',
        'tx_bytes=0',
        'rx_bytes=0',
        'persistent_keepalive_interval=0',
        'errno=0',
        '',
        '',
      ].join('\n'),
    );
  });

  it('omits an unset private key and port', () => {
    expect(formatGet({ listenPort: 0, peers: [] })).toBe('errno=0\n\n');
    expect(formatErrno(-22)).toBe('errno=-22\n\n');
  });
});
