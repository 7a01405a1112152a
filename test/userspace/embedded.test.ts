// Embedded nodes end to end, in one process: a real control server on loopback and two Nodes (an app
// "sql" tagged tag:sql, a client tagged tag:client) join the tailnet over UDP on this host. Checked: the
// grant lets the client reach sql's HTTP server over TCP and its UDP port, the server's whois names the
// client with the policy's capabilities, a port no grant covers is dropped by sql's filter and explain
// says why, and the SOCKS5 and HTTP proxies (over the client's netstack Dialer) reach sql by name.
import { request as httpRequest, createServer as createHttpServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpProxyServer } from '../../agent/proxy/http-proxy-server.js';
import { Socks5Server } from '../../agent/proxy/socks5-server.js';
import { Node } from '../../node/index.js';
import { startControl, waitUntil, type Harness } from '../control/helpers.js';
import { getOver, socksConnect, USERSPACE_POLICY } from './helpers.js';

function metric(text: string, name: string, reason: string): number {
  const m = new RegExp(`^${name}\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('embedded nodes on a loopback tailnet', () => {
  let h: Harness;
  const dir = mkdtempSync(join(tmpdir(), 'gwu-embed-'));
  let sql: Node;
  let client: Node;
  const web = createHttpServer((req, res) => {
    void sql.whois(req.socket).then(
      (who) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ caller: who.Node.ComputedName, tags: who.Node.Tags, caps: who.CapMap, path: req.url }));
      },
      (err: Error) => {
        res.statusCode = 403;
        res.end(JSON.stringify({ error: err.message }));
      },
    );
  });

  beforeAll(async () => {
    h = await startControl({ policy: USERSPACE_POLICY });
    h.addUser('alice@example.com', 'admin');
    // Endpoints are the host's own interface addresses (control's netmaps carry no loopback endpoints).
    const common = { controlURL: h.url, upTimeoutMs: 20_000 };
    sql = new Node({ ...common, dir: join(dir, 'sql'), hostname: 'sql', authKey: h.key({ user: 'alice@example.com', tags: ['tag:sql'] }), tags: ['tag:sql'] });
    client = new Node({ ...common, dir: join(dir, 'client'), hostname: 'client', authKey: h.key({ user: 'alice@example.com', tags: ['tag:client'] }), tags: ['tag:client'] });
    // listen() before up(): the listener is opened once the node has its addresses.
    sql.listen('tcp', 443).on('connection', (s: Socket) => web.emit('connection', s));
    const dns = sql.listenPacket('udp', 53);
    dns.on('message', (msg: Buffer, r: { address: string; port: number }) => dns.send(Buffer.concat([Buffer.from('answer:'), msg]), r.port, r.address));
    await Promise.all([sql.up(), client.up()]);
    await waitUntil(() => client.status().Peer !== undefined && Object.values(client.status().Peer ?? {}).some((p) => p.HostName === 'sql'), 10_000, 'client sees sql');
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await sql?.close();
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('both nodes are Running with tailnet addresses', () => {
    for (const n of [sql, client]) {
      expect(n.status().BackendState).toBe('Running');
      expect(n.addresses[0]).toMatch(/^100\./);
    }
  });

  it('client → sql:443 by name: the app sees the client and its capabilities through whois', async () => {
    const s = await client.dial('tcp', 'sql:443');
    expect(s.remoteAddress).toBe(sql.addresses[0]);
    const r = await getOver(s, '/q');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ caller: 'client', tags: ['tag:client'], caps: { 'example.com/cap/tailsql': [{ dataSrc: ['warehouse'] }] }, path: '/q' });
  });

  it('client → sql by MagicDNS name and by IPv6 address', async () => {
    const v6 = sql.addresses.find((a) => a.includes(':'))!;
    for (const target of [`sql.${sql.status().Self!.DNSName.split('.').slice(1).join('.')}:443`, `[${v6}]:443`]) {
      const s = await client.dial('tcp', target);
      expect((await getOver(s, '/')).body.caller).toBe('client');
    }
  });

  it('UDP: a datagram to sql:53 is answered', async () => {
    const u = client.listenPacket('udp', 0);
    await new Promise((r) => (u.address() ? r(null) : u.once('listening', r)));
    const got = new Promise<string>((r) => u.once('message', (m: Buffer) => r(m.toString())));
    u.send('who?', 53, sql.addresses[0]);
    expect(await got).toBe('answer:who?');
    u.close();
  });

  it('ping through the tunnel (icmp granted)', async () => {
    expect(await client.ping(sql.addresses[0], 5000)).toBeGreaterThanOrEqual(0);
  });

  it('a port no grant covers is dropped by sql’s filter (counted), and explain says why', async () => {
    const before = metric(sql.metrics(), 'grantwire_filter_drops_total', 'no_rule');
    const pending = client.dial('tcp', 'sql:22');
    pending.catch(() => undefined);
    await waitUntil(() => metric(sql.metrics(), 'grantwire_filter_drops_total', 'no_rule') > before, 10_000, 'a no_rule drop on sql');
    const e = sql.explain({ src: client.addresses[0], dst: sql.addresses[0], proto: 6, dport: 22 });
    expect(e.Verdict).toBe('drop');
    expect(e.Reason).toBe('no_rule');
    const ok = sql.explain({ src: client.addresses[0], dst: sql.addresses[0], proto: 6, dport: 443 });
    expect(ok.Verdict).toBe('accept');
  });

  it('whois of an address that is no node throws PeerNotFoundError', async () => {
    await expect(sql.whois('100.127.1.1:1')).rejects.toMatchObject({ code: 'ERR_PEER_NOT_FOUND' });
  });

  describe('proxies over the client node', () => {
    const socks = new Socks5Server({ dialer: { dialTcp: (h, p) => client.dialer.dialTcp(h, p), bindUdp: () => client.dialer.bindUdp(), resolve: (n) => client.dialer.resolve(n) } });
    const proxy = new HttpProxyServer({ dialer: { dialTcp: (h, p) => client.dialer.dialTcp(h, p), bindUdp: () => client.dialer.bindUdp(), resolve: (n) => client.dialer.resolve(n) } });
    let socksPort = 0;
    let proxyPort = 0;
    beforeAll(async () => {
      socksPort = (await socks.listen(0, '127.0.0.1')).port;
      proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
    });
    afterAll(async () => {
      await socks.close();
      await proxy.close();
    });

    it('SOCKS5 CONNECT sql:443 (domain type): the app answers the client by whois', async () => {
      const { sock: s, head } = await socksConnect(socksPort, 'sql', 443);
      expect([...head.subarray(0, 4)]).toEqual([5, 0, 5, 0]);
      expect((await getOver(s, '/via-socks')).body).toMatchObject({ caller: 'client', path: '/via-socks' });
    });

    it('HTTP proxy: plain GET http://sql:443/ is forwarded', async () => {
      const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const q = httpRequest({ host: '127.0.0.1', port: proxyPort, path: 'http://sql:443/via-proxy' }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        q.on('error', reject);
        q.end();
      });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ caller: 'client', path: '/via-proxy' });
    });

    it('HTTP proxy: CONNECT to an off-tailnet address is 403', async () => {
      const s = connect({ host: '127.0.0.1', port: proxyPort });
      s.write('CONNECT 8.8.8.8:443 HTTP/1.1\r\nHost: 8.8.8.8:443\r\n\r\n');
      const first = await new Promise<string>((r) => s.once('data', (d) => r(d.toString())));
      expect(first).toMatch(/^HTTP\/1\.1 403/);
      s.destroy();
    });
  });
});
