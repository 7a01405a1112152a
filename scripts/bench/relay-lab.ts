// bench:relay's namespace rows (root): real agent daemons behind two endpoint-independent NAT routers
// (scripts/lab/nat-lab.ts, plain nftables masquerade), control and one standalone relay (`control relay`,
// its own process, so its CPU is the relay's alone; control runs with --no-relay and lists it as `r1`) on
// the lab's public TEST-NET bridge. Namespaces gwq-*; the NAT timings are the daemons' defaults.
//
//   timing, N runs   fresh routers (fresh conntrack) and fresh nodes each run: B is up and has reported
//                    its reflexive endpoint; then A's `up` (LocalAPI POST /up, what `agent up` sends, without
//                    the CLI's start-up) → first ICMP echo reply from B through the tailnet (LocalAPI ping,
//                    retried every 20 ms; the path it took is read from status right after) → the first
//                    status poll (every 50 ms) that shows B `direct`.
//   throughput       one TCP stream A → B through WireGuard (scripts/bench/netstack-peer.ts, kernel
//                    sockets over the TUNs), first with UDP between the two routers' WAN addresses dropped
//                    in both routers (so the only path is the relay), then with the drop removed once
//                    status shows direct; CPU of the relay process and of A's daemon from /proc/PID/stat
//                    (utime + stime) over each transfer.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalClient } from '../../localapi/client.js';
import type { PeerStatus } from '../../localapi/types.js';
import { deleteNetns, nsRun, sleep, waitFor } from '../../test/netns.js';
import { addNodeBehindNat, natPrerequisites, type NatNode } from '../lab/nat-lab.js';
import { labPrerequisites, ROOT, TailnetLab, tail } from '../lab/tailnet-lab.js';
import { stream, type Spawner } from './netstack-tailnet.js';
import type { BenchArgs, RowSpec } from './relay-report.js';

const PREFIX = 'gwq-';
const RELAY_PORT = 8443;
const RELAY_NAME = 'r1';
const POLICY = `{
  "tagOwners": {"tag:bench": ["alice@example.com"]},
  "grants": [{"src": ["tag:bench"], "dst": ["tag:bench"], "ip": ["tcp:*", "icmp:*"]}],
}`;
const TIMING = 'lab: timing';
const TCP = 'lab: TCP through WireGuard';
/** Clock ticks per second for /proc/PID/stat (USER_HZ: 100 on every Linux ABI node runs on). */
const CLK_TCK = 100;

export function labMissing(): string[] {
  return [...labPrerequisites(), ...natPrerequisites()];
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may hold spaces and parentheses: count from the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15
}

function comm(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

function ip4(ips: readonly string[]): string {
  const v4 = ips.find((x) => !x.includes(':'));
  if (!v4) throw new Error(`no tailnet IPv4 in ${JSON.stringify(ips)}`);
  return v4;
}

async function peerOf(c: LocalClient, hostname: string): Promise<PeerStatus | null> {
  const st = await c.status();
  return Object.values(st.Peer ?? {}).find((p) => p.HostName === hostname) ?? null;
}

/** Drops UDP to and from `otherWan` in a NAT router (its own table, so unblock() removes exactly it). */
function block(n: NatNode, otherWan: string): void {
  const rules = `table ip gwqblock {\n  chain blockdirect { type filter hook forward priority -10; ip daddr ${otherWan} meta l4proto udp drop; ip saddr ${otherWan} meta l4proto udp drop; }\n}\n`;
  nsRun(n.router, 'nft', ['-f', '-'], rules);
}

function unblock(n: NatNode): void {
  nsRun(n.router, 'nft', ['delete', 'table', 'ip', 'gwqblock']);
}

interface Pair {
  a: NatNode;
  b: NatNode;
  ca: LocalClient;
  cb: LocalClient;
  bIP: string;
}

class RelayLab {
  readonly dir = mkdtempSync(join(tmpdir(), 'gwq-bench-'));
  readonly lab = new TailnetLab(PREFIX, join(this.dir, 'lab'));
  relayPid = 0;
  key = '';

  async start(): Promise<void> {
    // The lab runs bin/agent and bin/control: the build when there is one, else the sources through tsx.
    if (!existsSync(join(ROOT, 'dist', 'control', 'cli', 'main.js'))) process.env.GRANTWIRE_FROM_SOURCE ??= '1';
    process.env.NODE_DEBUG ??= 'grantwire:nat'; // path changes in the daemons' logs
    const policy = join(this.dir, 'policy.hujson');
    writeFileSync(policy, POLICY);
    const secret = join(this.dir, 'relay.secret');
    writeFileSync(secret, 'gwq-relay-secret-0123456789abcdef\n', { mode: 0o600 });
    const lab = this.lab;
    const standalone = await lab.standaloneRelay(RELAY_NAME, RELAY_PORT, secret);
    await lab.startControl(policy, ['--no-relay', '--relay-secret-file', secret, '--extra-relay', standalone.extraRelay]);
    const relay = standalone.start();
    if (relay.pid === undefined) throw new Error('control relay did not start');
    this.relayPid = relay.pid;
    const up = await waitFor(() => relay.exitCode !== null || nsRunOk(lab.hub, ['ss', '-Htln', `sport = :${RELAY_PORT}`]), 30_000, 100);
    if (!up || relay.exitCode !== null) throw new Error(`control relay did not come up:\n${tail(join(lab.dir, `${RELAY_NAME}.log`))}`);
    if (comm(this.relayPid) !== 'node') throw new Error(`PID ${this.relayPid} is ${comm(this.relayPid)}, not the relay's node process`);
    await lab.addUser('alice@example.com', 'admin');
    this.key = await lab.createKey('alice@example.com', { reusable: true, tags: ['tag:bench'] });
  }

  /** Two fresh nodes behind fresh EIM routers on LANs `lanA`/`lanB`; B is up and its endpoints are known. */
  async pair(a: string, b: string, lanA: number, lanB: number, beforeUp?: (a: NatNode, b: NatNode) => void): Promise<Pair> {
    const [na, nb] = await Promise.all([addNodeBehindNat(this.lab, a, 'eim', lanA), addNodeBehindNat(this.lab, b, 'eim', lanB)]);
    beforeUp?.(na, nb);
    const ca = new LocalClient({ socketPath: na.socket, whoisPool: false });
    const cb = new LocalClient({ socketPath: nb.socket, whoisPool: false });
    // The socket answers before the daemon's backend has loaded its state (agent/daemon.ts assigns it before
    // start() resolves; a call in between fails with a TypeError): ready is when status answers.
    for (const [c, n] of [[ca, na], [cb, nb]] as const) {
      if (!(await waitFor(() => c.status({ peers: false }).then(() => true, () => false), 30_000, 50))) throw new Error(`${n.name}: the daemon never answered status:\n${tail(n.logFile)}`);
    }
    const st = await cb.up(this.upRequest(b));
    const bIP = ip4(st.TailscaleIPs);
    // B has been online a while in the scenario this measures: wait until control has its reflexive endpoint.
    const known = await waitFor(async () => ((await cb.status({ peers: false })).Self?.Addrs ?? []).some((x) => x.startsWith(`${nb.wanIP}:`)), 30_000, 100);
    if (!known) throw new Error(`${b} never reported its reflexive endpoint ${nb.wanIP}:*:\n${tail(nb.logFile)}`);
    return { a: na, b: nb, ca, cb, bIP };
  }

  upRequest(hostname: string): { ControlURL: string; AuthKey: string; Hostname: string; AdvertiseTags: string[] } {
    return { ControlURL: this.lab.controlURL, AuthKey: this.key, Hostname: hostname, AdvertiseTags: ['tag:bench'] };
  }

  /** Stops both daemons, deletes their namespaces and their nodes in control (best effort: a node whose up
   * failed is not there, and that failure is the one to report). */
  async drop(p: Pair): Promise<void> {
    await Promise.all([p.ca.close(), p.cb.close()]);
    for (const n of [p.a, p.b]) {
      await this.lab.stopDaemon(n);
      deleteNetns(n.ns);
      deleteNetns(n.router);
      this.lab.nodes.delete(n.name);
      await this.lab.controlCmd(['nodes', 'delete', n.name]);
    }
  }

  /** GRANTWIRE_KEEP_BENCH=1 keeps the logs (control, relay, every daemon) in `dir` for a look afterwards. */
  async close(log: (line: string) => void): Promise<void> {
    const keep = process.env.GRANTWIRE_KEEP_BENCH === '1';
    await this.lab.cleanup(keep);
    if (keep) log(`logs kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

function nsRunOk(ns: string, cmd: string[]): boolean {
  try {
    return nsRun(ns, cmd[0], cmd.slice(1)).trim() !== '';
  } catch {
    return false;
  }
}

interface Timing {
  upMs: number;
  firstMs: number;
  firstPath: string;
  directMs: number | null;
  /** B's status first lists A; and lists A with A's reflexive endpoint (what the direct path needs). */
  seenMs: number | null;
  seenEndpointMs: number | null;
}

async function timeOnce(rl: RelayLab, i: number): Promise<Timing> {
  const p = await rl.pair(`a${i}`, `b${i}`, 0, 1);
  try {
    const t0 = performance.now();
    await p.ca.up(rl.upRequest(p.a.name));
    const upMs = performance.now() - t0;
    let directMs: number | null = null;
    let seenMs: number | null = null;
    let seenEndpointMs: number | null = null;
    let polling = true;
    const poller = (async () => {
      while (polling && (directMs === null || seenEndpointMs === null)) {
        const [toB, toA] = await Promise.all([peerOf(p.ca, p.b.name).catch(() => null), peerOf(p.cb, p.a.name).catch(() => null)]);
        const now = performance.now() - t0;
        if (toB && toB.CurAddr !== '' && directMs === null) directMs = now;
        if (toA && seenMs === null) seenMs = now;
        if (toA && seenEndpointMs === null && toA.Addrs.some((x) => x.startsWith(`${p.a.wanIP}:`))) seenEndpointMs = now;
        await sleep(50);
      }
    })();
    let firstMs = 0;
    for (;;) {
      try {
        await p.ca.ping(p.bIP, 1000);
        firstMs = performance.now() - t0;
        break;
      } catch (err) {
        if (performance.now() - t0 > 60_000) throw new Error(`no echo reply from ${p.b.name} within 60 s: ${(err as Error).message}\n${tail(p.a.logFile)}`);
        await sleep(20);
      }
    }
    const peer = await peerOf(p.ca, p.b.name);
    const firstPath = peer === null ? '?' : peer.CurAddr !== '' ? 'direct' : peer.Relay !== '' ? `relay ${peer.Relay}` : 'no path';
    // Keep the peer active (an idle peer is not probed) until the upgrade or 60 s.
    const deadline = t0 + 60_000;
    while (directMs === null && performance.now() < deadline) {
      await p.ca.ping(p.bIP, 1000).catch(() => null);
      await sleep(500);
    }
    polling = false;
    await poller;
    return { upMs, firstMs, firstPath, directMs, seenMs, seenEndpointMs };
  } finally {
    await rl.drop(p);
  }
}

interface Transfer {
  mbps: number;
  relayCoresPerGbps: number;
  senderCoresPerGbps: number;
}

async function transfer(rl: RelayLab, p: Pair, bytes: number, want: 'relay' | 'direct'): Promise<Transfer> {
  const pathOk = async (): Promise<boolean> => {
    const peer = await peerOf(p.ca, p.b.name);
    return want === 'direct' ? peer?.CurAddr !== '' && peer?.CurAddr !== undefined : peer?.CurAddr === '' && peer?.Relay === RELAY_NAME;
  };
  // Ping once a second meanwhile: an idle peer is not probed, so neither upgrade nor fallback would come.
  const reached = await waitFor(async () => (await p.ca.ping(p.bIP, 1000).catch(() => null), pathOk()), 90_000, 1000);
  if (!reached) throw new Error(`A never reached B ${want}: ${JSON.stringify(await peerOf(p.ca, p.b.name))}\n${tail(p.a.logFile)}`);
  const sp: Spawner = (end, args) => rl.lab.spawnTsPiped(end, 'scripts/bench/netstack-peer.ts', args);
  const senderPid = p.a.daemon!.pid!;
  const r0 = cpuSeconds(rl.relayPid);
  const s0 = cpuSeconds(senderPid);
  const res = await stream(sp, { end: p.a.name, args: ['--stack', 'kernel'] }, { end: p.b.name, args: ['--stack', 'kernel'], ip: p.bIP }, bytes);
  const relayCpu = cpuSeconds(rl.relayPid) - r0;
  const senderCpu = cpuSeconds(senderPid) - s0;
  if (!(await pathOk())) throw new Error(`the path changed during the ${want} transfer: ${JSON.stringify(await peerOf(p.ca, p.b.name))}`);
  const gbit = (bytes * 8) / 1e9;
  return { mbps: res.gbps * 1000, relayCoresPerGbps: relayCpu / gbit, senderCoresPerGbps: senderCpu / gbit };
}

/** The lab rows; `log` gets progress lines (each run takes seconds to a minute). */
export async function labRows(args: BenchArgs, log: (line: string) => void): Promise<RowSpec[]> {
  const rl = new RelayLab();
  try {
    await rl.start();
    const timings: Timing[] = [];
    for (let i = 0; i < args.reps; i++) {
      const t = await timeOnce(rl, i);
      const ms = (v: number | null): string => (v === null ? 'never' : `${v.toFixed(0)} ms`);
      log(`timing run ${i + 1}/${args.reps}: up ${ms(t.upMs)}, B sees A ${ms(t.seenMs)} (with its endpoint ${ms(t.seenEndpointMs)}), first reply ${ms(t.firstMs)} (${t.firstPath}), direct ${ms(t.directMs)}`);
      timings.push(t);
    }
    const notRelay = timings.filter((t) => !t.firstPath.startsWith('relay ')).length;
    const never = timings.filter((t) => t.directMs === null).length;

    const p = await rl.pair('ta', 'tb', 2, 3, (a, b) => {
      block(a, b.wanIP);
      block(b, a.wanIP);
    });
    const relayed: Transfer[] = [];
    const direct: Transfer[] = [];
    try {
      await p.ca.up(rl.upRequest(p.a.name));
      for (let r = 0; r < args.rounds; r++) {
        if (r > 0) {
          block(p.a, p.b.wanIP);
          block(p.b, p.a.wanIP);
        }
        relayed.push(await transfer(rl, p, args.bytes, 'relay'));
        unblock(p.a);
        unblock(p.b);
        direct.push(await transfer(rl, p, args.bytes, 'direct'));
        log(`transfer round ${r + 1}/${args.rounds}: relay ${relayed[r].mbps.toFixed(0)} Mbit/s, direct ${direct[r].mbps.toFixed(0)} Mbit/s`);
      }
    } finally {
      await rl.drop(p);
    }
    const mib = args.bytes >> 20;
    return [
      { section: TIMING, name: 'up answered (POST /up)', unit: 'ms', samples: timings.map((t) => t.upMs), note: `${args.reps} runs, fresh NATs and nodes each` },
      { section: TIMING, name: "up → B's status lists A", unit: 'ms', samples: timings.flatMap((t) => (t.seenMs === null ? [] : [t.seenMs])), baseline: 'up answered (POST /up)', note: 'B is the peer; polled every 50 ms' },
      { section: TIMING, name: "up → B's status lists A's reflexive endpoint", unit: 'ms', samples: timings.flatMap((t) => (t.seenEndpointMs === null ? [] : [t.seenEndpointMs])), baseline: 'up answered (POST /up)' },
      { section: TIMING, name: 'up → first echo reply via relay', unit: 'ms', samples: timings.map((t) => t.firstMs), baseline: 'up answered (POST /up)', note: notRelay > 0 ? `${notRelay} run(s) were already direct at the first reply` : 'every first reply came via the relay' },
      { section: TIMING, name: 'up → direct upgrade', unit: 'ms', samples: timings.flatMap((t) => (t.directMs === null ? [] : [t.directMs])), baseline: 'up → first echo reply via relay', note: never > 0 ? `${never} run(s) never went direct within 60 s` : 'default probe interval (5 s)' },
      { section: TCP, name: 'direct', unit: 'Mbit/s', samples: direct.map((t) => t.mbps), note: `one stream, ${mib} MiB per transfer` },
      { section: TCP, name: 'via relay (direct UDP blocked)', unit: 'Mbit/s', samples: relayed.map((t) => t.mbps), baseline: 'direct' },
      { section: TCP, name: 'via relay ÷ direct, each round', unit: '×', samples: relayed.map((t, i) => t.mbps / direct[i].mbps), note: 'the two transfers of a round run back to back, so load changes between rounds cancel' },
      { section: TCP, name: 'sending agent CPU, direct', unit: 'cores per Gbit/s', samples: direct.map((t) => t.senderCoresPerGbps) },
      { section: TCP, name: 'sending agent CPU, via relay', unit: 'cores per Gbit/s', samples: relayed.map((t) => t.senderCoresPerGbps), baseline: 'sending agent CPU, direct' },
      { section: TCP, name: 'relay process CPU, via relay', unit: 'cores per Gbit/s', samples: relayed.map((t) => t.relayCoresPerGbps), baseline: 'sending agent CPU, via relay', note: 'standalone `control relay` process' },
    ];
  } finally {
    await rl.close(log);
  }
}

/** The lab rows as not measured, with why (no root, no nft, …). */
export function skippedLabRows(why: string): RowSpec[] {
  const rows: [string, string, string][] = [
    [TIMING, 'up → first echo reply via relay', 'ms'],
    [TIMING, 'up → direct upgrade', 'ms'],
    [TCP, 'direct', 'Mbit/s'],
    [TCP, 'via relay (direct UDP blocked)', 'Mbit/s'],
    [TCP, 'relay process CPU, via relay', 'cores per Gbit/s'],
  ];
  return rows.map(([section, name, unit]) => ({ section, name, unit, samples: [], note: why }));
}
