// Starts WireGuard nodes inside namespaces for the interop suite and the data-plane benchmark: our
// `bin/agent wg` (configured from a wg-quick file) or Debian's wireguard-go (configured with `wg set`,
// addresses and routes with `ip`, the recipe in spec/wireguard.md). Both expose the UAPI socket, so
// `wg show <if> dump` reads either one the same way.
import { existsSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../../crypto/key.js';
import { NetnsScope, nsRun, run, waitFor } from '../netns.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const AGENT_BIN = path.join(REPO, 'bin', 'agent');

export interface NodeKeys {
  priv: string;
  pub: string;
}

export function newKeys(): NodeKeys {
  const k = generatePrivateKey();
  return { priv: keyToBase64(k), pub: keyToBase64(publicKeyFromPrivate(k)) };
}

export interface PeerSpec {
  pub: string;
  psk?: string;
  allowedIPs: string[];
  endpoint?: string;
  keepalive?: number;
}

export interface NodeSpec {
  kind: 'ours' | 'wggo';
  ns: string;
  ifname: string;
  keys: NodeKeys;
  port: number;
  /** Tunnel address with prefix, e.g. 198.51.100.1/24. */
  address: string;
  mtu?: number;
  peers: PeerSpec[];
  /** Ours only: extra `agent wg` flags (e.g. ['--rekey-after', '10s']). */
  extraArgs?: string[];
  /** Ours only: extra environment (e.g. GRANTWIRE_REKEY_AFTER_TIME_MS). */
  env?: NodeJS.ProcessEnv;
  /** Ours only: wrap node with these args (e.g. ['--cpu-prof', '--cpu-prof-dir', DIR]). */
  nodeArgs?: string[];
}

export interface RunningNode {
  spec: NodeSpec;
  proc: ChildProcess;
  logFile: string;
  keyLogFile: string;
  log(): string;
  /** `wg show <if> dump` parsed: peers with endpoint, last handshake (s), rx, tx. */
  dump(): Array<{ pub: string; endpoint: string; lastHandshake: number; rx: number; tx: number }>;
  wg(...args: string[]): string;
}

export function tmpDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

function configText(s: NodeSpec): string {
  const lines = ['[Interface]', `PrivateKey = ${s.keys.priv}`, `ListenPort = ${s.port}`, `Address = ${s.address}`, `MTU = ${s.mtu ?? 1420}`];
  for (const p of s.peers) {
    lines.push('', '[Peer]', `PublicKey = ${p.pub}`, `AllowedIPs = ${p.allowedIPs.join(', ')}`);
    if (p.psk) lines.push(`PresharedKey = ${p.psk}`);
    if (p.endpoint) lines.push(`Endpoint = ${p.endpoint}`);
    if (p.keepalive) lines.push(`PersistentKeepalive = ${p.keepalive}`);
  }
  return lines.join('\n') + '\n';
}

const sockPath = (ifname: string): string => `/var/run/wireguard/${ifname}.sock`;

export async function startNode(scope: NetnsScope, s: NodeSpec, dir: string): Promise<RunningNode> {
  const logFile = path.join(dir, `${s.ifname}.log`);
  const keyLogFile = path.join(dir, `${s.ifname}.keylog`);
  writeFileSync(logFile, '');
  let proc: ChildProcess;
  if (s.kind === 'ours') {
    const conf = path.join(dir, `${s.ifname}.conf`);
    writeFileSync(conf, configText(s), { mode: 0o600 });
    const args = ['--import', `file://${REPO}/node_modules/tsx/dist/loader.mjs`, ...(s.nodeArgs ?? []), path.join(REPO, 'agent/cli/main.ts'),
      'wg', '--config', conf, '--tun', s.ifname, '--key-log', keyLogFile, '--verbose', ...(s.extraArgs ?? [])];
    proc = scope.spawn(s.ns, process.execPath, args, { logFile, env: { ...process.env, ...s.env } });
  } else {
    proc = scope.spawn(s.ns, 'wireguard-go', [s.ifname], {
      logFile,
      env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'verbose' },
    });
  }
  const up = await waitFor(() => existsSync(sockPath(s.ifname)) || proc.exitCode !== null, 15_000);
  if (!up || proc.exitCode !== null) {
    throw new Error(`${s.kind} node ${s.ifname} did not start: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
  }
  if (s.kind === 'wggo') {
    const key = path.join(dir, `${s.ifname}.key`);
    writeFileSync(key, s.keys.priv + '\n', { mode: 0o600 });
    const args = ['set', s.ifname, 'listen-port', String(s.port), 'private-key', key];
    for (const [i, p] of s.peers.entries()) {
      args.push('peer', p.pub, 'allowed-ips', p.allowedIPs.join(','));
      if (p.psk) {
        const f = path.join(dir, `${s.ifname}.psk${i}`);
        writeFileSync(f, p.psk + '\n', { mode: 0o600 });
        args.push('preshared-key', f);
      }
      if (p.endpoint) args.push('endpoint', p.endpoint);
      if (p.keepalive) args.push('persistent-keepalive', String(p.keepalive));
    }
    nsRun(s.ns, 'wg', args);
    nsRun(s.ns, 'ip', ['addr', 'add', s.address, 'dev', s.ifname]);
    nsRun(s.ns, 'ip', ['link', 'set', s.ifname, 'mtu', String(s.mtu ?? 1420), 'up']);
    for (const p of s.peers) for (const a of p.allowedIPs) nsRun(s.ns, 'ip', ['route', 'replace', a, 'dev', s.ifname]);
  } else {
    // The agent prints its banner once the interface is configured and the UAPI socket is served.
    await waitFor(() => readFileSync(logFile, 'utf8').includes('interface ') || proc.exitCode !== null, 10_000);
  }
  const wg = (...args: string[]): string => run('wg', args);
  return {
    spec: s,
    proc,
    logFile,
    keyLogFile,
    log: () => readFileSync(logFile, 'utf8'),
    wg,
    dump() {
      const lines = wg('show', s.ifname, 'dump').trim().split('\n').slice(1);
      return lines.map((l) => {
        const f = l.split('\t');
        return { pub: f[0], endpoint: f[2], lastHandshake: Number(f[4]), rx: Number(f[5]), tx: Number(f[6]) };
      });
    },
  };
}

/** ping -c N from a namespace; true when every reply came back. */
export function ping(ns: string, dst: string, count = 3, size?: number): boolean {
  try {
    nsRun(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', ...(size !== undefined ? ['-s', String(size)] : []), dst]);
    return true;
  } catch {
    return false;
  }
}

export interface IperfResult {
  gbps: number;
  retransmits: number;
}

/** iperf3 TCP from `clientNs` to a one-shot server in `serverNs` bound to `serverIP`; `seconds` long. */
export async function iperf(scope: NetnsScope, serverNs: string, serverIP: string, clientNs: string, seconds: number, port = 5201): Promise<IperfResult> {
  const server = scope.spawn(serverNs, 'iperf3', ['-s', '-1', '-B', serverIP, '-p', String(port)]);
  await waitFor(() => {
    try {
      return nsRun(serverNs, 'ss', ['-ltn']).includes(`:${port}`);
    } catch {
      return false;
    }
  }, 5000);
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) => {
    execFile('ip', ['netns', 'exec', clientNs, 'iperf3', '-c', serverIP, '-p', String(port), '-t', String(seconds), '-J'],
      { timeout: (seconds + 20) * 1000, maxBuffer: 16 << 20 }, (err, stdout) => (err && !stdout ? reject(err) : resolve(stdout)));
  });
  await scope.stop(server, 2000);
  const j = JSON.parse(out) as { error?: string; end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } } };
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  return { gbps: (j.end?.sum_received?.bits_per_second ?? 0) / 1e9, retransmits: j.end?.sum_sent?.retransmits ?? 0 };
}
