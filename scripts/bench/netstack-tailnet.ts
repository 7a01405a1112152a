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

export interface Row {
  name: string;
  value: number | null;
  unit: string;
  baseline?: number;
  note?: string;
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
  lines.on('line', (l) => {
    try {
      const m = JSON.parse(l) as { ready?: boolean; ip?: string; result?: Record<string, number> };
      if (m.ready) onReady({ ip: m.ip ?? '' });
      if (m.result) onResult(m.result);
    } catch {
      // not ours
    }
  });
  child.once('exit', (code) => fail(new Error(`${what} exited with ${code}: ${err.trim().split('\n').slice(-5).join('\n')}`)));
  return { child, ready, result };
}

export type Spawner = (end: string, args: string[]) => ChildProcess;

export async function stream(sp: Spawner, from: { end: string; args: string[] }, to: { end: string; args: string[]; ip?: string }, bytes: number): Promise<Record<string, number>> {
  const server = watch(sp(to.end, ['--role', 'serve', '--port', String(PORT), ...to.args]), `${to.end} server`);
  try {
    const ip = to.ip ?? (await server.ready).ip;
    await server.ready;
    const client = watch(sp(from.end, ['--role', 'send', '--target', `${ip}:${PORT}`, '--bytes', String(bytes), ...from.args]), `${from.end} sender`);
    return await client.result;
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

export async function tailnetRows(quick: boolean): Promise<Row[]> {
  const bytes = (quick ? 32 : 128) << 20;
  const conns = quick ? 200 : 1000;
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'gwp-bench-'));
  const embedded = (name: string, control: string, key: string): { end: string; args: string[] } => ({ end: name, args: ['--stack', 'embedded', '--control', control, '--key', key, '--dir', join(dir, `state-${name}`), '--hostname', name] });
  const missing = labPrerequisites();
  if (missing.length > 0) {
    const h = await startControl({ policy: POLICY });
    try {
      h.addUser('alice@example.com', 'admin');
      const key = () => h.key({ user: 'alice@example.com', tags: ['tag:bench'] });
      const sp: Spawner = (_end, args) => spawn(process.execPath, ['--import', 'tsx', PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      const r = await stream(sp, embedded('emba', h.url, key()), embedded('embb', h.url, key()), bytes);
      rows.push({ name: 'one TCP stream, embedded ↔ embedded (two processes, UDP on this host)', value: r.gbps, unit: 'Gbit/s', note: `retransmits ${r.retransmits}` });
      const s = await setupRate(sp, embedded('emba', h.url, key()), embedded('embb', h.url, key()), conns);
      rows.push({ name: `connection set-up + close, embedded → embedded (${conns}, 32 at a time)`, value: s.connPerSec, unit: 'conn/s', note: s.failed ? `${s.failed} failed` : '' });
      const why = `skipped: ${missing.join('; ')}`;
      rows.push({ name: 'one TCP stream, TUN ↔ TUN', value: null, unit: 'Gbit/s', note: why });
      rows.push({ name: 'one TCP stream, embedded → TUN', value: null, unit: 'Gbit/s', note: why });
    } finally {
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    }
    return rows;
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
    const kernel = (end: string) => ({ end, args: ['--stack', 'kernel'] });
    const tunbIP = await lab.ip4('tunb');
    const tun = await stream(sp, kernel('tuna'), { ...kernel('tunb'), ip: tunbIP }, bytes);
    rows.push({ name: 'one TCP stream, TUN ↔ TUN (two agent daemons, kernel TCP)', value: tun.gbps, unit: 'Gbit/s' });
    const et = await stream(sp, embedded('emba', lab.controlURL, key), { ...kernel('tunb'), ip: tunbIP }, bytes);
    rows.push({ name: 'one TCP stream, embedded → TUN', value: et.gbps, unit: 'Gbit/s', baseline: tun.gbps, note: `retransmits ${et.retransmits}` });
    const ee = await stream(sp, embedded('emba', lab.controlURL, key), embedded('embb', lab.controlURL, key), bytes);
    rows.push({ name: 'one TCP stream, embedded ↔ embedded (two processes)', value: ee.gbps, unit: 'Gbit/s', baseline: tun.gbps, note: `retransmits ${ee.retransmits}` });
    const s = await setupRate(sp, embedded('emba', lab.controlURL, key), embedded('embb', lab.controlURL, key), conns);
    rows.push({ name: `connection set-up + close, embedded → embedded (${conns}, 32 at a time)`, value: s.connPerSec, unit: 'conn/s', note: s.failed ? `${s.failed} failed` : '' });
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
