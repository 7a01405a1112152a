// NAT traversal over an IPv6-only underlay: the lab of nat-traversal.test.ts (scripts/lab) with its
// bridge on 2001:db8:6::/64 (control, its relay and STUN at [2001:db8:6::1]) and every node behind its own
// NAT66 router (nftables ip6 masquerade; WAN 2001:db8:6::20n, LAN 2001:db8:1n::/64), plus a standalone
// relay r2 at [2001:db8:6::1]:8443 whose key control lists (`--extra-relay …;key=`) and agents pin. No IPv4
// underlay address exists anywhere, so every path below is IPv6. Root only; namespaces `gwv-*`.
//
//   e1, e2   behind endpoint-independent NAT66 routers: STUN finds [WAN]:port, they go direct over IPv6
//   u1       behind a router that drops all forwarded UDP: u1 <-> e2 works through a relay (control's at
//            http://[2001:db8:6::1]:8080 or r2), reached over TCP/IPv6
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addNodeBehindNat, natPrerequisites, type NatKind, type NatNode } from '../../scripts/lab/nat-lab.js';
import { labPrerequisites, TailnetLab, tail } from '../../scripts/lab/tailnet-lab.js';
import { sleep, waitFor } from '../netns.js';

const missing = [...labPrerequisites(), ...natPrerequisites()];
if (missing.length > 0) console.log(`test/nat/ipv6.test.ts skipped: needs ${missing.join('; ')}`);

const PROBE = 'scripts/lab/probe.ts';
const POLICY = `{"grants": [{"src": ["*"], "dst": ["*"], "ip": ["tcp:7000", "icmp:*"]}]}`;

interface PeerJson {
  HostName: string;
  CurAddr: string;
  Relay: string;
}

const esc = (s: string) => s.replace(/[.[\]]/g, (c) => `\\${c}`);

describe.skipIf(missing.length > 0)('NAT traversal over an IPv6 underlay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gwv-'));
  const lab = new TailnetLab('gwv-', dir, { underlay6: '2001:db8:6' });
  const nodes: Record<string, NatNode> = {};
  const ip: Record<string, string> = {};

  beforeAll(async () => {
    process.env.GRANTWIRE_NAT_PROBE_MS = '1000';
    process.env.GRANTWIRE_NAT_STUN_MS = '2000';
    process.env.GRANTWIRE_ENDPOINT_REFRESH_MS = '1000';
    process.env.NODE_DEBUG = 'grantwire:nat';
    const policy = join(dir, 'policy.hujson');
    writeFileSync(policy, POLICY);
    const secret = join(dir, 'relay.secret');
    writeFileSync(secret, 'gwv-relay-secret-0123456789abcdef\n', { mode: 0o600 });
    const r2 = await lab.standaloneRelay('r2', 8443, secret, ['--recheck', '1s']);
    await lab.startControl(policy, ['--relay-recheck', '1s', '--relay-secret-file', secret, '--extra-relay', r2.extraRelay]);
    r2.start();
    await lab.addUser('alice@example.com', 'member');
    const key = await lab.createKey('alice@example.com', { reusable: true });
    const plan: [string, NatKind, number][] = [
      ['e1', 'eim', 0],
      ['e2', 'eim', 1],
      ['u1', 'udp-blocked', 2],
    ];
    for (const [name, kind, lan] of plan) nodes[name] = await addNodeBehindNat(lab, name, kind, lan);
    for (const [name] of plan) {
      const r = await lab.up(name, key);
      if (r.code !== 0) throw new Error(`up ${name}: ${r.stderr || r.stdout}\n${tail(nodes[name].logFile)}`);
      ip[name] = await lab.ip4(name);
    }
    for (const [name] of plan) lab.spawnTsPiped(name, PROBE, ['serve', '--host', ip[name], '--port', '7000']);
    await sleep(1000);
  }, 300_000);

  afterAll(async () => {
    for (const k of ['GRANTWIRE_NAT_PROBE_MS', 'GRANTWIRE_NAT_STUN_MS', 'GRANTWIRE_ENDPOINT_REFRESH_MS', 'NODE_DEBUG']) delete process.env[k];
    await lab.cleanup(process.env.GRANTWIRE_KEEP_NAT === '1');
  }, 60_000);

  async function peer(from: string, to: string): Promise<PeerJson | null> {
    const st = JSON.parse(await lab.mustAgent(from, ['status', '--json'])) as { Peer?: Record<string, PeerJson> };
    return Object.values(st.Peer ?? {}).find((p) => p.HostName === to) ?? null;
  }

  async function connect(from: string, to: string): Promise<boolean> {
    return (await lab.runTs(from, PROBE, ['connect', '--host', ip[to], '--port', '7000', '--timeout', '3000'])).code === 0;
  }

  it('the underlay is IPv6 only, and STUN over IPv6 reports the NAT66 mapping', async () => {
    expect(lab.controlURL).toBe('http://[2001:db8:6::1]:8080');
    expect(nodes.e1.wanIP).toBe('2001:db8:6::200');
    const nc = JSON.parse(await lab.mustAgent('e1', ['netcheck', '--json'])) as { reflexive: { endpoint: string | null }[]; relays: { name: string; latencyMs: number | null }[] };
    // Two STUN servers (control's and r2's), one endpoint-independent mapping.
    expect(nc.reflexive.map((r) => r.endpoint)).toEqual([expect.stringMatching(/^\[2001:db8:6::200\]:[0-9]+$/), expect.stringMatching(/^\[2001:db8:6::200\]:[0-9]+$/)]);
    expect(nc.relays.map((r) => r.name).sort()).toEqual(['control', 'r2']);
    expect(nc.relays.every((r) => r.latencyMs !== null)).toBe(true);
  }, 60_000);

  it('(a) two nodes behind NAT66 go direct over IPv6, and traffic flows both ways', async () => {
    // Traffic makes the peers active, which starts path probing (as in nat-traversal.test.ts's held connection).
    const there = await waitFor(async () => (await connect('e1', 'e2')) && ((await peer('e1', 'e2'))?.CurAddr ?? '').startsWith(`[${nodes.e2.wanIP}]:`), 40_000, 500);
    expect(there, `e1 never went direct to e2 (${JSON.stringify(await peer('e1', 'e2'))}):\n${tail(nodes.e1.logFile)}`).toBe(true);
    const back = await waitFor(async () => (await connect('e2', 'e1')) && ((await peer('e2', 'e1'))?.CurAddr ?? '').startsWith(`[${nodes.e1.wanIP}]:`), 20_000, 500);
    expect(back, `e2 never went direct to e1:\n${tail(nodes.e2.logFile)}`).toBe(true);
    expect(await peer('e1', 'e2')).toMatchObject({ Relay: '' });
    expect(await connect('e1', 'e2')).toBe(true);
    expect(await connect('e2', 'e1')).toBe(true);
    expect(await lab.mustAgent('e1', ['status'])).toMatch(new RegExp(`e2 .*active; direct ${esc(`[${nodes.e2.wanIP}]`)}:[0-9]+`));
    expect(await lab.mustAgent('e2', ['ping', '-c', '1', 'e1'])).toMatch(new RegExp(`via direct ${esc(`[${nodes.e1.wanIP}]`)}:[0-9]+`));
  }, 90_000);

  it('(b) direct UDP blocked: the nodes talk through the relay over IPv6, both ways', async () => {
    expect(await connect('u1', 'e2')).toBe(true);
    expect(await connect('e2', 'u1')).toBe(true);
    await sleep(4000); // several probe rounds: still no direct path
    for (const [from, to] of [
      ['u1', 'e2'],
      ['e2', 'u1'],
    ]) {
      const p = await peer(from, to);
      expect(p?.CurAddr, `${from} -> ${to}`).toBe('');
      expect(['control', 'r2']).toContain(p?.Relay);
    }
    expect(await lab.mustAgent('u1', ['status'])).toMatch(/e2 .*active; relay (control|r2)/);
    expect(await connect('u1', 'e2')).toBe(true);
    expect(await connect('e2', 'u1')).toBe(true);
  }, 90_000);
});
