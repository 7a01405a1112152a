// Userspace and embedded nodes beside TUN-mode agents and a wireguard-go peer, on one tailnet (issue 12:
// "works beside TUN-mode peers and wireguard-go peers"). Root only (namespaces `gwm-*`, TEST-NET-3 underlay).
//
// Layout: a hub namespace gwm-hub with a bridge on 203.0.113.0/24 where `control serve` listens (.1); on the
// bridge:
//   - gwm-tun (.10): a TUN-mode `agent daemon` (tag:tun), real TUN device, kernel sockets (scripts/lab/probe.ts);
//   - gwm-wg (.11): Debian's wireguard-go (tag:wg). It has no control client of its own, so this test plays
//     the part a plain-WireGuard peer's sidecar would (test/userspace/wggo-peer.ts): it registers the
//     device's own key with control with an auth key over the real Noise channel, streams that node's
//     netmap with the device's underlay endpoint, and applies each netmap with `wg syncconf` and `ip`. That
//     is the most real way the tailnet offers to add a non-agent WireGuard peer (control has no "add an
//     external key" API: registration needs the node's private key, for the node-key proof). Peers see it
//     as an ordinary node; it has no disco and no relay, so they must reach it on its listed endpoint;
//   - this (root) namespace, joined to the bridge by veth gwm-host (.2): the rootless agent (`agent daemon
//     --tun userspace` as uid 65534 through setpriv, with --socks5-server and --outbound-http-proxy-listen,
//     forwarding inbound tailnet connections to 127.0.0.1:P here) and an embedded `Node` (the package
//     root's export) in this process. They run here rather than in a namespace because that is where a
//     rootless agent runs (no privilege to enter one), and so this process can use their 127.0.0.1 proxies.
//
// Checked: allowed connects TUN → userspace agent (forwarded to 127.0.0.1:P) and TUN → embedded, and
// wireguard-go → both; denied ports are dropped, counted (filter metrics) and explained (`agent explain`,
// node.explain); the userspace agent reaches the TUN peer through SOCKS5 (CONNECT and UDP ASSOCIATE) and
// HTTP CONNECT; embedded → TUN; embedded ↔ userspace agent; userspace agent and embedded node → wireguard-go
// (they initiate the handshake); whois on the userspace agent (LocalAPI, by the forwarded connection's local
// port) and on the embedded node returns the caller's `app` capabilities; a policy change revoking the
// TUN → userspace grant resets an established forwarded connection (RST to the TUN side, host side closed).
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket as dgramSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Node } from '../../index.js';
import { buildUdpHeader, encodeAddress, parseUdpHeader } from '../../agent/proxy/socks5-wire.js';
import { LocalClient } from '../../localapi/client.js';
import { AGENT_BIN, labPrerequisites, runCmd, tail, TailnetLab, type CmdResult } from '../../scripts/lab/tailnet-lab.js';
import { haveCommand, run, waitFor } from '../netns.js';
import { getOver, socksConnect } from './helpers.js';
import { WgGoPeer } from './wggo-peer.js';
import { nextLine } from '../json-lines.js';

const missing = [...labPrerequisites(), ...['wireguard-go', 'wg', 'setpriv', 'ping'].filter((c) => !haveCommand(c)).map((c) => `the \`${c}\` command`)];
if (missing.length > 0) console.warn(`test/userspace/mixed-tailnet.test.ts skipped: needs ${missing.join('; ')}`);

const PREFIX = 'gwm-';
const UNDERLAY = '203.0.113';
const HOST_IF = `${PREFIX}host`;
const HOST_IP = `${UNDERLAY}.2`;
const NOBODY = 65534;
const CAP = 'example.com/cap/mixed';
const TUN_SVC = 8000; // probe echo server on the TUN agent's tailnet address
const WG_SVC = 7000; // probe echo server on the wireguard-go node's tailnet address
const EMB_HTTP = 443; // the embedded app: answers with whois
const EMB_ECHO = 40007; // echo on the embedded node, inside the granted range
const EMB_DENIED = 22; // echo on the embedded node that no grant covers

/** Grants: tag:tun / tag:wg reach the userspace agent's forwarded host ports (the ephemeral range) and the
 * embedded node; the userspace nodes reach the TUN agent's :8000 and wireguard-go's :7000. */
const GRANT_TUN_TO_US = `{"src": ["tag:tun"], "dst": ["tag:us"], "ip": ["tcp:32768-60999", "icmp:*"], "app": {"${CAP}": [{"from": "tun"}]}},`;
function policy(withTunToUs: boolean): string {
  return `{
  "tagOwners": {"tag:tun": ["alice@example.com"], "tag:us": ["alice@example.com"], "tag:emb": ["alice@example.com"], "tag:wg": ["alice@example.com"]},
  "grants": [
    ${withTunToUs ? GRANT_TUN_TO_US : ''}
    {"src": ["tag:tun"], "dst": ["tag:emb"], "ip": ["tcp:443", "tcp:32768-60999", "icmp:*"], "app": {"${CAP}": [{"from": "tun"}]}},
    {"src": ["tag:us", "tag:emb"], "dst": ["tag:tun"], "ip": ["tcp:${TUN_SVC}", "udp:${TUN_SVC}"]},
    {"src": ["tag:emb"], "dst": ["tag:us"], "ip": ["tcp:32768-60999"], "app": {"${CAP}": [{"from": "emb"}]}},
    {"src": ["tag:us"], "dst": ["tag:emb"], "ip": ["tcp:443"], "app": {"${CAP}": [{"from": "us"}]}},
    {"src": ["tag:wg"], "dst": ["tag:us", "tag:emb"], "ip": ["tcp:32768-60999", "icmp:*"]},
    {"src": ["tag:us", "tag:emb"], "dst": ["tag:wg"], "ip": ["tcp:${WG_SVC}"]},
  ],
}
`;
}

function dropCount(metrics: string, reason = 'no_rule'): number {
  const m = new RegExp(`^grantwire_filter_drops_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(metrics);
  return m ? Number(m[1]) : 0;
}


/** Writes `text`, resolves with what comes back first (an echo server answers with the same bytes). */
function echoOnce(s: NodeJS.ReadWriteStream, text: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`no echo within ${timeoutMs} ms (got ${JSON.stringify(got)})`)), timeoutMs);
    const on = (d: Buffer): void => {
      got += d.toString();
      if (got.length >= text.length) {
        clearTimeout(timer);
        s.off('data', on);
        resolve(got);
      }
    };
    s.on('data', on);
    s.write(text);
  });
}

function listenLocal(srv: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      srv.off('error', reject);
      resolve((srv.address() as { port: number }).port);
    });
  });
}

describe.skipIf(missing.length > 0)('a mixed tailnet: TUN agent, rootless userspace agent, embedded node and wireguard-go', { timeout: 60_000 }, () => {
  // Created in beforeAll (nothing on disk when the suite is skipped).
  let dir = '';
  let lab: TailnetLab;
  let policyFile = '';
  let usDir = ''; // nobody's: the rootless agent's state dir and LocalAPI socket
  let socketPath = '';
  let daemon: ChildProcess | null = null;
  let daemonLog = '';
  let socksPort = 0;
  let httpPort = 0;
  let client: LocalClient;
  let emb: Node;
  let wg: WgGoPeer;
  const ip: Record<'tun' | 'us' | 'emb' | 'wg', string> = { tun: '', us: '', emb: '', wg: '' };
  // The userspace agent's host side: echo servers on 127.0.0.1 (granted: an ephemeral port; denied: 7xxx).
  const hostConns: Socket[] = [];
  const echo = (s: Socket): void => {
    hostConns.push(s);
    s.on('error', () => undefined);
    s.pipe(s);
  };
  const hostEcho = createServer(echo);
  const hostDenied = createServer(echo);
  let hostPort = 0;
  let deniedPort = 0;
  const web = createHttpServer((req, res) => {
    void emb.whois(req.socket).then(
      (who) => res.end(JSON.stringify({ caller: who.Node.ComputedName, caps: who.CapMap, path: req.url })),
      (err: Error) => {
        res.statusCode = 403;
        res.end(JSON.stringify({ error: err.message }));
      },
    );
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gwm-'));
    lab = new TailnetLab(PREFIX, join(dir, 'lab'), { underlayPrefix: UNDERLAY });
    policyFile = join(dir, 'policy.hujson');
    usDir = mkdtempSync(join(tmpdir(), 'gwm-rootless-'));
    socketPath = join(usDir, 'run', 'agentd.sock');
    writeFileSync(policyFile, policy(true));
    await lab.startControl(policyFile);
    // This namespace on the bridge (before the root-side nodes start, so they advertise HOST_IP).
    run('ip', ['link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', `${PREFIX}hostp`, 'netns', lab.hub]);
    run('ip', ['-n', lab.hub, 'link', 'set', `${PREFIX}hostp`, 'master', lab.bridge, 'up']);
    run('ip', ['link', 'set', HOST_IF, 'up']);
    run('ip', ['addr', 'add', `${HOST_IP}/24`, 'dev', HOST_IF]);
    await lab.addUser('alice@example.com', 'member');
    const key = await lab.createKey('alice@example.com', { reusable: true });

    // The TUN-mode agent and the wireguard-go node, each in its namespace.
    await lab.addNode('tun');
    const tunUp = await lab.up('tun', key, { tags: ['tag:tun'] });
    if (tunUp.code !== 0) throw new Error(`agent up (tun): ${tunUp.stderr}\n${tail(lab.node('tun').logFile)}`);
    ip.tun = await lab.ip4('tun');
    const wgNs = lab.addNetns('wg');
    wg = new WgGoPeer({ scope: lab.scope, ns: wgNs.ns, ifname: `${PREFIX}wg0`, dir, controlURL: lab.controlURL, authKey: key, hostname: 'wggo', tags: ['tag:wg'], underlayIP: wgNs.underlayIP, port: 51820, underlayPrefix: `${UNDERLAY}.0/24` });
    await wg.start();
    ip.wg = wg.ip4;

    // The rootless agent, as nobody, with its proxies on 127.0.0.1 here.
    mkdirSync(join(usDir, 'state'), { recursive: true, mode: 0o700 });
    mkdirSync(join(usDir, 'run'), { mode: 0o755 });
    for (const d of [usDir, join(usDir, 'state'), join(usDir, 'run')]) chownSync(d, NOBODY, NOBODY);
    const args = ['daemon', '--tun', 'userspace', '--state-dir', join(usDir, 'state'), '--socket', socketPath, '--port', '0', '--socks5-server', '127.0.0.1:0', '--outbound-http-proxy-listen', '127.0.0.1:0'];
    daemon = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', AGENT_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HOME: usDir } });
    daemon.stderr!.on('data', (d: Buffer) => (daemonLog += d.toString()));
    await waitFor(() => /HTTP proxy on/.test(daemonLog) || daemon!.exitCode !== null, 60_000, 100);
    if (daemon.exitCode !== null) throw new Error(`the rootless daemon exited ${daemon.exitCode}: ${daemonLog}`);
    socksPort = Number(/SOCKS5 proxy on 127\.0\.0\.1:(\d+)/.exec(daemonLog)?.[1]);
    httpPort = Number(/HTTP proxy on 127\.0\.0\.1:(\d+)/.exec(daemonLog)?.[1]);
    client = new LocalClient({ socketPath });
    await client.up({ ControlURL: lab.controlURL, AuthKey: key, Hostname: 'rootless', AdvertiseTags: ['tag:us'], TimeoutMs: 30_000 });
    ip.us = (await client.status({ peers: false })).TailscaleIPs[0];

    // The embedded node in this process.
    emb = new Node({ dir: join(dir, 'emb'), hostname: 'emb', controlURL: lab.controlURL, authKey: key, tags: ['tag:emb'], upTimeoutMs: 30_000 });
    emb.listen('tcp', EMB_HTTP).on('connection', (s: Socket) => web.emit('connection', s));
    for (const port of [EMB_ECHO, EMB_DENIED]) emb.listen('tcp', port).on('connection', (s: Socket) => s.pipe(s));
    await emb.up();
    ip.emb = emb.addresses[0];

    hostPort = await listenLocal(hostEcho, 0);
    for (let p = 7100; p < 7200 && deniedPort === 0; p++) deniedPort = await listenLocal(hostDenied, p).catch(() => 0);

    // Servers on the TUN agent's and wireguard-go's tailnet addresses.
    for (const [name, addr, port] of [['tun', ip.tun, TUN_SVC], ['wg', ip.wg, WG_SVC]] as const) {
      const srv = lab.spawnTsPiped(name, 'scripts/lab/probe.ts', ['serve', '--host', addr, '--port', String(port)]);
      await nextLine(srv, (o) => o.ready === true, 30_000);
    }
    // Everyone sees everyone it has a grant with.
    const names = (peers: Record<string, { HostName: string }> | undefined): string[] => Object.values(peers ?? {}).map((p) => p.HostName).sort();
    const ok = await waitFor(async () => {
      const us = names((await client.status({ peers: true })).Peer);
      return us.join() === 'emb,tun,wggo' && names(emb.status().Peer).join() === 'rootless,tun,wggo' && (wg.netmap?.peers.length ?? 0) === 2;
    }, 20_000, 200);
    if (!ok) throw new Error(`netmaps incomplete: rootless sees ${names((await client.status({ peers: true })).Peer).join()}, emb sees ${names(emb.status().Peer).join()}, wggo sees ${wg.netmap?.peers.map((p) => p.name).join()}`);
  }, 240_000);

  afterAll(async () => {
    await client?.close();
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (daemon.exitCode === null) daemon.kill('SIGKILL');
    }
    await emb?.close();
    await wg?.stop();
    hostEcho.close();
    hostDenied.close();
    await lab?.cleanup();
    try {
      run('ip', ['link', 'del', HOST_IF]);
    } catch {
      // already gone with the hub namespace (the veth pair dies with either end)
    }
    for (const d of [dir, usDir]) if (d) rmSync(d, { recursive: true, force: true });
  }, 60_000);

  /** probe connect (an echo round trip) from a namespace node to `to`:`port`. */
  async function probeConnect(from: 'tun' | 'wg', to: string, port: number, timeoutMs: number): Promise<CmdResult> {
    return lab.runTs(from, 'scripts/lab/probe.ts', ['connect', '--host', to, '--port', String(port), '--timeout', String(timeoutMs)], timeoutMs + 30_000);
  }

  it('the four kinds of node are up: TUN agent, rootless agent as nobody, embedded node, wireguard-go', async () => {
    expect(readFileSync(`/proc/${daemon!.pid}/status`, 'utf8')).toMatch(/^Uid:\s+65534\s/m);
    expect(daemonLog).toContain('tun userspace (netstack)');
    expect((await client.status({ peers: false })).BackendState).toBe('Running');
    expect(emb.status().BackendState).toBe('Running');
    expect(wg.proc?.exitCode).toBeNull();
    for (const a of Object.values(ip)) expect(a).toMatch(/^100\./);
    expect(new Set(Object.values(ip)).size).toBe(4);
    // wireguard-go's peers are exactly the nodes the policy relates it to, from its netmap.
    expect(wg.netmap!.peers.map((p) => p.name.split('.')[0]).sort()).toEqual(['emb', 'rootless']);
  });

  it('userspace agent → wireguard-go through SOCKS5, embedded node → wireguard-go and → TUN peer by name (they initiate: nothing came from wireguard-go yet)', async () => {
    expect(wg.dump().map((p) => p.lastHandshake)).toEqual([0, 0]); // no session yet: ours start them
    const { sock } = await socksConnect(socksPort, ip.wg, WG_SVC);
    expect(await echoOnce(sock, 'us to wg\n')).toBe('us to wg\n');
    sock.destroy();
    for (const target of [`wggo:${WG_SVC}`, `tun:${TUN_SVC}`]) {
      const s = await emb.dial('tcp', target);
      expect(await echoOnce(s, `emb to ${target}\n`)).toBe(`emb to ${target}\n`);
      s.destroy();
    }
  });

  // Inbound connects from kernel sockets behind a TUN agent and behind wireguard-go (probe connect: an echo
  // round trip). To the userspace agent, port P lands on 127.0.0.1:P here; to the embedded node, on its
  // listener. Denied ports have a listener too, so only the filter can stop them.
  const inbound: Array<{ from: 'tun' | 'wg'; to: 'us' | 'emb'; port: () => number; allowed: boolean }> = [
    { from: 'tun', to: 'us', port: () => hostPort, allowed: true },
    { from: 'tun', to: 'emb', port: () => EMB_ECHO, allowed: true },
    { from: 'wg', to: 'us', port: () => hostPort, allowed: true },
    { from: 'wg', to: 'emb', port: () => EMB_ECHO, allowed: true },
    { from: 'tun', to: 'us', port: () => deniedPort, allowed: false },
    { from: 'tun', to: 'emb', port: () => EMB_DENIED, allowed: false },
    { from: 'wg', to: 'us', port: () => deniedPort, allowed: false },
    { from: 'wg', to: 'emb', port: () => EMB_DENIED, allowed: false },
  ];
  for (const c of inbound) {
    it(`${c.from} → ${c.to} tcp:${c.allowed ? 'granted' : 'not granted'}: ${c.allowed ? 'echo round trip' : 'dropped by the filter, counted'}`, async () => {
      const port = c.port();
      expect(port).toBeGreaterThan(0);
      const metrics = async (): Promise<string> => (c.to === 'us' ? client.metrics() : emb.metrics());
      const before = dropCount(await metrics());
      if (c.allowed) {
        // The first packet may wait for a handshake: retry for a while.
        let last: CmdResult | null = null;
        const ok = await waitFor(async () => (last = await probeConnect(c.from, ip[c.to], port, 3000)).code === 0, 30_000, 200);
        expect(ok, `${last ? (last as CmdResult).stdout : ''}\n${c.from === 'wg' ? readFileSync(wg.logFile, 'utf8').slice(-1500) : tail(lab.node('tun').logFile)}`).toBe(true);
      } else {
        const r = await probeConnect(c.from, ip[c.to], port, 2000);
        expect(r.code, r.stdout).toBe(1);
        expect(await waitFor(async () => dropCount(await metrics()) > before, 10_000, 100), 'a no_rule drop counted').toBe(true);
      }
    });
  }

  it('explain on both userspace nodes says why: `agent explain` (CLI, LocalAPI of the rootless agent) and node.explain', async () => {
    const cli = (args: string[]): Promise<CmdResult> => runCmd(AGENT_BIN, ['--socket', socketPath, 'explain', ...args]);
    const table: Array<{ src: string; port: number; verdict: RegExp }> = [
      { src: ip.tun, port: deniedPort, verdict: /^DROP \(no_rule\)/ },
      { src: ip.wg, port: deniedPort, verdict: /^DROP \(no_rule\)/ },
      { src: ip.tun, port: hostPort, verdict: /^ACCEPT/ },
      { src: ip.emb, port: hostPort, verdict: /^ACCEPT/ },
    ];
    for (const t of table) {
      const r = await cli(['--src', t.src, '--dst', ip.us, '--proto', 'tcp', '--dport', String(t.port)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout, `${t.src} → :${t.port}`).toMatch(t.verdict);
    }
    for (const [src, port, verdict] of [[ip.tun, EMB_DENIED, 'drop'], [ip.wg, EMB_DENIED, 'drop'], [ip.tun, EMB_HTTP, 'accept'], [ip.wg, EMB_ECHO, 'accept'], [ip.us, EMB_ECHO, 'drop']] as const) {
      const e = emb.explain({ src, dst: ip.emb, proto: 6, dport: port });
      expect(e.Verdict, `${src} → emb:${port}`).toBe(verdict);
      if (verdict === 'drop') expect(e.Reason).toBe('no_rule');
    }
  });

  it('wireguard-go → userspace agent and → embedded node: ICMP echo answered by both netstacks', async () => {
    // Asynchronously: the embedded node answers from this process's event loop.
    for (const dst of [ip.us, ip.emb]) {
      const r = await runCmd('ip', ['netns', 'exec', lab.node('wg').ns, 'ping', '-c', '3', '-i', '0.2', '-W', '3', dst]);
      expect(r.code, `${dst}: ${r.stdout}`).toBe(0);
    }
    // Sessions with both, made by wireguard-go itself (its own UAPI view).
    expect(wg.dump().filter((p) => p.lastHandshake > 0).length).toBe(2);
  });

  it('userspace agent → TUN peer through SOCKS5 (by name) and through HTTP CONNECT', async () => {
    const { sock, head } = await socksConnect(socksPort, 'tun', TUN_SVC);
    expect([...head.subarray(0, 4)]).toEqual([5, 0, 5, 0]);
    expect(await echoOnce(sock, 'via socks5\n')).toBe('via socks5\n');
    sock.destroy();

    const s = connect({ host: '127.0.0.1', port: httpPort });
    await new Promise((r) => s.once('connect', r));
    const status = await new Promise<string>((resolve) => {
      let t = '';
      const on = (d: Buffer): void => {
        t += d.toString('latin1');
        if (t.includes('\r\n\r\n')) {
          s.off('data', on);
          resolve(t);
        }
      };
      s.on('data', on);
      s.write(`CONNECT ${ip.tun}:${TUN_SVC} HTTP/1.1\r\nHost: ${ip.tun}:${TUN_SVC}\r\n\r\n`);
    });
    expect(status).toMatch(/^HTTP\/1\.1 200/);
    expect(await echoOnce(s, 'via http connect\n')).toBe('via http connect\n');
    s.destroy();
  });

  it('userspace agent → TUN peer through SOCKS5 UDP ASSOCIATE: the kernel\'s UDP echo answers, with its source', async () => {
    const ctl = connect({ host: '127.0.0.1', port: socksPort });
    await new Promise((r) => ctl.once('connect', r));
    const reply = await new Promise<Buffer>((resolve) => {
      let b = Buffer.alloc(0);
      const on = (d: Buffer): void => {
        b = Buffer.concat([b, d]);
        if (b.length >= 12) {
          ctl.off('data', on);
          resolve(b);
        }
      };
      ctl.on('data', on);
      ctl.write(Buffer.concat([Buffer.from([5, 1, 0, 5, 3, 0]), encodeAddress('0.0.0.0', 0)]));
    });
    expect([...reply.subarray(0, 4)]).toEqual([5, 0, 5, 0]); // no auth; UDP ASSOCIATE succeeded
    const relayPort = reply.readUInt16BE(10);
    const u = dgramSocket('udp4');
    await new Promise<void>((r) => u.bind(0, '127.0.0.1', r));
    const got = new Promise<Buffer>((r) => u.once('message', r));
    const send = (): void => u.send(Buffer.concat([buildUdpHeader(ip.tun, TUN_SVC), Buffer.from('udp via socks5')]), relayPort, '127.0.0.1');
    send();
    const resend = setInterval(send, 500); // the relay may still be opening its tailnet socket
    try {
      const answer = await got;
      const h = parseUdpHeader(answer);
      expect(h).toMatchObject({ host: ip.tun, port: TUN_SVC });
      expect(answer.subarray(h!.dataOffset).toString()).toBe('udp via socks5');
    } finally {
      clearInterval(resend);
      u.close();
      ctl.destroy();
    }
  });

  it('embedded → userspace agent (forwarded to 127.0.0.1:P); LocalAPI whois names emb with its capabilities', async () => {
    const known = hostConns.length;
    const s = await emb.dial('tcp', `rootless:${hostPort}`);
    expect(await echoOnce(s, 'emb to us\n')).toBe('emb to us\n');
    expect(hostConns.length).toBe(known + 1);
    const conn = hostConns[hostConns.length - 1];
    const who = await client.whois(`127.0.0.1:${conn.remotePort}`);
    expect(who.Node.ComputedName).toBe('emb');
    expect(who.Node.Tags).toEqual(['tag:emb']);
    expect(who.CapMap).toEqual({ [CAP]: [{ from: 'emb' }] });
    s.destroy();
  });

  it('whois on the embedded node: the app answers the TUN agent and the userspace agent (via SOCKS5) with their capabilities', async () => {
    const r = await lab.runTs('tun', 'scripts/lab/probe.ts', ['http', '--url', `http://${ip.emb}:${EMB_HTTP}/from-tun`, '--timeout', '10000'], 40_000);
    expect(r.code, r.stdout).toBe(0);
    const line = JSON.parse(r.stdout.trim().split('\n').pop()!) as { status: number; body: unknown };
    expect(line).toEqual({ status: 200, body: { caller: 'tun', caps: { [CAP]: [{ from: 'tun' }] }, path: '/from-tun' } });

    const { sock } = await socksConnect(socksPort, 'emb', EMB_HTTP);
    expect((await getOver(sock, '/from-us', 'emb')).body).toEqual({ caller: 'rootless', caps: { [CAP]: [{ from: 'us' }] }, path: '/from-us' });
  });

  it('revoking the TUN → userspace grant resets an established forwarded connection; whois named the caller before', async () => {
    const known = hostConns.length;
    const hold = lab.spawnTsPiped('tun', 'scripts/lab/probe.ts', ['hold', '--host', ip.us, '--port', String(hostPort), '--stall', '3000']);
    await nextLine(hold, (o) => o.connected === true, 20_000);
    // The agent accepts on the tailnet side first, then connects to 127.0.0.1:P.
    expect(await waitFor(() => hostConns.length > known, 10_000)).toBe(true);
    const conn = hostConns[hostConns.length - 1];
    expect(conn.remoteAddress).toBe('127.0.0.1');
    const who = await client.whois(`127.0.0.1:${conn.remotePort}`);
    expect(who.Node.ComputedName).toBe('tun');
    expect(who.CapMap).toEqual({ [CAP]: [{ from: 'tun' }] });
    const hostClosed = new Promise<void>((r) => (conn.destroyed ? r() : conn.once('close', () => r())));

    const cut = nextLine(hold, (o) => typeof o.cut === 'string', 20_000);
    writeFileSync(policyFile, policy(false));
    const set = await lab.controlCmd(['policy', 'set', policyFile]);
    expect(set.code, set.stderr).toBe(0);
    const setAt = Date.now();
    const ev = await cut;
    console.log(`mixed tailnet: revocation cut the TUN → userspace connection (${String(ev.cut)}) ${Number(ev.atMs) - setAt} ms after 'control policy set' returned`);
    expect(ev.cut).toBe('ECONNRESET'); // an RST from the userspace node, not silence
    await hostClosed; // and the host side of the forward is closed too
    const e = await client.explain({ src: ip.tun, dst: ip.us, proto: 6, dport: hostPort });
    expect(e.Verdict).toBe('drop');
    // New connections are dropped now.
    expect((await probeConnect('tun', ip.us, hostPort, 1500)).code).toBe(1);
  });
});
