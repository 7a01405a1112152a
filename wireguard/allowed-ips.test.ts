// Cryptokey routing table: longest-prefix match v4/v6, moving prefixes between peers, removal, listing,
// packet-header lookups, and a seeded differential test against a naive linear scan.
import { describe, expect, it } from 'vitest';
import { parseIP, prefixContains, type IPPrefix } from '../types/ip.js';
import { GrantwireError } from '../types/errors.js';
import { AllowedIPs } from './allowed-ips.js';
import { seededRng } from '../types/seeded-rng.js';
import { buildFillerPacket } from '../packet/build.js';

const P = AllowedIPs.parse;
const look = (t: AllowedIPs<string>, ip: string): string | null => {
  const a = parseIP(ip)!;
  return t.lookup(a.family, a.bytes, 0);
};

describe('AllowedIPs', () => {
  const t = new AllowedIPs<string>();
  t.insert(P('10.0.0.0/8'), 'a');
  t.insert(P('10.1.0.0/16'), 'b');
  t.insert(P('10.1.2.3/32'), 'c');
  t.insert(P('0.0.0.0/0'), 'default');
  t.insert(P('fd00::/8'), 'a');
  t.insert(P('fd00:1::/32'), 'b');
  t.insert(P('2001:db8::1'), 'c');

  it.each([
    ['10.9.9.9', 'a'],
    ['10.1.9.9', 'b'],
    ['10.1.2.3', 'c'],
    ['10.1.2.4', 'b'],
    ['192.0.2.1', 'default'],
    ['fd12::1', 'a'],
    ['fd00:1:2::3', 'b'],
    ['2001:db8::1', 'c'],
    ['2001:db8::2', null],
  ])('%s → %s', (ip, want) => {
    expect(look(t, ip)).toBe(want);
  });

  it('parses bare addresses as host routes and masks host bits; rejects junk', () => {
    expect(P('192.0.2.77/24')).toMatchObject({ family: 4, bits: 24, bytes: Uint8Array.of(192, 0, 2, 0) });
    expect(P('2001:db8::1').bits).toBe(128);
    expect(() => P('10.0.0.0/33')).toThrow(GrantwireError);
    expect(() => P('nope')).toThrow(/invalid allowed IP/);
  });

  it('moves a prefix to the peer that inserts it last; remove only removes the owner\'s', () => {
    const m = new AllowedIPs<string>();
    m.insert(P('10.0.0.0/24'), 'x');
    m.insert(P('10.0.0.0/24'), 'y');
    expect(look(m, '10.0.0.5')).toBe('y');
    expect(m.formattedPrefixesOf('x')).toEqual([]);
    expect(m.remove(P('10.0.0.0/24'), 'x')).toBe(false);
    expect(look(m, '10.0.0.5')).toBe('y');
    expect(m.remove(P('10.0.0.0/24'), 'y')).toBe(true);
    expect(look(m, '10.0.0.5')).toBeNull();
  });

  it('lists and removes all prefixes of a value', () => {
    const m = new AllowedIPs<string>();
    for (const p of ['10.0.0.0/24', '10.0.1.1/32', 'fd00::/64', '0.0.0.0/0']) m.insert(P(p), 'x');
    m.insert(P('10.0.2.0/24'), 'y');
    expect(m.formattedPrefixesOf('x')).toEqual(['0.0.0.0/0', '10.0.0.0/24', '10.0.1.1/32', 'fd00::/64']);
    m.removeValue('x');
    expect(m.formattedPrefixesOf('x')).toEqual([]);
    expect(look(m, '10.0.2.9')).toBe('y');
    expect(look(m, '10.0.0.1')).toBeNull();
  });

  it('looks up packet destinations and sources from the IP header; non-IP is null', () => {
    expect(t.lookupDestination(buildFillerPacket('192.0.2.1', '10.1.2.3'), 0, 28)).toBe('c');
    expect(t.lookupSource(buildFillerPacket('10.1.2.3', '192.0.2.1'), 0, 28)).toBe('c');
    expect(t.lookupDestination(buildFillerPacket('2001:db8::1', 'fd00:1::5'), 0, 48)).toBe('b');
    expect(t.lookupSource(buildFillerPacket('2001:db8::1', 'fd00:1::5'), 0, 48)).toBe('c');
    expect(t.lookupDestination(Uint8Array.of(0x45, 0), 0, 2)).toBeNull();
    expect(t.lookupDestination(new Uint8Array(40), 0, 40)).toBeNull();
  });

  it('agrees with a naive longest-prefix scan (seeded)', () => {
    const r = seededRng(4242);
    const rnd = (n: number): number => Math.floor(r() * n);
    for (const family of [4, 6] as const) {
      const len = family === 4 ? 4 : 16;
      const table = new AllowedIPs<number>();
      const naive = new Map<string, { p: IPPrefix; v: number }>();
      // Addresses cluster in a few /8s so that prefixes overlap a lot.
      const addr = (): Uint8Array => {
        const b = Uint8Array.from({ length: len }, () => rnd(256));
        b[0] = [10, 100, 192][rnd(3)];
        b[1] = rnd(4);
        return b;
      };
      for (let i = 0; i < 400; i++) {
        const bits = rnd(len * 8 + 1);
        const p = P(`${family === 4 ? [...addr()].join('.') : fmt6(addr())}/${bits}`);
        const v = rnd(20);
        table.insert(p, v);
        naive.set(`${[...p.bytes]}/${p.bits}`, { p, v });
        if (rnd(10) === 0) {
          const victims = [...naive.values()];
          const victim = victims[rnd(victims.length)];
          table.remove(victim.p);
          naive.delete(`${[...victim.p.bytes]}/${victim.p.bits}`);
        }
      }
      const bad: string[] = [];
      for (let i = 0; i < 3000; i++) {
        const a = addr();
        let best: { p: IPPrefix; v: number } | null = null;
        for (const e of naive.values()) if (prefixContains(e.p, a) && (!best || e.p.bits > best.p.bits)) best = e;
        if (table.lookup(family, a, 0) !== (best ? best.v : null)) bad.push([...a].join(','));
      }
      expect(bad).toEqual([]);
    }
  });
});

function fmt6(b: Uint8Array): string {
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((b[i] << 8) | b[i + 1]).toString(16));
  return w.join(':');
}
