// The tailnet rows of bench:netstack: one TCP stream TUN ↔ TUN (two agent daemons with kernel sockets),
// embedded ↔ TUN and embedded ↔ embedded (Nodes from node/), each end its own process, plus the
// connection set-up rate between two embedded nodes. As root the ends live in a lab tailnet of gwp-*
// namespaces (scripts/lab/tailnet-lab.ts: control on a bridge, one namespace per end); otherwise only
// embedded ↔ embedded runs, with control in this process on loopback, and the TUN rows say skipped.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startControl } from '../../test/control/helpers.js';
import { labPrerequisites, ROOT, TailnetLab, tail } from '../lab/tailnet-lab.js';
import { agentCounters, diffCounters, KERNEL_KEYS, linkDrops, namespaceCounters, pick, softnetDrops, type Counters } from './netstack-counters.js';

export interface Row {
  name: string;
  value: number | null;
  unit: string;
  baseline?: number;
  /** Ratio to the baseline when it is not value / baseline (the median of per-round ratios). */
  ratio?: number;
  note?: string;
}

export type Case = 'tun' | 'embedded-tun' | 'embedded-embedded';

/** One stream of one round, with where it lost packets (counter deltas over the stream, nonzero only). */
export interface StreamRun {
  round: number;
  case: Case;
  gbps: number;
  /**
   * Segments the sender retransmitted during the stream (ours from tcpInfo, without the SYNs resent while
   * connecting, which are in counters as snd.connectTimeouts; the kernel's from Tcp.RetransSegs).
   */
  retransmits: number;
  /** Our sender's RTO expiries after connecting, and fast retransmits (embedded senders only). */
  timeouts?: number;
  fastRetransmits?: number;
  maxBytesInFlight?: number;
  /** `snd.`/`rcv.` + kernel counter (the ends' namespaces), node counter (wg.*, udp.*, tun.*, tcp.*). */
  counters: Record<string, number>;
}

export interface TailnetResult {
  rows: Row[];
  runs: StreamRun[];
}

const POLICY = `{
  "tagOwners": {"tag:bench": ["alice@example.com"]},
  "grants": [{"src": ["tag:bench"], "dst": ["tag:bench"], "ip": ["tcp:*", "icmp:*"]}],
}`;
const PEER = join(ROOT, 'scripts', 'bench', 'netstack-peer.ts');
const PORT = 5001;

interface Peer {
  child: ChildProcess;
  ready: Promise<{ ip: string }>;
  result: Promise<Record<string, number>>;
  /** An embedded server's counters after its last connection closed (empty for a kernel server). */
  served: Record<string, number>;
}

/** Reads the peer's JSON lines; rejects with its stderr if it exits first. */
function watch(child: ChildProcess, what: string): Peer {
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const lines = createInterface({ input: child.stdout! });
  let onReady: (v: { ip: string }) => void = () => {};
  let onResult: (v: Record<string, number>) => void = () => {};
  let fail: (e: Error) => void = () => {};
  const ready = new Promise<{ ip: string }>((res, rej) => ((onReady = res), (fail = rej)));
  const result = new Promise<Record<string, number>>((res, rej) => {
    onResult = res;
    const prev = fail;
    fail = (e) => (prev(e), rej(e));
  });
  result.catch(() => {});
  const peer: Peer = { child, ready, result, served: {} };
  lines.on('line', (l) => {
    try {
      const m = JSON.parse(l) as { ready?: boolean; ip?: string; result?: Record<string, number>; served?: Record<string, number> };
      if (m.ready) onReady({ ip: m.ip ?? '' });
      if (m.result) onResult(m.result);
      if (m.served) peer.served = m.served;
    } catch {
      // not ours
    }
  });
  child.once('exit', (code) => fail(new Error(`${what} exited with ${code}: ${err.trim().split('\n').slice(-5).join('\n')}`)));
  return peer;
}

export type Spawner = (end: string, args: string[]) => ChildProcess;

interface End {
  end: string;
  args: string[];
  ip?: string;
  /** Kernel counters of the end's namespace and, for an agent daemon, its metrics (lab only). */
  snapshot?: () => Promise<Counters>;
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Counters of what lies between the ends (the lab's hub namespace with the bridge): `hub.` in a run. */
let pathSnapshot: (() => Promise<Counters>) | null = null;

export async function stream(sp: Spawner, from: End, to: End, bytes: number): Promise<{ result: Record<string, number>; counters: Counters }> {
  const server = watch(sp(to.end, ['--role', 'serve', '--port', String(PORT), ...to.args]), `${to.end} server`);
  try {
    const ip = to.ip ?? (await server.ready).ip;
    await server.ready;
    const b0 = (await from.snapshot?.()) ?? {};
    const b1 = (await to.snapshot?.()) ?? {};
    const b2 = (await pathSnapshot?.()) ?? {};
    const client = watch(sp(from.end, ['--role', 'send', '--target', `${ip}:${PORT}`, '--bytes', String(bytes), ...from.args]), `${from.end} sender`);
    const result = await client.result;
    for (let i = 0; i < 20 && to.args.includes('embedded') && Object.keys(server.served).length === 0; i++) await wait(100);
    const counters: Counters = {};
    const a0 = (await from.snapshot?.()) ?? {};
    const a1 = (await to.snapshot?.()) ?? {};
    const a2 = (await pathSnapshot?.()) ?? {};
    for (const [k, v] of Object.entries(diffCounters(b2, a2, true))) counters[`hub.${k}`] = v;
    for (const [k, v] of Object.entries(diffCounters(b0, a0, true))) counters[`snd.${k}`] = v;
    for (const [k, v] of Object.entries(diffCounters(b1, a1, true))) counters[`rcv.${k}`] = v;
    for (const [k, v] of Object.entries(result)) if (k !== 'gbps' && k !== 'secs' && v !== 0) counters[`snd.${k}`] = v;
    for (const [k, v] of Object.entries(server.served)) if (v !== 0) counters[`rcv.${k}`] = v;
    return { result, counters };
  } finally {
    server.child.kill('SIGTERM');
  }
}

async function setupRate(sp: Spawner, from: { end: string; args: string[] }, to: { end: string; args: string[] }, conns: number): Promise<Record<string, number>> {
  const server = watch(sp(to.end, ['--role', 'serve', '--port', String(PORT + 1), ...to.args]), `${to.end} server`);
  try {
    const { ip } = await server.ready;
    const client = watch(sp(from.end, ['--role', 'setup', '--target', `${ip}:${PORT + 1}`, '--conns', String(conns), ...from.args]), `${from.end} client`);
    return await client.result;
  } finally {
    server.child.kill('SIGTERM');
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const CASE_NAMES: Record<Case, string> = {
  tun: 'one TCP stream, TUN ↔ TUN (two agent daemons, kernel TCP)',
  'embedded-tun': 'one TCP stream, embedded → TUN',
  'embedded-embedded': 'one TCP stream, embedded ↔ embedded (two processes)',
};

/** A run's drops at each stage, for a row's note: only the counters that mean a lost packet. */
const DROP_KEYS = /RcvbufErrors|SndbufErrors|InErrors|InErrs|InCsumErrors|InDiscards|InHdrErrors|TCPDSACKOldSent|TCPOFODrop|TCPRcvQDrop|TCPBacklogDrop|Pruned|ZeroWindowDrop|_dropped|wg\.|softnet/;

function stageDrops(runs: StreamRun[]): string {
  const sums = new Map<string, number>();
  for (const r of runs) for (const [k, v] of Object.entries(r.counters)) if (DROP_KEYS.test(k)) sums.set(k, (sums.get(k) ?? 0) + v);
  return [...sums].map(([k, v]) => `${k} ${v}`).join(', ');
}

/** One row per case: the median over rounds, the spread, the ratio to TUN ↔ TUN as the median of per-round ratios. */
function caseRows(runs: StreamRun[], rounds: number): Row[] {
  const rows: Row[] = [];
  const tun = new Map(runs.filter((r) => r.case === 'tun').map((r) => [r.round, r.gbps]));
  for (const c of ['tun', 'embedded-tun', 'embedded-embedded'] as const) {
    const rs = runs.filter((r) => r.case === c);
    if (rs.length === 0) continue;
    const g = rs.map((r) => r.gbps);
    const parts = [`${rounds} rounds, ${Math.min(...g).toFixed(2)}–${Math.max(...g).toFixed(2)}`];
    const row: Row = { name: CASE_NAMES[c], value: median(g), unit: 'Gbit/s' };
    if (c !== 'tun' && tun.size > 0) {
      const ratios = rs.filter((r) => tun.has(r.round)).map((r) => r.gbps / tun.get(r.round)!);
      row.ratio = median(ratios);
      parts.push(`ratio per round ${ratios.map((x) => x.toFixed(2)).join(' ')} (min ${Math.min(...ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)})`);
    }
    parts.push(`retransmits per round ${rs.map((r) => r.retransmits).join(' ')}`);
    const drops = stageDrops(rs);
    if (drops) parts.push(`drops and reordering, summed: ${drops}`);
    row.note = parts.join('; ');
    rows.push(row);
  }
  return rows;
}

function toRun(round: number, c: Case, r: { result: Record<string, number>; counters: Counters }): StreamRun {
  const res = r.result;
  const embedded = 'tcp.retransmits' in res;
  // Ours: the SYNs resent while connecting (one per RTO then, before the timed part) are not the stream's.
  const retransmits = embedded ? res['tcp.retransmits'] - res.connectTimeouts : (r.counters['snd.Tcp.RetransSegs'] ?? 0);
  const run: StreamRun = { round, case: c, gbps: res.gbps, retransmits, counters: r.counters };
  if (embedded) {
    run.timeouts = res['tcp.timeouts'] - res.connectTimeouts;
    run.fastRetransmits = res['tcp.fastRetransmits'];
    run.maxBytesInFlight = res['tcp.maxBytesInFlight'];
  }
  return run;
}

export async function tailnetRows(quick: boolean, rounds: number): Promise<TailnetResult> {
  const bytes = (quick ? 32 : 128) << 20;
  const conns = quick ? 200 : 1000;
  const rows: Row[] = [];
  const runs: StreamRun[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'gwp-bench-'));
  const embedded = (name: string, control: string, key: string): End => ({ end: name, args: ['--stack', 'embedded', '--control', control, '--key', key, '--dir', join(dir, `state-${name}`), '--hostname', name] });
  const missing = labPrerequisites();
  if (missing.length > 0) {
    const h = await startControl({ policy: POLICY });
    try {
      h.addUser('alice@example.com', 'admin');
      const key = () => h.key({ user: 'alice@example.com', tags: ['tag:bench'] });
      const sp: Spawner = (_end, args) => spawn(process.execPath, ['--import', 'tsx', PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      for (let round = 0; round < rounds; round++) {
        runs.push(toRun(round, 'embedded-embedded', await stream(sp, embedded('emba', h.url, key()), embedded('embb', h.url, key()), bytes)));
      }
      rows.push(...caseRows(runs, rounds));
      rows[rows.length - 1].name = 'one TCP stream, embedded ↔ embedded (two processes, UDP on this host)';
      const s = await setupRate(sp, embedded('emba', h.url, key()), embedded('embb', h.url, key()), conns);
      rows.push({ name: `connection set-up + close, embedded → embedded (${conns}, 32 at a time)`, value: s.connPerSec, unit: 'conn/s', note: s.failed ? `${s.failed} failed` : '' });
      const why = `skipped: ${missing.join('; ')}`;
      rows.push({ name: CASE_NAMES.tun, value: null, unit: 'Gbit/s', note: why });
      rows.push({ name: CASE_NAMES['embedded-tun'], value: null, unit: 'Gbit/s', note: why });
    } finally {
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    }
    return { rows, runs };
  }

  // The lab runs bin/agent and bin/control: the build when there is one, else the sources through tsx.
  if (!existsSync(join(ROOT, 'dist', 'control', 'cli', 'main.js'))) process.env.GRANTWIRE_FROM_SOURCE ??= '1';
  const lab = new TailnetLab('gwp-', join(dir, 'lab'));
  try {
    const policyFile = join(dir, 'policy.hujson');
    writeFileSync(policyFile, POLICY);
    await lab.startControl(policyFile);
    await lab.addUser('alice@example.com', 'admin');
    const key = await lab.createKey('alice@example.com', { reusable: true, tags: ['tag:bench'] });
    await Promise.all(
      ['tuna', 'tunb'].map(async (n) => {
        await lab.addNode(n);
        const r = await lab.up(n, key, { tags: ['tag:bench'] });
        if (r.code !== 0) throw new Error(`agent up on ${n} failed: ${r.stderr}\n${tail(lab.node(n).logFile)}`);
      }),
    );
    lab.addNetns('emba');
    lab.addNetns('embb');
    const sp: Spawner = (end, args) => lab.spawnTsPiped(end, 'scripts/bench/netstack-peer.ts', args);
    const kernelSnap = (name: string, agent: boolean) => async (): Promise<Counters> => {
      const k = { ...pick(await namespaceCounters(lab.node(name).ns), KERNEL_KEYS), ...(await linkDrops(lab.node(name).ns)) };
      const m = agent ? await agentCounters(lab.node(name).ns, lab.node(name).socket) : {};
      return { ...k, ...m, softnet: softnetDrops() };
    };
    pathSnapshot = () => linkDrops(lab.hub);
    const kernel = (end: string): End => ({ end, args: ['--stack', 'kernel'], snapshot: kernelSnap(end, true) });
    const emb = (name: string): End => ({ ...embedded(name, lab.controlURL, key), snapshot: kernelSnap(name, false) });
    const tunbIP = await lab.ip4('tunb');
    const tunb = { ...kernel('tunb'), ip: tunbIP };
    for (let round = 0; round < rounds; round++) {
      // TUN ↔ TUN and embedded → TUN back to back, their order swapped every round (neither always
      // runs on the warmer or the quieter machine); the ratio is taken within the round.
      const pairOrder: Case[] = round % 2 === 0 ? ['tun', 'embedded-tun'] : ['embedded-tun', 'tun'];
      for (const c of pairOrder) {
        const r = c === 'tun' ? await stream(sp, kernel('tuna'), tunb, bytes) : await stream(sp, emb('emba'), tunb, bytes);
        runs.push(toRun(round, c, r));
      }
      runs.push(toRun(round, 'embedded-embedded', await stream(sp, emb('emba'), emb('embb'), bytes)));
      const last = runs.slice(-3).map((r) => `${r.case} ${r.gbps.toFixed(3)} Gbit/s (${r.retransmits} retransmits)`);
      process.stderr.write(`bench:netstack: round ${round + 1}/${rounds}: ${last.join(', ')}\n`);
    }
    rows.push(...caseRows(runs, rounds));
    const s = await setupRate(sp, emb('emba'), emb('embb'), conns);
    rows.push({ name: `connection set-up + close, embedded → embedded (${conns}, 32 at a time)`, value: s.connPerSec, unit: 'conn/s', note: s.failed ? `${s.failed} failed` : '' });
  } finally {
    pathSnapshot = null;
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, runs };
}
