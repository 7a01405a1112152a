import { describe, expect, it } from 'vitest';
import { parseWgConfig, splitEndpoint, WgConfigError } from './config.js';
import { keyToBase64 } from '../crypto/key.js';

const K1 = keyToBase64(new Uint8Array(32).fill(1));
const K2 = keyToBase64(new Uint8Array(32).fill(2));
const K3 = keyToBase64(new Uint8Array(32).fill(3));

const GOOD = `# a comment
[Interface]
PrivateKey = ${K1}   # trailing comment
ListenPort = 51820
Address = 10.1.0.1/24, fd00::1/64
Address = 10.2.0.1
MTU = 1380
DNS = 1.1.1.1

[peer]
publickey=${K2}
PresharedKey = ${K3}
AllowedIPs = 10.1.0.2/32, 192.0.2.0/24,fd00::2/128
AllowedIPs = 10.9.9.9/8
Endpoint = 192.0.2.2:51821
PersistentKeepalive = 25

[Peer]
PublicKey = ${K3}
Endpoint = [2001:db8::1]:443
PersistentKeepalive = off
`;

describe('parseWgConfig', () => {
  it('parses a full file', () => {
    const c = parseWgConfig(GOOD, 'wg0.conf');
    expect(Buffer.from(c.interface.privateKey).toString('base64')).toBe(K1);
    expect(c.interface.listenPort).toBe(51820);
    expect(c.interface.addresses).toEqual(['10.1.0.1/24', 'fd00::1/64', '10.2.0.1/32']);
    expect(c.interface.mtu).toBe(1380);
    expect(c.peers).toHaveLength(2);
    const [p1, p2] = c.peers;
    expect(Buffer.from(p1.publicKey).toString('base64')).toBe(K2);
    expect(Buffer.from(p1.presharedKey!).toString('base64')).toBe(K3);
    expect(p1.allowedIPs).toEqual(['10.1.0.2/32', '192.0.2.0/24', 'fd00::2/128', '10.0.0.0/8']);
    expect(p1.endpoint).toBe('192.0.2.2:51821');
    expect(p1.persistentKeepalive).toBe(25);
    expect(p1.line).toBe(10);
    expect(p2.endpoint).toBe('[2001:db8::1]:443');
    expect(p2.persistentKeepalive).toBeUndefined();
    expect(p2.allowedIPs).toEqual([]);
    expect(c.warnings.map((w) => `${w.line}:${w.code}`)).toEqual(['8:WARN_WG_CONFIG_IGNORED', '14:WARN_WG_CONFIG_HOST_BITS']);
  });

  it('accepts CRLF line endings and an interface with no peers', () => {
    const c = parseWgConfig(`[Interface]\r\nPrivateKey = ${K1}\r\n`);
    expect(c.peers).toEqual([]);
    expect(c.interface.listenPort).toBeUndefined();
  });

  // Each row: the file and the diagnostics expected, as "line:col: message fragment".
  it.each([
    { name: 'no interface', text: `[Peer]\nPublicKey = ${K2}\n`, want: ['1:1: missing [Interface]'] },
    { name: 'no private key', text: `[Interface]\nListenPort = 1\n`, want: ['1:1: [Interface] has no PrivateKey'] },
    { name: 'bad private key', text: `[Interface]\nPrivateKey = abc\n`, want: ['2:14: PrivateKey: not a valid key', '1:1: [Interface] has no PrivateKey'] },
    { name: 'bad port', text: `[Interface]\nPrivateKey = ${K1}\nListenPort = 70000\n`, want: ['3:14: ListenPort: expected a port'] },
    { name: 'bad mtu', text: `[Interface]\nPrivateKey = ${K1}\nMTU = 12\n`, want: ['3:7: MTU: expected 576..65535'] },
    { name: 'bad address', text: `[Interface]\nPrivateKey = ${K1}\nAddress = 10.0.0.1/33\n`, want: ['3:11: Address: invalid address "10.0.0.1/33"'] },
    { name: 'unknown key', text: `[Interface]\nPrivateKey = ${K1}\nFoo = 1\n`, want: ['3:1: unknown key Foo in [Interface]'] },
    { name: 'unknown section', text: `[Interface]\nPrivateKey = ${K1}\n[Wat]\n`, want: ['3:1: unknown section [Wat]'] },
    { name: 'key outside section', text: `ListenPort = 1\n[Interface]\nPrivateKey = ${K1}\n`, want: ['1:1: ListenPort outside of a section'] },
    { name: 'no equals', text: `[Interface]\nPrivateKey = ${K1}\n  garbage\n`, want: ['3:3: expected "Key = Value"'] },
    { name: 'duplicate key', text: `[Interface]\nPrivateKey = ${K1}\nPrivateKey = ${K1}\n`, want: ['3:1: PrivateKey given twice'] },
    { name: 'duplicate interface', text: `[Interface]\nPrivateKey = ${K1}\n[Interface]\n`, want: ['3:1: duplicate [Interface]'] },
    { name: 'peer without key', text: `[Interface]\nPrivateKey = ${K1}\n[Peer]\nAllowedIPs = 10.0.0.0/8\n`, want: ['3:1: [Peer] has no PublicKey'] },
    { name: 'bad endpoint', text: `[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nEndpoint = 2001:db8::1:51820\n`, want: ['5:12: Endpoint: expected host:port'] },
    { name: 'bad allowed ip', text: `[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nAllowedIPs = 10.0.0.0/8, nope\n`, want: ['5:14: AllowedIPs: invalid prefix "nope"'] },
    { name: 'bad keepalive', text: `[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\nPersistentKeepalive = -1\n`, want: ['5:23: PersistentKeepalive: expected seconds'] },
    { name: 'empty value', text: `[Interface]\nPrivateKey =\n`, want: ['2:13: PrivateKey: empty value', '1:1: [Interface] has no PrivateKey'] },
    {
      name: 'duplicate peer',
      text: `[Interface]\nPrivateKey = ${K1}\n[Peer]\nPublicKey = ${K2}\n[Peer]\nPublicKey = ${K2}\n`,
      want: ['5:1: the same PublicKey is already used by the [Peer] on line 3'],
    },
  ])('$name', ({ text, want }) => {
    let err: unknown;
    try {
      parseWgConfig(text, 'x.conf');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WgConfigError);
    const got = (err as WgConfigError).diagnostics.map((d) => `${d.line}:${d.col}: ${d.message}`);
    expect(got).toHaveLength(want.length);
    for (const w of want) expect(got.some((g) => g.startsWith(w))).toBe(true);
    expect((err as WgConfigError).message).toContain('x.conf:');
  });

  it('never echoes a key into an error message', () => {
    const secret = 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0';
    try {
      parseWgConfig(`[Interface]\nPrivateKey = ${secret}\n`);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain(secret.slice(0, 10));
    }
  });

  it('fuzz: random and truncated input only ever throws WgConfigError', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = '[]=#,:./ \n\tInterfacePeerKeyAllowedIPsEndpoint0123456789abcdef+';
    const iterations = process.env.GRANTWIRE_LONG ? 50_000 : 3_000;
    for (let i = 0; i < iterations; i++) {
      let text: string;
      if (i % 2 === 0) {
        text = GOOD.slice(0, rnd(GOOD.length + 1));
        if (rnd(2)) {
          const at = rnd(text.length + 1);
          text = text.slice(0, at) + alphabet[rnd(alphabet.length)] + text.slice(at + 1);
        }
      } else {
        const n = rnd(200);
        text = '';
        for (let j = 0; j < n; j++) text += alphabet[rnd(alphabet.length)];
      }
      try {
        parseWgConfig(text);
      } catch (e) {
        if (!(e instanceof WgConfigError)) throw new Error(`non-config error for ${JSON.stringify(text)}: ${e}`);
      }
    }
  });
});

describe('splitEndpoint', () => {
  it.each([
    { in: '192.0.2.1:51820', want: { host: '192.0.2.1', port: 51820 } },
    { in: '[2001:db8::1]:1', want: { host: '2001:db8::1', port: 1 } },
    { in: 'vpn.example.com:443', want: { host: 'vpn.example.com', port: 443 } },
    { in: '192.0.2.1', want: null },
    { in: '192.0.2.1:0', want: null },
    { in: '192.0.2.1:65536', want: null },
    { in: '[192.0.2.1]:5', want: null },
    { in: '2001:db8::1:5', want: null },
    { in: 'a b:5', want: null },
  ])('$in', ({ in: text, want }) => expect(splitEndpoint(text)).toEqual(want));
});
