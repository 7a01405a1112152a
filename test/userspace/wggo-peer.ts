// A wireguard-go device as a tailnet node, for the mixed-tailnet suite. wireguard-go speaks WireGuard only,
// so this test-side "sidecar" does the control half for it, the way any plain-WireGuard peer would have to:
// it registers the device's own key with control (an auth key, tags) over the real Noise channel
// (control/client.ts), streams that node's netmap with the device's underlay address as its endpoint, and
// applies every netmap to the running device with `wg syncconf` (peers' node keys, allowed IPs, the
// endpoint on the underlay subnet) and `ip` (the node's tailnet addresses, routes for the tailnet ranges).
// wireguard-go has no packet filter and no disco: peers reach it on the endpoint control lists.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../../control/client.js';
import { generatePrivateKey, keyToBase64, NodePublic } from '../../crypto/key.js';
import { chooseEndpoint } from '../../agent/netmap-apply.js';
import { parsePrefix } from '../../types/ip.js';
import { TAILNET_V4_RANGE, TAILNET_V6_RANGE } from '../../types/filter-rule.js';
import type { Netmap } from '../../types/netmap.js';
import { runCmd } from '../../scripts/lab/tailnet-lab.js';
import { nsRun, waitFor, type NetnsScope } from '../netns.js';

export interface WgGoPeerOptions {
  scope: NetnsScope;
  ns: string;
  ifname: string;
  dir: string;
  controlURL: string;
  authKey: string;
  hostname: string;
  tags: string[];
  /** The device's underlay address (its endpoint) and UDP port. */
  underlayIP: string;
  port: number;
  /** The underlay subnet: peers' endpoints inside it are the ones this device can reach. */
  underlayPrefix: string;
}

/** The `wg setconf`/`syncconf` text (not wg-quick: no Address) for a device key, port and netmap. */
export function wgConfigFromNetmap(privateKeyB64: string, port: number, nm: Netmap, underlayPrefix: string): string {
  const local = parsePrefix(underlayPrefix);
  const lines = ['[Interface]', `PrivateKey = ${privateKeyB64}`, `ListenPort = ${port}`];
  for (const p of nm.peers) {
    const pub = NodePublic.tryParse(p.nodeKey);
    if (!pub) continue;
    lines.push('', '[Peer]', `PublicKey = ${keyToBase64(pub)}`, `AllowedIPs = ${(p.allowedIPs.length > 0 ? p.allowedIPs : p.addresses).join(', ')}`);
    const ep = chooseEndpoint(p.endpoints, local ? [local] : []);
    if (ep) lines.push(`Endpoint = ${ep}`);
  }
  return lines.join('\n') + '\n';
}

export class WgGoPeer {
  readonly privateKey = generatePrivateKey();
  readonly client: ControlClient;
  proc: ChildProcess | null = null;
  netmap: Netmap | null = null;
  /** How many netmaps were applied to the device. */
  applied = 0;
  lastError = '';
  private readonly ac = new AbortController();
  private streaming: Promise<void> | null = null;
  private addresses: string[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: WgGoPeerOptions) {
    this.client = new ControlClient({ serverUrl: o.controlURL, machinePrivateKey: generatePrivateKey(), nodePrivateKey: this.privateKey });
  }

  get logFile(): string {
    return join(this.o.dir, `${this.o.ifname}.log`);
  }

  /** The node's tailnet IPv4 (no prefix length); '' before the first netmap. */
  get ip4(): string {
    return (this.netmap?.self.addresses.find((a) => !a.includes(':')) ?? '').replace(/\/\d+$/, '');
  }

  async start(): Promise<void> {
    const o = this.o;
    writeFileSync(this.logFile, '');
    this.proc = o.scope.spawn(o.ns, 'wireguard-go', [o.ifname], { logFile: this.logFile, env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'verbose' } });
    const sock = `/var/run/wireguard/${o.ifname}.sock`;
    if (!(await waitFor(() => existsSync(sock) || this.proc!.exitCode !== null, 15_000)) || this.proc.exitCode !== null) {
      throw new Error(`wireguard-go ${o.ifname} did not start: ${readFileSync(this.logFile, 'utf8').slice(-2000)}`);
    }
    nsRun(o.ns, 'ip', ['link', 'set', o.ifname, 'mtu', '1280', 'up']);
    await this.client.register({ authKey: o.authKey, hostname: o.hostname, hostinfo: { os: 'linux', agentVersion: 'wireguard-go' }, requestTags: o.tags });
    this.streaming = this.client
      .streamMap({ endpoints: [`${o.underlayIP}:${o.port}`], hostinfo: { os: 'linux', hostname: o.hostname, agentVersion: 'wireguard-go' } }, (nm) => this.apply(nm), this.ac.signal)
      .catch((err: Error) => {
        this.lastError = err.message;
      });
    if (!(await waitFor(() => this.applied > 0 || this.lastError !== '', 20_000))) throw new Error('wireguard-go peer: no netmap from control within 20 s');
    if (this.lastError) throw new Error(`wireguard-go peer: ${this.lastError}`);
  }

  /** Netmaps are applied one after another, with async commands (an embedded node may share this event loop). */
  private apply(nm: Netmap): void {
    this.chain = this.chain.then(() => this.applyNow(nm));
  }

  private async applyNow(nm: Netmap): Promise<void> {
    const o = this.o;
    const sh = async (cmd: string, args: string[]): Promise<void> => {
      const r = await runCmd('ip', ['netns', 'exec', o.ns, cmd, ...args]);
      if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
    };
    try {
      const conf = join(o.dir, `${o.ifname}.conf`);
      writeFileSync(conf, wgConfigFromNetmap(keyToBase64(this.privateKey), o.port, nm, o.underlayPrefix), { mode: 0o600 });
      await sh('wg', ['syncconf', o.ifname, conf]);
      const want = nm.self.addresses;
      for (const a of this.addresses.filter((x) => !want.includes(x))) await sh('ip', ['addr', 'del', a, 'dev', o.ifname]);
      for (const a of want.filter((x) => !this.addresses.includes(x))) await sh('ip', ['addr', 'add', a, 'dev', o.ifname, ...(a.includes(':') ? ['nodad'] : [])]);
      if (this.applied === 0) for (const r of [TAILNET_V4_RANGE, TAILNET_V6_RANGE]) await sh('ip', ['route', 'replace', r, 'dev', o.ifname]);
      this.addresses = [...want];
      this.netmap = nm;
      this.applied++;
    } catch (err) {
      this.lastError = (err as Error).message;
    }
  }

  /** `wg show IF dump` peers: public key (base64), endpoint, latest handshake (unix s), rx, tx. */
  dump(): Array<{ pub: string; endpoint: string; lastHandshake: number; rx: number; tx: number }> {
    return nsRun(this.o.ns, 'wg', ['show', this.o.ifname, 'dump'])
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => {
        const f = l.split('\t');
        return { pub: f[0], endpoint: f[2], lastHandshake: Number(f[4]), rx: Number(f[5]), tx: Number(f[6]) };
      });
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.streaming;
    await this.chain;
    if (this.proc) await this.o.scope.stop(this.proc, 3000);
  }
}
