import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../types/seeded-rng.js';
import { readSessionCookie, sameOrigin, sessionCookie } from './http-security.js';
import { ConsoleSessions, csrfMatches, SESSION_IDLE_MS, SESSION_MAX_MS } from './sessions.js';

const req = (headers: Record<string, string | undefined>) => ({ headers }) as unknown as IncomingMessage;

describe('session cookie', () => {
  it.each([
    { tls: false, want: 'gw_console=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60' },
    { tls: true, want: '__Host-gw_console=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure' },
  ])('tls=$tls → $want', ({ tls, want }) => {
    expect(sessionCookie(tls, 'v', 60)).toBe(want);
  });

  it.each([
    { name: 'alone', cookie: 'gw_console=abc', tls: false, want: 'abc' },
    { name: 'among others', cookie: 'a=1; gw_console=abc; b=2', tls: false, want: 'abc' },
    { name: 'the TLS name over plain HTTP', cookie: '__Host-gw_console=abc', tls: false, want: undefined },
    { name: 'the plain name under TLS', cookie: 'gw_console=abc', tls: true, want: undefined },
    { name: 'the TLS name under TLS', cookie: '__Host-gw_console=abc', tls: true, want: 'abc' },
    { name: 'a name that only ends like it', cookie: 'xgw_console=abc', tls: false, want: undefined },
    { name: 'none', cookie: '', tls: false, want: undefined },
  ])('reads $name', ({ cookie, tls, want }) => {
    expect(readSessionCookie(req({ cookie }), tls)).toBe(want);
  });

  it('fuzz: any Cookie header is read without throwing', () => {
    const next = seededRng(7);
    const chars = 'gw_console=;, \t"\u0000\u00ff__Host-abc';
    for (let i = 0; i < 5000; i++) {
      const cookie = Array.from({ length: Math.floor(next() * 60) }, () => chars[Math.floor(next() * chars.length)]).join('');
      const v = readSessionCookie(req({ cookie }), next() < 0.5);
      expect(v === undefined || typeof v === 'string').toBe(true);
    }
  });
});

describe('same-origin check', () => {
  it.each([
    { name: 'no Origin, no Referer', h: { host: 'c:1' }, tls: false, want: true },
    { name: 'own origin', h: { host: 'c:1', origin: 'http://c:1' }, tls: false, want: true },
    { name: 'own origin over TLS', h: { host: 'c:1', origin: 'https://c:1' }, tls: true, want: true },
    { name: 'http origin on a TLS listener', h: { host: 'c:1', origin: 'http://c:1' }, tls: true, want: false },
    { name: 'another site', h: { host: 'c:1', origin: 'https://evil.example' }, tls: false, want: false },
    { name: 'Origin null (sandboxed frame)', h: { host: 'c:1', origin: 'null' }, tls: false, want: false },
    { name: 'Referer from our page', h: { host: 'c:1', referer: 'http://c:1/admin/' }, tls: false, want: true },
    { name: 'Referer from elsewhere', h: { host: 'c:1', referer: 'http://evil.example/x' }, tls: false, want: false },
    { name: 'garbage Referer', h: { host: 'c:1', referer: '::::' }, tls: false, want: false },
    { name: 'an Origin but no Host', h: { origin: 'http://c:1' }, tls: false, want: false },
  ])('$name → $want', ({ h, tls, want }) => {
    expect(sameOrigin(req(h), tls)).toBe(want);
  });
});

describe('console sessions', () => {
  it('a session lives while used, ends after SESSION_IDLE_MS idle or SESSION_MAX_MS in all', () => {
    let now = 0;
    const s = new ConsoleSessions(() => now);
    const a = s.create(1);
    expect(s.get(a.cookie)?.userId).toBe(1);
    now += SESSION_IDLE_MS - 1;
    expect(s.get(a.cookie)).not.toBeNull();
    now += SESSION_IDLE_MS + 1;
    expect(s.get(a.cookie)).toBeNull();
    const b = s.create(2);
    for (let t = 0; t < SESSION_MAX_MS; t += SESSION_IDLE_MS / 2) {
      now += SESSION_IDLE_MS / 2;
      if (t + SESSION_IDLE_MS / 2 < SESSION_MAX_MS) expect(s.get(b.cookie), `at ${t}`).not.toBeNull();
    }
    now += 1;
    expect(s.get(b.cookie)).toBeNull();
  });

  it('CSRF tokens are per session; destroy and destroyUser end sessions', () => {
    const s = new ConsoleSessions();
    const a = s.create(1);
    const b = s.create(1);
    const c = s.create(2);
    expect(csrfMatches(a.session, a.session.csrf)).toBe(true);
    for (const bad of [b.session.csrf, '', undefined, 42, a.session.csrf + 'x', 'x'.repeat(500)]) expect(csrfMatches(a.session, bad)).toBe(false);
    s.destroy(a.cookie);
    expect(s.get(a.cookie)).toBeNull();
    s.destroyUser(1);
    expect(s.get(b.cookie)).toBeNull();
    expect(s.get(c.cookie)).not.toBeNull();
    for (const bad of [undefined, '', 'x'.repeat(200), c.cookie + 'x']) expect(s.get(bad)).toBeNull();
  });
});
