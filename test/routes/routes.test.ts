// Subnet routers and exit nodes end to end (issue 14): real control and agent daemons in network
// namespaces (prefix gwr-), a LAN behind the routers (TEST-NET-3, 203.0.113.0/24, a bridge in gwr-lan with
// the host 203.0.113.10), an "Internet" behind the exit node (TEST-NET-2, 198.51.100.0/24, gwr-inet with
// 198.51.100.10) and the tailnet underlay on TEST-NET-1 (192.0.2.0/24). Nothing leaves the machine.
// Root only; the cases share one tailnet and run in order.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labPrerequisites, ROOT, TailnetLab, tail, TSX_LOADER } from '../../scripts/lab/tailnet-lab.js';
import { addAddr, haveCommand, vethPair, waitFor } from '../netns.js';

const missing = labPrerequisites();
if (!haveCommand('nft')) missing.push('nft (apt-get install nftables): routers masquerade with it');
if (missing.length > 0) console.log(`test/routes/routes.test.ts skipped: needs ${missing.join('; ')}`);

const PROBE = join(ROOT, 'scripts/lab/probe.ts');
const LAN_HOST = '203.0.113.10';
const NET_HOST = '198.51.100.10';
const LAN = '203.0.113.0/24';
const HOME_LAN_HOST = '192.0.2.250';
/** node -e: connect to argv[1]:argv[2] every 100 ms (300 ms timeout); print Date.now() on each echo. */
const PROBER = `const net = require('node:net');
const [host, port] = process.argv.slice(1);
setInterval(() => {
  const s = net.connect({ host, port: Number(port), timeout: 300 });
  s.on('connect', () => s.write('x'));
  s.on('data', () => { console.log(Date.now()); s.destroy(); });
  s.on('timeout', () => s.destroy());
  s.on('error', () => s.destroy());
}, 100);`;

interface PolicyOpts {
  lanGrant?: boolean;
  internetGrant?: boolean;
  autoRoutes?: boolean;
  autoExit?: boolean;
  /** The LAN grant only through routers tagged tag:router. */
  via?: boolean;
}

function policy(o: PolicyOpts): string {
  const grants = [`{"src": ["group:eng"], "dst": ["tag:router", "tag:exit"], "ip": ["icmp:*"]}`];
  if (o.lanGrant !== false) grants.push(`{"src": ["group:eng"], "dst": ["${LAN}"], "ip": ["tcp:80"]${o.via ? ', "via": ["tag:router"]' : ''}}`);
  if (o.internetGrant !== false) grants.push(`{"src": ["group:eng"], "dst": ["autogroup:internet"], "ip": ["*"]}`);
  const auto: string[] = [];
  if (o.autoRoutes) auto.push(`"routes": {"203.0.113.0/24": ["tag:router", "tag:rb"]}`);
  if (o.autoExit) auto.push(`"exitNode": ["tag:exit"]`);
  return `{
  "groups": {"group:eng": ["alice@example.com"]},
  "tagOwners": {"tag:router": ["alice@example.com"], "tag:rb": ["alice@example.com"], "tag:exit": ["alice@example.com"]},
  "grants": [${grants.join(',\n    ')}],
  ${auto.length > 0 ? `"autoApprovers": {${auto.join(', ')}},` : ''}
}
`;
}

interface RouteRow {
  name: string;
  advertised: string[];
  approved: string[];
  autoApproved: string[];
  effective: string[];
  primary: string[];
}

describe.skipIf(missing.length > 0)('subnet routers and exit nodes in namespaces', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gwr-'));
  const lab = new TailnetLab('gwr-', dir, { underlayPrefix: '192.0.2' });
  let key = '';
  let policyN = 0;

  async function setPolicy(o: PolicyOpts): Promise<void> {
    const file = join(dir, `policy-${++policyN}.hujson`);
    writeFileSync(file, policy(o));
    await lab.mustControl(['policy', 'set', file]);
  }

  function serve(ns: string, host: string, port: number): ChildProcess {
    return lab.scope.spawn(ns, process.execPath, ['--import', TSX_LOADER, PROBE, 'serve', '--host', host, '--port', String(port)], { logFile: join(dir, `${ns}-${port}.log`) });
  }

  async function connect(from: string, host: string, port: number, timeoutMs = 1500): Promise<boolean> {
    return (await lab.runTs(from, 'scripts/lab/probe.ts', ['connect', '--host', host, '--port', String(port), '--timeout', String(timeoutMs)])).code === 0;
  }

  function proberTimes(): number[] {
    try {
      return readFileSync(join(dir, 'prober.log'), 'utf8').split('\n').filter((l) => /^[0-9]+$/.test(l)).map(Number);
    } catch {
      return [];
    }
  }

  async function routes(): Promise<Map<string, RouteRow>> {
    const rows = JSON.parse(await lab.mustControl(['nodes', 'routes', '--json'])) as RouteRow[];
    return new Map(rows.map((r) => [r.name, r]));
  }

  beforeAll(async () => {
    const first = join(dir, 'policy-0.hujson');
    writeFileSync(first, policy({}));
    await lab.startControl(first);
    await lab.addUser('alice@example.com', 'member');
    key = await lab.createKey('alice@example.com', { reusable: true });
    await Promise.all(['client', 'r1', 'r2', 'exit'].map((n) => lab.addNode(n)));
    // The LAN: a bridge in gwr-lan holding the host; each router plugs into it.
    lab.addLan('lan', `${LAN_HOST}/24`, [
      { node: 'r1', cidr: '203.0.113.1/24' },
      { node: 'r2', cidr: '203.0.113.2/24' },
    ]);
    // The exit node's "Internet".
    lab.scope.netns('gwr-inet');
    vethPair(lab.node('exit').ns, 'wan0', 'gwr-inet', 'gwr-i0');
    addAddr(lab.node('exit').ns, 'wan0', '198.51.100.1/24');
    addAddr('gwr-inet', 'gwr-i0', `${NET_HOST}/24`);
    serve('gwr-lan', LAN_HOST, 80);
    serve('gwr-lan', LAN_HOST, 8080);
    serve('gwr-inet', NET_HOST, 80);
    // A service on the client's own LAN (the underlay), for --exit-node-allow-lan-access.
    addAddr(lab.hub, lab.bridge, `${HOME_LAN_HOST}/24`);
    serve(lab.hub, HOME_LAN_HOST, 80);
  }, 240_000);

  afterAll(async () => {
    await lab.cleanup(process.env.GRANTWIRE_KEEP_E2E === '1');
  }, 60_000);

  it('a router advertising a route it was not approved for receives no traffic for it', async () => {
    const r = await lab.up('r1', key, { tags: ['tag:router'], extra: ['--advertise-routes', LAN] });
    expect(r.code, r.stderr + tail(lab.node('r1').logFile)).toBe(0);
    const c = await lab.up('client', key, { extra: ['--accept-routes'] });
    expect(c.code, c.stderr).toBe(0);
    expect(await waitFor(async () => (await routes()).get('r1')?.advertised.join() === LAN, 5000, 200)).toBe(true);
    const row = (await routes()).get('r1')!;
    expect(row.effective).toEqual([]);
    expect(await connect('client', LAN_HOST, 80)).toBe(false);
    const st = JSON.parse(await lab.mustAgent('client', ['status', '--json'])) as { Peer: Record<string, { HostName: string; AllowedIPs: string[] }> };
    expect(Object.values(st.Peer).find((p) => p.HostName === 'r1')?.AllowedIPs).not.toContain(LAN);
  }, 90_000);

  it('after manual approval the client reaches the LAN host; the grant’s one port is enforced on the router', async () => {
    await lab.mustControl(['nodes', 'routes', 'approve', 'r1', LAN]);
    expect(await waitFor(() => connect('client', LAN_HOST, 80), 10_000, 200)).toBe(true);
    expect((await routes()).get('r1')).toMatchObject({ approved: [LAN], effective: [LAN], primary: [LAN] });
    expect(await connect('client', LAN_HOST, 8080)).toBe(false);
    const status = await lab.mustAgent('client', ['status']);
    expect(status).toMatch(/r1\s.*routes 203\.0\.113\.0\/24/);
    // whois on the router answers for the caller whose traffic it routes
    const clientIP = await lab.ip4('client');
    const who = JSON.parse(await lab.mustAgent('r1', ['whois', '--json', clientIP])) as { UserProfile: { LoginName: string } };
    expect(who.UserProfile.LoginName).toBe('alice@example.com');
  }, 60_000);

  it('a revoked grant cuts an established connection through the router', async () => {
    const hold = lab.spawnTsPiped('client', 'scripts/lab/probe.ts', ['hold', '--host', LAN_HOST, '--port', '80']);
    const lines: Record<string, unknown>[] = [];
    hold.stdout!.on('data', (c: Buffer) => {
      for (const l of c.toString().split('\n')) if (l.startsWith('{')) lines.push(JSON.parse(l) as Record<string, unknown>);
    });
    expect(await waitFor(() => lines.some((l) => l.connected === true), 10_000, 50)).toBe(true);
    await setPolicy({ lanGrant: false });
    expect(await waitFor(() => lines.some((l) => l.cut !== undefined), 10_000, 50)).toBe(true);
    expect(await connect('client', LAN_HOST, 80)).toBe(false);
    await setPolicy({});
    expect(await waitFor(() => connect('client', LAN_HOST, 80), 10_000, 200)).toBe(true);
  }, 60_000);

  it('autoApprovers approve a tagged router’s route without an admin', async () => {
    await lab.mustControl(['nodes', 'routes', 'unapprove', 'r1', LAN]);
    expect(await waitFor(async () => !(await connect('client', LAN_HOST, 80, 1000)), 10_000, 200)).toBe(true);
    await setPolicy({ autoRoutes: true });
    expect(await waitFor(() => connect('client', LAN_HOST, 80), 10_000, 200)).toBe(true);
    expect((await routes()).get('r1')).toMatchObject({ approved: [], autoApproved: [LAN], effective: [LAN] });
  }, 60_000);

  it('two routers for one subnet: when the primary dies, traffic moves to the other within 5 s', async () => {
    const r = await lab.up('r2', key, { tags: ['tag:router'], extra: ['--advertise-routes', LAN] });
    expect(r.code, r.stderr).toBe(0);
    expect(await waitFor(async () => (await routes()).get('r2')?.effective.join() === LAN, 5000, 200)).toBe(true);
    const rows = await routes();
    expect(rows.get('r1')?.primary).toEqual([LAN]);
    expect(rows.get('r2')?.primary).toEqual([]);
    // A plain-node prober (no TypeScript loader to start per attempt) connects every 100 ms and prints
    // the time of each success, so the failover time is not blurred by process start-up.
    const prober = lab.scope.spawn(lab.node('client').ns, process.execPath, ['-e', PROBER, LAN_HOST, '80'], { logFile: join(dir, 'prober.log') });
    expect(await waitFor(() => proberTimes().length > 0, 10_000, 100)).toBe(true);
    const t0 = Date.now();
    lab.node('r1').daemon!.kill('SIGKILL');
    const moved = await waitFor(() => proberTimes().some((t) => t > t0 + 200), 15_000, 100);
    await lab.scope.stop(prober);
    const after = proberTimes().filter((t) => t > t0 + 200);
    const ms = after.length > 0 ? after[0] - t0 : -1;
    console.log(`routes: traffic moved to r2 ${ms} ms after r1 was killed`);
    expect(moved).toBe(true);
    expect(ms).toBeLessThan(5000);
    expect((await routes()).get('r2')?.primary).toEqual([LAN]);
  }, 60_000);

  it('via: the client is steered to the router with the via tag while the other one is primary', async () => {
    await lab.startDaemon(lab.node('r1'));
    await lab.mustControl(['nodes', 'tags', 'r2', 'tag:rb']);
    await setPolicy({ autoRoutes: true, via: true });
    // Each step names itself and waits 20 s: under CI load a new router's first handshake can need a retry
    // (5 s) and every probe is a tsx process (one failure here gave only "expected false to be true").
    expect(await waitFor(async () => (await routes()).get('r1')?.effective.join() === LAN && (await routes()).get('r2')?.primary.join() === LAN, 20_000, 200), 'control: r1 serves the LAN, r2 is primary').toBe(true);
    const r1Has = async () => {
      const st = JSON.parse(await lab.mustAgent('client', ['status', '--json'])) as { Peer: Record<string, { HostName: string; AllowedIPs: string[] }> };
      const peers = Object.values(st.Peer);
      // r2 may not be a peer at all (peers by policy: its filter admits nobody here while the grant goes via r1)
      return peers.find((p) => p.HostName === 'r1')?.AllowedIPs.includes(LAN) === true && peers.find((p) => p.HostName === 'r2')?.AllowedIPs.includes(LAN) !== true;
    };
    expect(await waitFor(r1Has, 20_000, 200), "the client's netmap steers the LAN to r1 (via), not to r2").toBe(true);
    // r2 (the primary) has no rule for the via grant: only the steering makes this work
    expect(await waitFor(() => connect('client', LAN_HOST, 80), 20_000, 200), 'the client reaches the LAN host through r1').toBe(true);
    await setPolicy({ autoRoutes: true });
    expect(await waitFor(async () => !(await r1Has()), 20_000, 200), 'without via, the LAN leaves r1').toBe(true);
    expect(await waitFor(() => connect('client', LAN_HOST, 80), 20_000, 200), 'the client reaches the LAN host through the primary r2').toBe(true);
  }, 150_000);

  it('exit node: the client reaches the "Internet" through it, and loses it when the grant or the exit node goes', async () => {
    await setPolicy({ autoRoutes: true, autoExit: true });
    const r = await lab.up('exit', key, { tags: ['tag:exit'], extra: ['--advertise-exit-node'] });
    expect(r.code, r.stderr).toBe(0);
    expect(await waitFor(async () => (await routes()).get('exit')?.effective.join() === '0.0.0.0/0,::/0', 5000, 200)).toBe(true);
    expect(await connect('client', NET_HOST, 80)).toBe(false); // no exit node chosen yet
    expect(await connect('client', HOME_LAN_HOST, 80)).toBe(true); // nor any LAN block
    await lab.mustAgent('client', ['set', '--exit-node', 'exit']);
    expect(await waitFor(() => connect('client', NET_HOST, 80), 10_000, 200)).toBe(true);
    const st = JSON.parse(await lab.mustAgent('client', ['status', '--json'])) as { Peer: Record<string, { HostName: string; ExitNode?: boolean }> };
    expect(Object.values(st.Peer).find((p) => p.HostName === 'exit')?.ExitNode).toBe(true);
    // The LAN behind r2 stays reachable (more specific route) while default traffic goes to the exit node.
    expect(await connect('client', LAN_HOST, 80)).toBe(true);
    // Its own LAN only with --exit-node-allow-lan-access (control and peers stay reachable either way).
    expect(await connect('client', HOME_LAN_HOST, 80)).toBe(false);
    await lab.mustAgent('client', ['set', '--exit-node-allow-lan-access']);
    expect(await waitFor(() => connect('client', HOME_LAN_HOST, 80), 10_000, 200)).toBe(true);
    await lab.mustAgent('client', ['set', '--exit-node-allow-lan-access=false']);
    expect(await waitFor(async () => !(await connect('client', HOME_LAN_HOST, 80, 1000)), 10_000, 200)).toBe(true);

    await setPolicy({ autoRoutes: true, autoExit: true, internetGrant: false });
    expect(await waitFor(async () => !(await connect('client', NET_HOST, 80, 1000)), 10_000, 200)).toBe(true);
    await setPolicy({ autoRoutes: true, autoExit: true });
    expect(await waitFor(() => connect('client', NET_HOST, 80), 10_000, 200)).toBe(true);

    await lab.stopDaemon(lab.node('exit'));
    expect(await connect('client', NET_HOST, 80)).toBe(false);
  }, 90_000);
});
