import { describe, expect, it } from 'vitest';
import { syntheticNetmap } from './fake-backend.js';
import { formatIP, parseAddrPort, parseIP } from '../types/ip.js';
import { parseWhoisAddr, WhoisIndex } from './whois.js';

const KEY = 'ab'.repeat(32);

describe('parseWhoisAddr', () => {
  it.each([
    { text: '100.64.0.2', want: { kind: 'ip', ip: '100.64.0.2', port: null } },
    { text: '100.64.0.2:51234', want: { kind: 'ip', ip: '100.64.0.2', port: 51234 } },
    { text: '[fd7a:115c:a1e0:0::2]:80', want: { kind: 'ip', ip: 'fd7a:115c:a1e0::2', port: 80 } },
    { text: 'FD7A:115C:A1E0::2', want: { kind: 'ip', ip: 'fd7a:115c:a1e0::2', port: null } },
    { text: `nodekey:${KEY}`, want: { kind: 'nodekey', key: `nodekey:${KEY}` } },
    { text: `nodekey:${KEY.toUpperCase()}`, want: { kind: 'nodekey', key: `nodekey:${KEY}` } },
    { text: '', want: null },
    { text: 'nodekey:abc', want: null },
    { text: '100.64.0.2:', want: null },
    { text: '100.64.0.2:70000', want: null },
    { text: 'fd7a::2:80', want: { kind: 'ip', ip: 'fd7a::2:80', port: null } },
    { text: '[100.64.0.2]:80', want: null },
    { text: '100.64.0.256', want: null },
    { text: 'localhost:80', want: null },
    { text: '1'.repeat(200), want: null },
  ])('$text', ({ text, want }) => {
    expect(parseWhoisAddr(text)).toEqual(want);
  });

  it('the IPv4 fast path agrees with the general parser (differential)', () => {
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const parts = ['0', '1', '01', '255', '256', '100', '64', '999', '00', ''];
    for (let i = 0; i < 20000; i++) {
      let t = [0, 1, 2, 3].map(() => parts[rnd(parts.length)]).join('.');
      if (rnd(2)) t += `:${[0, 80, 65535, 65536, 123456][rnd(5)]}`;
      const got = parseWhoisAddr(t);
      // Reference: the general path (bare IP, else ip:port), as the parser did before the fast path.
      const bare = parseIP(t);
      const ap = bare ? null : parseAddrPort(t);
      const want = bare ? { kind: 'ip', ip: formatIP(bare.bytes), port: null } : ap ? { kind: 'ip', ip: formatIP(ap.addr.bytes), port: ap.port } : null;
      expect(got, t).toEqual(want);
    }
  });

  it('never throws on random or truncated input (fuzz)', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const alphabet = '0123456789abcdefABCDEF:.[]/%nodekey: -';
    const samples = ['100.64.0.2:51234', '[fd7a:115c:a1e0::2]:80', `nodekey:${KEY}`];
    for (let i = 0; i < 20000; i++) {
      let s: string;
      if (i % 2 === 0) {
        const base = samples[i % samples.length];
        s = base.slice(0, Math.floor(rnd() * (base.length + 1)));
      } else {
        s = '';
        const n = Math.floor(rnd() * 50);
        for (let j = 0; j < n; j++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      }
      const r = parseWhoisAddr(s);
      if (r !== null && r.kind === 'ip') expect(typeof r.ip).toBe('string');
    }
  });
});

describe('WhoisIndex', () => {
  it('finds self and peers by every address and by node key; unknown → null', () => {
    const nm = syntheticNetmap(5);
    const idx = new WhoisIndex(nm, () => null);
    expect(idx.size).toBe(6);
    expect(idx.lookup({ kind: 'ip', ip: '100.64.0.1', port: null })?.Node.ID).toBe(1);
    expect(idx.lookup({ kind: 'ip', ip: 'fd7a:115c:a1e0::4', port: 9 })?.Node.ID).toBe(4);
    expect(idx.lookup({ kind: 'nodekey', key: nm.peers[0].nodeKey })?.Node.ID).toBe(2);
    expect(idx.lookup({ kind: 'ip', ip: '100.64.0.99', port: null })).toBeNull();
  });

  it('computes CapMap from the peer first address toward our address of the same family, once', () => {
    const nm = syntheticNetmap(3);
    const asked: string[] = [];
    const idx = new WhoisIndex(nm, (src, dst): Record<string, unknown[]> => {
      asked.push(`${src}->${dst}`);
      return src === '100.64.0.2' ? { 'example.com/cap/x': [{ a: 1 }] } : {};
    });
    expect(idx.lookup({ kind: 'ip', ip: '100.64.0.2', port: null })?.CapMap).toEqual({ 'example.com/cap/x': [{ a: 1 }] });
    expect(idx.lookup({ kind: 'ip', ip: 'fd7a:115c:a1e0::2', port: null })?.CapMap).toEqual({ 'example.com/cap/x': [{ a: 1 }] });
    expect(idx.lookup({ kind: 'ip', ip: '100.64.0.4', port: null })?.CapMap).toBeNull();
    expect(asked).toEqual(['100.64.0.2->100.64.0.1', '100.64.0.4->100.64.0.1']);
  });

  it('an empty index (no netmap yet) finds nothing', () => {
    expect(new WhoisIndex(null, () => null).lookup({ kind: 'ip', ip: '100.64.0.1', port: null })).toBeNull();
  });
});
