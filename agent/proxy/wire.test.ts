// The proxies' pure parsers: SOCKS5 greeting/request/UDP header (RFC 1928) and the HTTP proxy's targets,
// as tables, then fuzzed with seeded random and truncated input (bounded by count): never a throw, and a
// parse that succeeds re-encodes to what it read.
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../types/seeded-rng.js';
import { endToEndHeaders, parseAbsoluteTarget, parseConnectTarget } from './http-proxy-wire.js';
import {
  buildReply,
  buildUdpHeader,
  encodeAddress,
  parseGreeting,
  parseRequest,
  parseUdpHeader,
  REP_ADDRESS_TYPE_NOT_SUPPORTED,
  REP_COMMAND_NOT_SUPPORTED,
  REP_GENERAL_FAILURE,
} from './socks5-wire.js';

const b = (...x: number[]) => Uint8Array.from(x);
const req = (cmd: number, host: string, port: number) => Uint8Array.from([5, cmd, 0, ...encodeAddress(host, port)]);

describe('SOCKS5 greeting', () => {
  it.each([
    { name: 'no-auth offered', buf: b(5, 1, 0), want: { kind: 'ok', value: [0], used: 3 } },
    { name: 'two methods', buf: b(5, 2, 2, 0, 9), want: { kind: 'ok', value: [2, 0], used: 4 } },
    { name: 'short: one byte', buf: b(5), want: { kind: 'short' } },
    { name: 'short: methods missing', buf: b(5, 3, 0), want: { kind: 'short' } },
    { name: 'SOCKS4', buf: b(4, 1, 0), want: { kind: 'bad', reply: REP_GENERAL_FAILURE } },
    { name: 'zero methods', buf: b(5, 0), want: { kind: 'bad', reply: REP_GENERAL_FAILURE } },
  ])('$name', ({ buf, want }) => {
    expect(parseGreeting(buf)).toMatchObject(want);
  });
});

describe('SOCKS5 request', () => {
  it.each([
    { name: 'CONNECT IPv4', buf: req(1, '100.64.0.2', 22), want: { kind: 'ok', value: { command: 1, type: 'ipv4', host: '100.64.0.2', port: 22 }, used: 10 } },
    { name: 'CONNECT IPv6', buf: req(1, 'fd7a:115c:a1e0::2', 443), want: { kind: 'ok', value: { type: 'ipv6', host: 'fd7a:115c:a1e0::2', port: 443 }, used: 22 } },
    { name: 'CONNECT domain', buf: req(1, 'prod', 5432), want: { kind: 'ok', value: { type: 'domain', host: 'prod', port: 5432 }, used: 4 + 1 + 4 + 2 } },
    { name: 'UDP ASSOCIATE', buf: req(3, '0.0.0.0', 0), want: { kind: 'ok', value: { command: 3, host: '0.0.0.0', port: 0 } } },
    { name: 'BIND is not supported', buf: req(2, '1.2.3.4', 1), want: { kind: 'bad', reply: REP_COMMAND_NOT_SUPPORTED } },
    { name: 'unknown command', buf: req(9, '1.2.3.4', 1), want: { kind: 'bad', reply: REP_COMMAND_NOT_SUPPORTED } },
    { name: 'address type 2', buf: b(5, 1, 0, 2, 1, 2, 3, 4, 0, 1), want: { kind: 'bad', reply: REP_ADDRESS_TYPE_NOT_SUPPORTED } },
    { name: 'empty domain', buf: b(5, 1, 0, 3, 0, 0, 80), want: { kind: 'bad', reply: REP_GENERAL_FAILURE } },
    { name: 'domain with a control byte', buf: b(5, 1, 0, 3, 2, 0x61, 0x0a, 0, 80), want: { kind: 'bad', reply: REP_GENERAL_FAILURE } },
    { name: 'short: IPv6 cut', buf: req(1, '::1', 80).subarray(0, 12), want: { kind: 'short' } },
    { name: 'short: port missing', buf: req(1, '1.2.3.4', 80).subarray(0, 9), want: { kind: 'short' } },
    { name: 'version 4', buf: b(4, 1, 0, 1, 1, 2, 3, 4, 0, 80), want: { kind: 'bad', reply: REP_GENERAL_FAILURE } },
  ])('$name', ({ buf, want }) => {
    expect(parseRequest(buf)).toMatchObject(want);
  });

  it('a reply carries the bound address', () => {
    expect(Array.from(buildReply(0, '127.0.0.1', 1080))).toEqual([5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38]);
    expect(Array.from(buildReply(5))).toEqual([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
  });
});

describe('SOCKS5 UDP header', () => {
  it.each([
    { name: 'IPv4', host: '100.64.0.3', port: 53 },
    { name: 'IPv6', host: 'fd7a:115c:a1e0::3', port: 53 },
    { name: 'domain', host: 'dns.example', port: 5353 },
  ])('$name round-trips', ({ host, port }) => {
    const h = buildUdpHeader(host, port);
    const pkt = Uint8Array.from([...h, 1, 2, 3]);
    expect(parseUdpHeader(pkt)).toEqual({ type: expect.any(String), host, port, dataOffset: h.length });
  });
  it.each([
    { name: 'fragment', buf: b(0, 0, 1, 1, 1, 2, 3, 4, 0, 53) },
    { name: 'reserved bytes set', buf: b(1, 0, 0, 1, 1, 2, 3, 4, 0, 53) },
    { name: 'truncated', buf: b(0, 0, 0, 1, 1, 2) },
    { name: 'bad type', buf: b(0, 0, 0, 7, 1, 2, 3, 4, 0, 53) },
  ])('$name → null', ({ buf }) => {
    expect(parseUdpHeader(buf)).toBeNull();
  });
});

describe('HTTP proxy targets', () => {
  it.each([
    { t: 'prod:5432', want: { host: 'prod', port: 5432 } },
    { t: 'Prod.Example.Grantwire.:443', want: { host: 'prod.example.grantwire.', port: 443 } },
    { t: '100.64.0.2:22', want: { host: '100.64.0.2', port: 22 } },
    { t: '[fd7a:115c:a1e0::2]:443', want: { host: 'fd7a:115c:a1e0::2', port: 443 } },
    { t: 'prod', want: null },
    { t: 'prod:0', want: null },
    { t: 'prod:65536', want: null },
    { t: ':80', want: null },
    { t: '[1.2.3.4]:80', want: null },
    { t: 'fd7a::2:443', want: null },
    { t: 'a b:80', want: null },
    { t: 'http://x:80', want: null },
  ])('CONNECT $t', ({ t, want }) => {
    expect(parseConnectTarget(t)).toEqual(want);
  });

  it.each([
    { t: 'http://prod:8080/x?y=1', want: { host: 'prod', port: 8080, path: '/x?y=1', hostHeader: 'prod:8080' } },
    { t: 'http://web', want: { host: 'web', port: 80, path: '/', hostHeader: 'web' } },
    { t: 'HTTP://web?q', want: { host: 'web', port: 80, path: '/?q', hostHeader: 'web' } },
    { t: 'http://[fd7a:115c:a1e0::2]/', want: { host: 'fd7a:115c:a1e0::2', port: 80, path: '/', hostHeader: '[fd7a:115c:a1e0::2]' } },
    { t: '/just/a/path', want: null },
    { t: 'https://web/', want: null },
    { t: 'http://user@web/', want: null },
    { t: 'http:///x', want: null },
    { t: 'http://web:abc/', want: null },
  ])('forward $t', ({ t, want }) => {
    expect(parseAbsoluteTarget(t)).toEqual(want);
  });

  it('hop-by-hop fields and those Connection names are not forwarded', () => {
    const raw = ['Host', 'x', 'Connection', 'keep-alive, X-Private', 'X-Private', '1', 'Proxy-Connection', 'keep-alive', 'Accept', '*/*', 'TE', 'trailers'];
    expect(endToEndHeaders(raw)).toEqual([
      ['Host', 'x'],
      ['Accept', '*/*'],
    ]);
  });
});

describe('fuzz (bounded: 20k inputs each)', () => {
  const rng = seededRng(0x50c5);
  const randBytes = (n: number) => Uint8Array.from({ length: n }, () => (rng() * 256) | 0);

  it('SOCKS5 parsers never throw; an ok request re-encodes to the bytes it used', () => {
    const seeds = [req(1, '100.64.0.2', 22), req(1, 'fd7a::1', 1), req(3, 'peer.example.', 53), b(5, 2, 0, 1)];
    for (let i = 0; i < 20_000; i++) {
      let buf: Uint8Array;
      if (i % 3 === 0) buf = randBytes((rng() * 40) | 0);
      else {
        buf = Uint8Array.from(seeds[i % seeds.length]);
        for (let k = 0; k < 1 + ((rng() * 3) | 0); k++) buf[(rng() * buf.length) | 0] = (rng() * 256) | 0;
        buf = buf.subarray(0, (rng() * (buf.length + 1)) | 0);
      }
      const g = parseGreeting(buf);
      if (g.kind === 'ok') expect(g.used).toBeLessThanOrEqual(buf.length);
      const r = parseRequest(buf);
      if (r.kind === 'ok' && r.value.type !== 'domain') {
        const used = Array.from(buf.subarray(0, r.used));
        used[2] = 0; // RSV is ignored on input
        expect(Array.from(req(r.value.command, r.value.host, r.value.port))).toEqual(used);
      }
      const u = parseUdpHeader(buf);
      if (u) expect(u.dataOffset).toBeLessThanOrEqual(buf.length);
    }
  });

  it('HTTP target parsers never throw; an ok target has a valid port and no whitespace', () => {
    const alphabet = 'abcXYZ019:.[]/?#@ -_%\t\x00http://';
    for (let i = 0; i < 20_000; i++) {
      const n = (rng() * 30) | 0;
      let s = i % 2 === 0 ? 'http://' : '';
      for (let k = 0; k < n; k++) s += alphabet[(rng() * alphabet.length) | 0];
      for (const t of [parseConnectTarget(s), parseAbsoluteTarget(s)]) {
        if (!t) continue;
        expect(t.port).toBeGreaterThanOrEqual(1);
        expect(t.port).toBeLessThanOrEqual(65535);
        expect(t.host).not.toMatch(/\s/);
      }
    }
  });
});
