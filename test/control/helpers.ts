// Test harness for control: a real ControlServer on 127.0.0.1 (port 0) over a temporary SQLite file, and
// in-process agents built on ControlClient. Used by the control suites under test/control/.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Netmap } from '../../types/netmap.js';
import { generatePrivateKey, keyFromHex } from '../../crypto/key.js';
import { openChannel, type NoiseChannel } from '../../control/channel.js';
import { NOISE_PATH, NOISE_UPGRADE } from '../../control/protocol.js';
import { createAuthKey, addUser, type CreateKeyOptions } from '../../control/admin-ops.js';
import { ControlClient, type ClientHostinfo } from '../../control/client.js';
import { memoryLogger } from '../../control/logger.js';
import { policyEngine, type PolicyEngine } from '../../control/policy-engine.js';
import { ControlServer, type ControlServerOptions } from '../../control/server.js';
import type { PreAuthLimits } from '../../control/preauth-limits.js';
import type { UpdateRate } from '../../control/update-limiter.js';
import { Store } from '../../control/store.js';
import type { ControlRelay } from '../../control/relay-hook.js';
import type { UserRole } from '../../types/tailnet.js';

export interface Harness {
  dir: string;
  statePath: string;
  store: Store;
  server: ControlServer;
  url: string;
  logs: string[];
  addUser(login: string, role?: UserRole): void;
  key(o: CreateKeyOptions): string;
  /** Stops the server and closes the store (the directory stays for restart tests). */
  stop(): Promise<void>;
  /** stop() and remove the directory. */
  close(): Promise<void>;
}

export interface HarnessOptions {
  policy?: string;
  dir?: string;
  engine?: PolicyEngine;
  ephemeralTimeoutMs?: number;
  nodeKeyExpiryMs?: number;
  keepAliveMs?: number;
  pollIntervalMs?: number;
  port?: number;
  /** Serve HTTPS with this PEM certificate and key. */
  tls?: { cert: string; key: string };
  preAuth?: PreAuthLimits;
  updateRate?: UpdateRate;
  webhooks?: ControlServerOptions['webhooks'];
  relay?: ControlRelay;
}

export async function startControl(o: HarnessOptions = {}): Promise<Harness> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'gwc-'));
  const statePath = join(dir, 'control.db');
  const store = new Store(statePath);
  const logger = memoryLogger();
  const server = new ControlServer({
    store,
    engine: o.engine ?? policyEngine,
    logger,
    ephemeralTimeoutMs: o.ephemeralTimeoutMs,
    nodeKeyExpiryMs: o.nodeKeyExpiryMs,
    keepAliveMs: o.keepAliveMs ?? 1000,
    pollIntervalMs: o.pollIntervalMs ?? 100,
    tls: o.tls,
    preAuth: o.preAuth,
    updateRate: o.updateRate,
    webhooks: o.webhooks,
    relay: o.relay,
  });
  if (o.policy !== undefined) {
    const r = server.coordinator.setPolicy(o.policy, 'policy.hujson');
    if (!r.ok) throw new Error(`test policy rejected: ${r.diagnostics.map((d) => `${d.line}:${d.col}: ${d.message}`).join('; ')}`);
  }
  await server.listen('127.0.0.1', o.port ?? 0);
  let stopped = false;
  const h: Harness = {
    dir,
    statePath,
    store,
    server,
    url: server.url,
    logs: logger.lines,
    addUser(login, role = 'member') {
      addUser(store, login, role);
      server.coordinator.poll();
    },
    key(k) {
      return createAuthKey(store, k).key;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      store.close();
    },
    async close() {
      await h.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

export interface TestAgent {
  client: ControlClient;
  machinePrivateKey: Uint8Array;
  nodePrivateKey: Uint8Array;
  netmaps: Netmap[];
  latest(): Netmap | undefined;
  /** Starts streaming; returns once the first netmap arrived. */
  stream(endpoints?: string[], hostinfo?: ClientHostinfo, firstTimeoutMs?: number): Promise<Netmap>;
  /** Resolves with the latest netmap if it satisfies pred, else with the first future one that does. */
  waitFor(pred: (nm: Netmap) => boolean, timeoutMs?: number): Promise<Netmap>;
  stop(): Promise<void>;
  streamError: unknown;
}

export function newAgent(url: string, keys?: { machine?: Uint8Array; node?: Uint8Array; connectTimeoutMs?: number }): TestAgent {
  const machinePrivateKey = keys?.machine ?? generatePrivateKey();
  const nodePrivateKey = keys?.node ?? generatePrivateKey();
  const client = new ControlClient({
    serverUrl: url,
    machinePrivateKey,
    nodePrivateKey,
    keepAliveMs: 1000,
    minBackoffMs: 50,
    maxBackoffMs: 500,
    connectTimeoutMs: keys?.connectTimeoutMs,
  });
  const netmaps: Netmap[] = [];
  const waiters: { pred: (nm: Netmap) => boolean; resolve: (nm: Netmap) => void }[] = [];
  let ac: AbortController | null = null;
  let done: Promise<void> | null = null;
  const agent: TestAgent = {
    client,
    machinePrivateKey,
    nodePrivateKey,
    netmaps,
    streamError: undefined,
    latest: () => netmaps[netmaps.length - 1],
    async stream(endpoints = ['192.0.2.1:41641'], hostinfo = { os: 'linux', agentVersion: '1.0.0' }, firstTimeoutMs = 10_000) {
      ac = new AbortController();
      const first = agent.waitFor(() => true, firstTimeoutMs);
      done = client
        .streamMap({ endpoints, hostinfo }, (nm) => {
          netmaps.push(nm);
          for (const w of [...waiters]) {
            if (w.pred(nm)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(nm);
            }
          }
        }, ac.signal)
        .catch((err: unknown) => {
          agent.streamError = err;
        });
      return first;
    },
    waitFor(pred, timeoutMs = 5000) {
      const last = netmaps[netmaps.length - 1];
      if (last && pred(last)) return Promise.resolve(last);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (nm: Netmap) => { clearTimeout(t); resolve(nm); } };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching netmap within ${timeoutMs} ms (got ${netmaps.length}; stream error: ${String(agent.streamError)})`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async stop() {
      ac?.abort();
      await done;
    },
  };
  return agent;
}

export async function waitUntil(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const LINUX = { os: 'linux', osVersion: '6.1', agentVersion: '1.0.0' };

/** Runs bin/control with args; resolves with exit code and output. */
export function runControl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(import.meta.dirname, '../../bin/control'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A raw Noise channel to control (no ControlClient), for protocol-level and security tests. */
export async function rawChannel(url: string, machinePrivateKey = generatePrivateKey()): Promise<{ ch: NoiseChannel; socket: Socket; serverKey: Uint8Array }> {
  const res = await fetch(new URL('/key', url));
  const serverKey = keyFromHex(((await res.json()) as { publicKey: string }).publicKey);
  const { socket, head } = await new Promise<{ socket: Socket; head: Buffer }>((resolve, reject) => {
    const req = request(new URL(NOISE_PATH, url), { method: 'POST', headers: { Connection: 'Upgrade', Upgrade: NOISE_UPGRADE } });
    req.on('upgrade', (_r, socket, head) => resolve({ socket, head }));
    req.on('response', () => reject(new Error('no upgrade')));
    req.on('error', reject);
    req.end();
  });
  const ch = await openChannel(socket, head, machinePrivateKey, serverKey);
  return { ch, socket, serverKey };
}
