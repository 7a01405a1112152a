// Route validation shared by the agent's CLI, control's wire parser and its admin commands: a table of
// accepted and refused routes, then a bounded fuzz (random and truncated text never throws, and whatever
// passes is canonical and outside the tailnet ranges).
import { describe, expect, it } from 'vitest';
import { parsePrefix, prefixContains } from './ip.js';
import { checkRoute, checkRoutes, MAX_ROUTES } from './route.js';
import { seededRng } from './seeded-rng.js';

describe('checkRoute', () => {
  it.each([
    { text: '10.0.0.0/8', want: '10.0.0.0/8' },
    { text: '203.0.113.0/24', want: '203.0.113.0/24' },
    { text: '0.0.0.0/0', want: '0.0.0.0/0' },
    { text: '::/0', want: '::/0' },
    { text: '2001:DB8::/32', want: '2001:db8::/32' },
    { text: '192.0.2.7/32', want: '192.0.2.7/32' },
    { text: '100.128.0.0/9', want: '100.128.0.0/9' },
  ])('accepts $text', ({ text, want }) => {
    expect(checkRoute(text)).toEqual({ route: want });
  });

  it.each([
    { text: '10.0.0.1/8', problem: /host bits set; expected 10\.0\.0\.0\/8/ },
    { text: '10.0.0.0', problem: /not a CIDR/ },
    { text: '10.0.0.0/33', problem: /not a CIDR/ },
    { text: '', problem: /not a CIDR/ },
    { text: '100.64.0.0/10', problem: /overlaps the tailnet range 100\.64\.0\.0\/10/ },
    { text: '100.100.1.0/24', problem: /overlaps the tailnet range/ },
    { text: '96.0.0.0/4', problem: /overlaps the tailnet range/ },
    { text: 'fd7a:115c:a1e0:ab::/64', problem: /overlaps the tailnet range fd7a:115c:a1e0::\/48/ },
    { text: 'fd00::/8', problem: /overlaps the tailnet range/ },
  ])('refuses $text', ({ text, problem }) => {
    const r = checkRoute(text);
    expect('problem' in r && r.problem).toMatch(problem);
  });

  it('checkRoutes sorts (IPv4 first), deduplicates and bounds the count', () => {
    expect(checkRoutes(['::/0', '10.0.0.0/8', '0.0.0.0/0', '10.0.0.0/8'])).toEqual({ routes: ['0.0.0.0/0', '10.0.0.0/8', '::/0'], problems: [] });
    const many = Array.from({ length: MAX_ROUTES + 1 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    expect(checkRoutes(many).problems[0]).toMatch(/too many routes/);
  });

  it('fuzz: random and truncated input never throws; anything accepted is canonical and off the tailnet', () => {
    const rnd = seededRng(14);
    const alphabet = '0123456789abcdef.:/ x-';
    const seeds = ['10.0.0.0/8', '203.0.113.0/24', '2001:db8::/32', '100.64.0.0/10', 'fd7a:115c:a1e0::/48', '::/0'];
    const tailnet = [parsePrefix('100.64.0.0/10')!, parsePrefix('fd7a:115c:a1e0::/48')!];
    const deadline = Date.now() + 2000;
    for (let i = 0; i < 50_000 && Date.now() < deadline; i++) {
      let s = seeds[Math.floor(rnd() * seeds.length)];
      if (rnd() < 0.5) s = s.slice(0, Math.floor(rnd() * (s.length + 1)));
      const n = Math.floor(rnd() * 4);
      for (let k = 0; k < n; k++) {
        const at = Math.floor(rnd() * (s.length + 1));
        s = s.slice(0, at) + alphabet[Math.floor(rnd() * alphabet.length)] + s.slice(at + 1);
      }
      const r = checkRoute(s);
      if ('route' in r) {
        const p = parsePrefix(r.route)!;
        expect(checkRoute(r.route)).toEqual(r);
        if (p.bits > 0) expect(tailnet.some((t) => prefixContains(t, p.bytes) || (p.family === t.family && prefixContains(p, t.bytes)))).toBe(false);
      }
    }
  });
});
