// The agent daemon in userspace mode as an unprivileged user, end to end: `agent daemon --tun userspace`
// (spawned; when this test runs as root, through `setpriv` as nobody:nogroup with a state dir that user
// owns, so the rootless path is what runs) joins a tailnet with an embedded node "sql" in this process.
// Checked through the LocalAPI: up, status, ping, explain, metrics, whois; the SOCKS5 and HTTP proxies
// reach sql by name (and sql's app sees the daemon's node by whois); an inbound connection from sql to
// the daemon's tailnet port P is forwarded to 127.0.0.1:P on this host (TCP and UDP), and whois on the
// LocalAPI names sql for it by the forwarded connection's or flow's local port; a port nothing listens on
// is refused as a closed port; grants are enforced on the daemon's node.
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket as createUdpSocket } from 'node:dgram';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalClient } from '../../localapi/client.js';
import { Node } from '../../node/index.js';
import { startControl, waitUntil, type Harness } from '../control/helpers.js';
import { getOver, socksConnect, USERSPACE_POLICY } from './helpers.js';

const AGENT = resolve(import.meta.dirname, '..', '..', 'bin', 'agent');
const NOBODY = 65534;
const NOGROUP = 65534;
const isRoot = process.getuid?.() === 0;

function uidOf(pid: number): number {
  const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : -1;
}

describe(`agent daemon --tun userspace as ${isRoot ? 'nobody (via setpriv)' : 'this unprivileged user'}`, () => {
  let h: Harness;
  const dir = mkdtempSync(join(tmpdir(), 'gwu-rootless-'));
  const stateDir = join(dir, 'state');
  const runDir = join(dir, 'run');
  const socketPath = join(runDir, 'agentd.sock');
  let daemon: ChildProcess;
  let stderr = '';
  let socksPort = 0;
  let httpPort = 0;
  let client: LocalClient;
  let sql: Node;
  let hostServer: Server;
  let hostPort = 0;
  const hostConns: Socket[] = [];
  const web = createHttpServer((req, res) => {
    void sql.whois(req.socket).then(
      (who) => res.end(JSON.stringify({ caller: who.Node.ComputedName, caps: who.CapMap, path: req.url })),
      (err: Error) => {
        res.statusCode = 403;
        res.end(JSON.stringify({ error: err.message }));
      },
    );
  });

  beforeAll(async () => {
    h = await startControl({ policy: USERSPACE_POLICY });
    h.addUser('alice@example.com', 'admin');
    mkdirSync(stateDir, { mode: 0o700 });
    mkdirSync(runDir, { mode: 0o755 });
    if (isRoot) {
      chownSync(dir, NOBODY, NOGROUP);
      chownSync(stateDir, NOBODY, NOGROUP);
      chownSync(runDir, NOBODY, NOGROUP);
    }
    const args = ['daemon', '--tun', 'userspace', '--state-dir', stateDir, '--socket', socketPath, '--port', '0', '--socks5-server', '127.0.0.1:0', '--outbound-http-proxy-listen', '127.0.0.1:0'];
    const [cmd, argv] = isRoot ? ['setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', AGENT, ...args]] : [AGENT, args];
    daemon = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HOME: dir } });
    daemon.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitUntil(() => /LocalAPI on/.test(stderr) || daemon.exitCode !== null, 60_000, 'the daemon to start');
    if (daemon.exitCode !== null) throw new Error(`daemon exited ${daemon.exitCode}: ${stderr}`);
    socksPort = Number(/SOCKS5 proxy on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]);
    httpPort = Number(/HTTP proxy on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]);

    sql = new Node({ dir: join(dir, 'sql'), hostname: 'sql', controlURL: h.url, authKey: h.key({ user: 'alice@example.com', tags: ['tag:sql'] }), tags: ['tag:sql'] });
    sql.listen('tcp', 443).on('connection', (s: Socket) => web.emit('connection', s));
    await sql.up();

    client = new LocalClient({ socketPath });
    await client.up({ ControlURL: h.url, AuthKey: h.key({ user: 'alice@example.com', tags: ['tag:client'] }), Hostname: 'rootless', AdvertiseTags: ['tag:client'], TimeoutMs: 20_000 });
    await waitUntil(() => Object.values(sql.status().Peer ?? {}).some((p) => p.HostName === 'rootless'), 10_000, 'sql sees the daemon');

    hostServer = createServer((s) => {
      hostConns.push(s);
      s.write('hello from the host\n');
      s.on('data', () => undefined);
      s.on('end', () => s.end());
    });
    hostPort = await new Promise<number>((r) => hostServer.listen(0, '127.0.0.1', () => r((hostServer.address() as { port: number }).port)));
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
    }
    await sql?.close();
    hostServer?.close();
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`runs as uid ${isRoot ? NOBODY : 'of this test'} and is Running on the tailnet`, async () => {
    expect(uidOf(daemon.pid!)).toBe(isRoot ? NOBODY : process.getuid!());
    const st = await client.status({ peers: true });
    expect(st.BackendState).toBe('Running');
    expect(st.Self?.HostName).toBe('rootless');
    expect(stderr).toContain('tun userspace (netstack)');
  });

  it('LocalAPI ping, explain, metrics and whois work in userspace mode', async () => {
    expect((await client.ping(sql.addresses[0], 5000)).LatencySeconds).toBeGreaterThanOrEqual(0);
    const self = (await client.status({ peers: false })).TailscaleIPs[0];
    const e = await client.explain({ src: sql.addresses[0], dst: self, proto: 6, dport: 22 });
    expect(e.Verdict).toBe('accept'); // tag:sql → tag:client tcp:*
    expect(await client.metrics()).toMatch(/grantwire_filter_accepts_total\{reason="outbound"\} [1-9]/);
    expect((await client.whois(sql.addresses[0])).Node.ComputedName).toBe('sql');
  });

  it('SOCKS5 through the daemon reaches sql:443 by name; sql sees the daemon’s node by whois', async () => {
    const { sock: s, head } = await socksConnect(socksPort, 'sql', 443);
    expect([...head.subarray(0, 4)]).toEqual([5, 0, 5, 0]);
    expect((await getOver(s, '/socks')).body).toEqual({ caller: 'rootless', caps: { 'example.com/cap/tailsql': [{ dataSrc: ['warehouse'] }] }, path: '/socks' });
  });

  it('HTTP proxy through the daemon: GET http://sql:443/', async () => {
    const body = await new Promise<string>((res, rej) => {
      const q = httpRequest({ host: '127.0.0.1', port: httpPort, path: 'http://sql:443/http' }, (r) => {
        let t = '';
        r.on('data', (d) => (t += d.toString()));
        r.on('end', () => res(t));
      });
      q.on('error', rej);
      q.end();
    });
    expect(JSON.parse(body)).toMatchObject({ caller: 'rootless', path: '/http' });
  });

  it('inbound: sql → rootless:P is forwarded to 127.0.0.1:P; LocalAPI whois names sql by the local port', async () => {
    const s = await sql.dial('tcp', `rootless:${hostPort}`);
    const text = await new Promise<string>((r) => {
      let t = '';
      s.on('data', (d: Buffer) => {
        t += d.toString();
        if (t.endsWith('\n')) r(t);
      });
    });
    expect(text).toBe('hello from the host\n');
    const conn = hostConns[hostConns.length - 1];
    expect(conn.remoteAddress).toBe('127.0.0.1');
    const who = await client.whois(`127.0.0.1:${conn.remotePort}`);
    expect(who.Node.ComputedName).toBe('sql');
    expect(who.Node.Tags).toEqual(['tag:sql']);
    s.end();
  });

  it('inbound to a port nothing on the host listens on is refused, as a closed port: the dial fails with ECONNREFUSED', async () => {
    const tmp = createServer();
    const closedPort = await new Promise<number>((r) => tmp.listen(0, '127.0.0.1', () => r((tmp.address() as { port: number }).port)));
    await new Promise((r) => tmp.close(r));
    await expect(sql.dial('tcp', `rootless:${closedPort}`)).rejects.toMatchObject({ posixCode: 'ECONNREFUSED' });
  });

  it('inbound UDP: sql → rootless:P is forwarded to 127.0.0.1:P, the reply comes back from P; LocalAPI whois names sql by the flow’s local port', async () => {
    const host = createUdpSocket('udp4');
    const senders: number[] = [];
    host.on('message', (m: Buffer, r: { address: string; port: number }) => {
      senders.push(r.port);
      host.send(Buffer.concat([Buffer.from('host got '), m]), r.port, r.address);
    });
    const port = await new Promise<number>((r) => host.bind(0, '127.0.0.1', () => r(host.address().port)));
    try {
      const self = (await client.status({ peers: false })).TailscaleIPs[0];
      const u = sql.listenPacket('udp', 0);
      await new Promise((r) => (u.address() ? r(null) : u.once('listening', r)));
      const got = new Promise<string>((r) => u.once('message', (m: Buffer, ri: { address: string; port: number }) => r(`${m.toString()} from ${ri.address}:${ri.port}`)));
      u.send('ping', port, self);
      expect(await got).toBe(`host got ping from ${self}:${port}`);
      const who = await client.whois(`127.0.0.1:${senders[0]}`);
      expect(who.Node.ComputedName).toBe('sql');
      u.close();
    } finally {
      host.close();
    }
  });
});
