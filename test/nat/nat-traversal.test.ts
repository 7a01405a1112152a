// NAT traversal end to end: control (with its relay and STUN) on the lab's public TEST-NET bridge
// (198.51.100.0/24), every node behind its own nftables router on a home LAN (192.0.2.0/24 and
// 203.0.113.0/24 /26s), and a standalone relay `r2` (`control relay`, authorized by control through the
// shared secret) listed in the relay map beside control's own, so there are two relays and two STUN
// servers. Root only; namespaces `gwt-*`. One tailnet shared by the cases, in order.
//
//   e1 (alice)       behind an endpoint-independent NAT      e2 (tag:server) behind another one
//   s1 (alice)       behind a symmetric NAT (random ports)   s2 (tag:server) behind another one
//   u1 (alice)       behind a router that drops all forwarded UDP (TCP to control and the relay only)
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNodeBehindNat, changeUnderlayAddress, natPrerequisites, type NatNode } from '../../scripts/lab/nat-lab.js';
import { labPrerequisites, TailnetLab, tail } from '../../scripts/lab/tailnet-lab.js';
import { LocalClient } from '../../localapi/client.js';
import { sleep, waitFor } from '../netns.js';

const missing = [...labPrerequisites(), ...natPrerequisites()];
if (missing.length > 0) console.log(`test/nat/nat-traversal.test.ts skipped: needs ${missing.join('; ')}`);

const PROBE = 'scripts/lab/probe.ts';
const POLICY = `{
  "tagOwners": {"tag:server": ["alice@example.com"]},
  "grants": [
    {"src": ["alice@example.com"], "dst": ["tag:server"], "ip": ["tcp:7000", "icmp:*"]},
  ],
}`;

interface PeerJson {
  HostName: string;
  CurAddr: string;
  Relay: string;
}

describe.skipIf(missing.length > 0)('NAT traversal in namespaces', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gwt-'));
  const lab = new TailnetLab('gwt-', dir);
  const nodes: Record<string, NatNode> = {};
  const ip: Record<string, string> = {};
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    // Short disco/STUN/report intervals so upgrades happen within seconds (the daemons inherit these).
    process.env.GRANTWIRE_NAT_PROBE_MS = '1000';
    process.env.GRANTWIRE_NAT_STUN_MS = '2000';
    process.env.GRANTWIRE_ENDPOINT_REFRESH_MS = '1000';
    // Peers go idle (probing stops, keepalives only) 5 s after their last packet instead of 60 s.
    process.env.GRANTWIRE_NAT_ACTIVE_MS = '5000';
    process.env.NODE_DEBUG = 'grantwire:nat'; // path changes in the daemons' logs
    const policy = join(dir, 'policy.hujson');
    writeFileSync(policy, POLICY);
    const secret = join(dir, 'relay.secret');
    writeFileSync(secret, 'gwt-relay-secret-0123456789abcdef\n', { mode: 0o600 });
    const r2 = await lab.standaloneRelay('r2', 8443, secret, ['--recheck', '1s']);
    await lab.startControl(policy, ['--relay-recheck', '1s', '--relay-secret-file', secret, '--extra-relay', r2.extraRelay]);
    r2.start();
    await lab.addUser('alice@example.com', 'member');
    const key = await lab.createKey('alice@example.com', { reusable: true });
    const plan: [string, 'eim' | 'symmetric' | 'udp-blocked', number, string[]][] = [
      ['e1', 'eim', 0, []],
      ['e2', 'eim', 1, ['tag:server']],
      ['s1', 'symmetric', 2, []],
      ['s2', 'symmetric', 3, ['tag:server']],
      ['u1', 'udp-blocked', 4, []],
    ];
    for (const [name, kind, lan] of plan) nodes[name] = await addNodeBehindNat(lab, name, kind, lan);
    for (const [name, , , tags] of plan) {
      const r = await lab.up(name, key, { tags });
      if (r.code !== 0) throw new Error(`up ${name}: ${r.stderr || r.stdout}\n${tail(nodes[name].logFile)}`);
      ip[name] = await lab.ip4(name);
    }
    for (const name of ['e2', 's2']) {
      const srv = lab.spawnTsPiped(name, PROBE, ['serve', '--host', ip[name], '--port', '7000']);
      servers.push(srv);
    }
    await sleep(1000);
  }, 300_000);

  afterAll(async () => {
    for (const k of ['GRANTWIRE_NAT_PROBE_MS', 'GRANTWIRE_NAT_STUN_MS', 'GRANTWIRE_ENDPOINT_REFRESH_MS', 'GRANTWIRE_NAT_ACTIVE_MS', 'NODE_DEBUG']) delete process.env[k];
    await lab.cleanup(process.env.GRANTWIRE_KEEP_NAT === '1');
  }, 60_000);

  async function peer(from: string, to: string): Promise<PeerJson | null> {
    const st = JSON.parse(await lab.mustAgent(from, ['status', '--json'])) as { Peer?: Record<string, PeerJson> };
    return Object.values(st.Peer ?? {}).find((p) => p.HostName === to) ?? null;
  }

  /**
   * The direct `ip:port` `from` uses for `to` ('' when relayed), read in-process from its LocalAPI socket
   * (a spawned CLI per poll takes seconds on a loaded machine, which would blur the timings measured).
   */
  const clients = new Map<string, LocalClient>();
  async function curAddr(from: string, to: string): Promise<string> {
    let c = clients.get(from);
    if (!c) clients.set(from, (c = new LocalClient({ socketPath: nodes[from].socket, connections: 1 })));
    const st = await c.status({ peers: true });
    return Object.values(st.Peer ?? {}).find((p) => p.HostName === to)?.CurAddr ?? '';
  }

  async function isDirect(from: string, to: string): Promise<boolean> {
    return (await curAddr(from, to)).startsWith(`${nodes[to].wanIP}:`);
  }

  async function connect(from: string, to: string, port: number): Promise<boolean> {
    return (await lab.runTs(from, PROBE, ['connect', '--host', ip[to], '--port', String(port), '--timeout', '3000'])).code === 0;
  }

  function hold(from: string, to: string, stallMs: number): { child: ChildProcess; cut: () => string | null; connected: Promise<boolean> } {
    const child = lab.spawnTsPiped(from, PROBE, ['hold', '--host', ip[to], '--port', '7000', '--stall', String(stallMs)]);
    let cut: string | null = null;
    let buf = '';
    let onConnected: (v: boolean) => void = () => {};
    const connected = new Promise<boolean>((r) => (onConnected = r));
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      for (const line of buf.split('\n')) {
        if (line.includes('"connected"')) onConnected(true);
        if (line.includes('"cut"')) cut = line;
      }
    });
    child.once('exit', () => onConnected(false));
    return { child, cut: () => cut, connected };
  }

  it('endpoint-independent NATs: starts on the relay, upgrades to direct, and a TCP connection survives', async () => {
    const first = await peer('e1', 'e2');
    expect(first?.CurAddr).toBe('');
    expect(['control', 'r2']).toContain(first?.Relay);
    const h = hold('e1', 'e2', 5000);
    expect(await h.connected).toBe(true);
    const direct = await waitFor(async () => ((await peer("e1", "e2"))?.CurAddr ?? "").startsWith(`${nodes.e2.wanIP}:`), 30_000, 500);
    expect(direct, `e1 never went direct to e2:\n${tail(nodes.e1.logFile)}`).toBe(true);
    expect(await waitFor(async () => ((await peer("e2", "e1"))?.CurAddr ?? "").startsWith(`${nodes.e1.wanIP}:`), 15_000, 500)).toBe(true);
    expect(await peer('e1', 'e2')).toMatchObject({ Relay: '' });
    await sleep(2000);
    expect(h.cut()).toBeNull();
    await lab.scope.stop(h.child);
    const text = await lab.mustAgent('e1', ['status']);
    expect(text).toMatch(new RegExp(`e2 .*active; direct ${nodes.e2.wanIP.replace(/\./g, '\\.')}:`));
    expect(await lab.mustAgent('e1', ['ping', '-c', '1', 'e2'])).toMatch(new RegExp(`via direct ${nodes.e2.wanIP.replace(/\./g, '\\.')}:`));
  }, 90_000);

  it('an idle pair keeps its direct path on keepalives through the NATs: the next packet goes direct', async () => {
    // 100 s without traffic: past the active window (5 s here; 60 s by default, counted from the last
    // WireGuard packet sent, which may be a passive keepalive 10 s after the last data) and three 25 s
    // keepalive intervals. Without keepalives the path lapses to the relay seconds after probing stops.
    const t0 = Date.now();
    const lapses: string[] = [];
    while (Date.now() - t0 < 100_000) {
      for (const [from, to] of [['e1', 'e2'], ['e2', 'e1']]) if (!(await isDirect(from, to))) lapses.push(`${from}->${to} at ${Date.now() - t0} ms: ${JSON.stringify(await peer(from, to))}`);
      await sleep(1000);
    }
    expect(lapses, `${tail(nodes.e1.logFile)}`).toEqual([]);
    const esc = nodes.e2.wanIP.replace(/\./g, '\\.');
    expect(await lab.mustAgent('e1', ['ping', '-c', '1', 'e2'])).toMatch(new RegExp(`^pong from e2 \\(${ip.e2.replace(/\./g, '\\.')}\\) via direct ${esc}:\\d+ in `));
  }, 160_000);

  it('netcheck: two STUN servers see one mapping behind an endpoint-independent NAT, different ones behind a symmetric NAT', async () => {
    const eim = JSON.parse(await lab.mustAgent('e1', ['netcheck', '--json'])) as { reflexive: { endpoint: string | null }[]; mappingVariesByDest: boolean | null; relays: { name: string; latencyMs: number | null }[] };
    expect(eim.reflexive.filter((r) => r.endpoint !== null).length).toBe(2);
    expect(eim.mappingVariesByDest).toBe(false);
    expect(eim.relays.map((r) => r.name).sort()).toEqual(['control', 'r2']);
    expect(eim.relays.every((r) => r.latencyMs !== null)).toBe(true);
    const sym = JSON.parse(await lab.mustAgent('s1', ['netcheck', '--json'])) as { mappingVariesByDest: boolean | null };
    expect(sym.mappingVariesByDest).toBe(true);
  }, 60_000);

  it('symmetric NATs: stay on the relay, work, and grants are enforced the same way', async () => {
    expect(await connect('s1', 's2', 7000)).toBe(true);
    expect(await connect('s1', 's2', 7001)).toBe(false);
    await sleep(6000); // several probe rounds
    const p = await peer('s1', 's2');
    expect(p?.CurAddr).toBe('');
    expect(['control', 'r2']).toContain(p?.Relay);
    expect(await connect('s1', 's2', 7000)).toBe(true);
    // Each reply names the path it came on: the relay here.
    expect(await lab.mustAgent('s1', ['ping', '-c', '2', 's2'])).toMatch(/^pong from s2 \(\S+\) via relay (control|r2) in .*\npong from s2 \(\S+\) via relay (control|r2) in /);
  }, 60_000);

  it('UDP blocked for one node: it works over the relay (TCP only)', async () => {
    expect(await connect('u1', 'e2', 7000)).toBe(true);
    await sleep(3000);
    const p = await peer('u1', 'e2');
    expect(p?.CurAddr).toBe('');
    expect(['control', 'r2']).toContain(p?.Relay);
    expect(await connect('u1', 'e2', 7000)).toBe(true);
  }, 60_000);

  it('an underlay address change mid-transfer: the flow survives and the path returns to direct', async () => {
    const h = hold('e1', 'e2', 15_000);
    expect(await h.connected).toBe(true);
    const both = async (): Promise<boolean> => (await Promise.all([isDirect('e1', 'e2'), isDirect('e2', 'e1')])).every(Boolean);
    expect(await waitFor(both, 30_000, 200), 'direct before roaming').toBe(true);
    const before = await curAddr('e2', 'e1');
    changeUnderlayAddress(nodes.e1, 40);
    const t0 = Date.now();
    // The old mapping is dead (its LAN address is gone; the router gives the new one another port): e2
    // reaches e1 directly again only through the re-discovered endpoint (STUN on the address change,
    // reported to control, probed from both sides). Bounded: 20 s, while the flow keeps running.
    const back = await waitFor(async () => (await both()) && (await curAddr('e2', 'e1')) !== before, 20_000, 200);
    expect(back, `not direct again 20 s after roaming (e2 saw e1 at ${before}):\n${JSON.stringify([await peer('e1', 'e2'), await peer('e2', 'e1')])}\n${tail(nodes.e1.logFile)}\n${tail(nodes.e2.logFile)}`).toBe(true);
    console.log(`roaming: direct again in both directions ${Date.now() - t0} ms after the address change (${before} -> ${await curAddr('e2', 'e1')})`);
    // Past the pong timeout of any ping from before the change: the direct path is a live one.
    await sleep(Math.max(0, 11_000 - (Date.now() - t0)));
    expect(await isDirect('e1', 'e2')).toBe(true);
    expect(h.cut(), tail(nodes.e1.logFile)).toBeNull();
    expect(await connect('e1', 'e2', 7000)).toBe(true);
    await lab.scope.stop(h.child);
    expect(await lab.mustAgent('e1', ['ping', '-c', '1', 'e2'])).toMatch(new RegExp(`via direct ${nodes.e2.wanIP.replace(/\./g, '\\.')}:`));
  }, 90_000);
});
