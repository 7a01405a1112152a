// The SOCKS5 and HTTP proxies over real loopback sockets, with a Dialer that reaches loopback servers
// under tailnet-like names: CONNECT (IPv4, IPv6, names), UDP ASSOCIATE, plain HTTP forwarding, and every
// failure answered with its reply code or status.
import dgram from 'node:dgram';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DialError } from '../../types/errors.js';
import type { Dialer, ProxyUdpSocket } from './dialer.js';
import { HttpProxyServer } from './http-proxy-server.js';
import { Socks5Server } from './socks5-server.js';
import { buildUdpHeader, encodeAddress, parseUdpHeader } from './socks5-wire.js';

/** Loopback plays the tailnet: names map to 127.0.0.1 / ::1; 'forbidden' is off-tailnet; 'slow' times out. */
const NAMES: Record<string, string> = { echo: '127.0.0.1', 'echo.example.grantwire.': '127.0.0.1', web: '127.0.0.1', echo6: '::1', closed: '127.0.0.1' };

const loopDialer: Dialer = {
  resolve(name) {
    if (name === '127.0.0.1' || name === '::1') return name;
    return NAMES[name] ?? null;
  },
  dialTcp(host, port) {
    if (host === 'forbidden') return Promise.reject(new DialError('not_allowed', `${host} is not on the tailnet`));
    if (host === 'slow') return Promise.reject(new DialError('timeout', `${host}:${port}: no answer`));
    const ip = this.resolve(host);
    if (!ip) return Promise.reject(new DialError('unresolved', `no tailnet node named ${host}`));
    return new Promise((resolve, reject) => {
      const s = connect({ host: ip, port });
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
  },
  async bindUdp(): Promise<ProxyUdpSocket> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    return {
      send: (data, address, port) => s.send(data, port, address),
      onMessage: (cb) => s.on('message', (m, r) => cb(m, r.address, r.port)),
      close: () => s.close(),
    };
  },
};

function listen(s: Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((r) => s.listen(0, host, () => r((s.address() as { port: number }).port)));
}

/** Reads until `n` bytes arrived (or the socket ended). */
function readN(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const on = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= n) done();
    };
    const done = () => {
      s.off('data', on);
      s.off('end', done);
      resolve(got);
    };
    s.on('data', on);
    s.on('end', done);
  });
}

async function socksHandshake(port: number, request: Uint8Array): Promise<{ s: Socket; reply: Buffer }> {
  const s = connect({ host: '127.0.0.1', port });
  await new Promise((r) => s.once('connect', r));
  s.write(Uint8Array.of(5, 1, 0));
  expect([...(await readN(s, 2))]).toEqual([5, 0]);
  s.write(request);
  const head = await readN(s, 5);
  // The reply's length depends on its address type.
  const len = head[3] === 1 ? 10 : head[3] === 4 ? 22 : 7 + head[4];
  const reply = head.length >= len ? head : Buffer.concat([head, await readN(s, len - head.length)]);
  return { s, reply };
}

const connectReq = (host: string, port: number) => Uint8Array.from([5, 1, 0, ...encodeAddress(host, port)]);

describe('proxies over loopback', () => {
  const echo = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  const echo6 = createServer((s) => s.pipe(s));
  const web = createHttpServer((req, res) => {
    res.setHeader('x-seen-host', req.headers.host ?? '');
    res.setHeader('x-seen-proxy-connection', String(req.headers['proxy-connection'] ?? 'absent'));
    res.end(`${req.method} ${req.url}`);
  });
  const udpEcho = dgram.createSocket('udp4');
  const socks = new Socks5Server({ dialer: loopDialer });
  const http = new HttpProxyServer({ dialer: loopDialer });
  let echoPort = 0;
  let echo6Port = 0;
  let webPort = 0;
  let closedPort = 0;
  let udpPort = 0;
  let socksPort = 0;
  let httpPort = 0;

  beforeAll(async () => {
    echoPort = await listen(echo);
    echo6Port = await listen(echo6, '::1');
    webPort = await listen(web as unknown as Server);
    const tmp = createServer();
    closedPort = await listen(tmp);
    await new Promise((r) => tmp.close(r));
    udpEcho.on('message', (m, r) => udpEcho.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address));
    await new Promise<void>((r) => udpEcho.bind(0, '127.0.0.1', r));
    udpPort = udpEcho.address().port;
    socksPort = (await socks.listen(0, '127.0.0.1')).port;
    httpPort = (await http.listen(0, '127.0.0.1')).port;
  });
  afterAll(async () => {
    await socks.close();
    await http.close();
    for (const s of [echo, echo6, web]) s.close();
    udpEcho.close();
  });

  describe('SOCKS5 CONNECT', () => {
    it.each([
      { name: 'IPv4 address', host: '127.0.0.1', v6: false },
      { name: 'IPv6 address', host: '::1', v6: true },
      { name: 'tailnet name', host: 'echo', v6: false },
      { name: 'FQDN with the final dot', host: 'echo.example.grantwire.', v6: false },
      { name: 'IPv6 peer by name', host: 'echo6', v6: true },
    ])('$name: reply 0, then bytes both ways and a half-close', async ({ host, v6 }) => {
      const { s, reply } = await socksHandshake(socksPort, connectReq(host, v6 ? echo6Port : echoPort));
      expect(reply[1]).toBe(0);
      s.write('hello through socks');
      expect((await readN(s, 19)).toString()).toBe('hello through socks');
      s.destroy();
    });

    it('bytes sent right after the request (before the reply) reach the target', async () => {
      const s = connect({ host: '127.0.0.1', port: socksPort });
      await new Promise((r) => s.once('connect', r));
      s.write(Buffer.concat([Buffer.from([5, 1, 0]), Buffer.from(connectReq('echo', echoPort)), Buffer.from('early')]));
      const got = await readN(s, 2 + 10 + 5);
      expect(got.subarray(2 + 10).toString()).toBe('early');
      s.destroy();
    });

    it.each([
      { name: 'not on the tailnet → 2 (not allowed)', host: 'forbidden', port: () => 1, rep: 2 },
      { name: 'unknown name → 4 (host unreachable)', host: 'nosuchnode', port: () => 1, rep: 4 },
      { name: 'port closed → 5 (connection refused)', host: 'closed', port: () => closedPort, rep: 5 },
      { name: 'dial timed out → 6 (TTL expired)', host: 'slow', port: () => 1, rep: 6 },
    ])('$name', async ({ host, port, rep }) => {
      const { s, reply } = await socksHandshake(socksPort, connectReq(host, port()));
      expect(reply[1]).toBe(rep);
      s.destroy();
    });

    it.each([
      { name: 'BIND → 7', request: Uint8Array.from([5, 2, 0, ...encodeAddress('1.2.3.4', 1)]), rep: 7 },
      { name: 'address type 9 → 8', request: Uint8Array.of(5, 1, 0, 9, 0, 0), rep: 8 },
    ])('$name', async ({ request, rep }) => {
      const { s, reply } = await socksHandshake(socksPort, request);
      expect(reply[1]).toBe(rep);
      s.destroy();
    });

    it('a client offering only user/password gets 0xFF and is closed', async () => {
      const s = connect({ host: '127.0.0.1', port: socksPort });
      await new Promise((r) => s.once('connect', r));
      s.write(Uint8Array.of(5, 1, 2));
      expect([...(await readN(s, 2))]).toEqual([5, 0xff]);
      s.destroy();
    });
  });

  it('SOCKS5 UDP ASSOCIATE: a datagram reaches the peer and the answer comes back with its source', async () => {
    const { s, reply } = await socksHandshake(socksPort, Uint8Array.from([5, 3, 0, ...encodeAddress('0.0.0.0', 0)]));
    expect(reply[1]).toBe(0);
    const relayPort = reply.readUInt16BE(8);
    const c = dgram.createSocket('udp4');
    await new Promise<void>((r) => c.bind(0, '127.0.0.1', r));
    const got = new Promise<Buffer>((r) => c.once('message', r));
    for (const host of ['echo', '127.0.0.1']) {
      c.send(Buffer.concat([buildUdpHeader(host, udpPort), Buffer.from('ping')]), relayPort, '127.0.0.1');
    }
    const answer = await got;
    const h = parseUdpHeader(answer);
    expect(h).toMatchObject({ host: '127.0.0.1', port: udpPort });
    expect(answer.subarray(h!.dataOffset).toString()).toBe('re:ping');
    expect(socks.stats.udpRelayed).toBeGreaterThanOrEqual(1);
    c.close();
    s.destroy();
  });

  describe('HTTP proxy', () => {
    function rawRequest(text: string): Promise<string> {
      return new Promise((resolve) => {
        const s = connect({ host: '127.0.0.1', port: httpPort });
        let out = '';
        s.on('data', (d) => {
          out += d.toString();
          if (out.includes('tunnel-echo')) s.end();
        });
        s.on('end', () => resolve(out));
        s.on('close', () => resolve(out));
        s.write(text);
      });
    }

    it('CONNECT to a tailnet name: 200, then a tunnel', async () => {
      const out = await rawRequest(`CONNECT echo:${echoPort} HTTP/1.1\r\nHost: echo:${echoPort}\r\n\r\ntunnel-echo`);
      expect(out).toMatch(/^HTTP\/1\.1 200 Connection Established\r\n\r\ntunnel-echo/);
    });

    it.each([
      { name: 'not on the tailnet → 403', target: 'forbidden:443', status: 403 },
      { name: 'refused → 502', target: () => `closed:${closedPort}`, status: 502 },
      { name: 'timeout → 504', target: 'slow:443', status: 504 },
      { name: 'unknown name → 502', target: 'nosuchnode:443', status: 502 },
      { name: 'no port → 400', target: 'echo', status: 400 },
    ])('CONNECT $name', async ({ target, status }) => {
      const t = typeof target === 'function' ? target() : target;
      const out = await rawRequest(`CONNECT ${t} HTTP/1.1\r\nHost: ${t}\r\n\r\n`);
      expect(out.slice(0, 12)).toBe(`HTTP/1.1 ${status}`);
    });

    function viaProxy(target: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
      return new Promise((resolve, reject) => {
        const r = httpRequest({ host: '127.0.0.1', port: httpPort, path: target, headers, agent: false }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        });
        r.on('error', reject);
        r.end();
      });
    }

    it('plain GET in absolute-form is forwarded in origin-form; Host set, hop-by-hop fields dropped', async () => {
      const r = await viaProxy(`http://web:${webPort}/a/b?c=1`, { 'proxy-connection': 'keep-alive' });
      expect(r).toMatchObject({ status: 200, body: 'GET /a/b?c=1' });
      expect(r.headers['x-seen-host']).toBe(`web:${webPort}`);
      expect(r.headers['x-seen-proxy-connection']).toBe('absent');
    });

    it.each([
      { name: 'origin-form (not a proxy request) → 400', target: '/local', status: 400 },
      { name: 'not on the tailnet → 403', target: 'http://forbidden/', status: 403 },
      { name: 'refused → 502', target: () => `http://closed:${closedPort}/`, status: 502 },
    ])('$name', async ({ target, status }) => {
      const r = await viaProxy(typeof target === 'function' ? target() : target);
      expect(r.status).toBe(status);
    });
  });
});
