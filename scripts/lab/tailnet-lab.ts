// A tailnet on one machine, for the demo (`npm start`) and the end-to-end suite: a hub network namespace
// with a bridge on a TEST-NET underlay (198.51.100.0/24) where control listens, and one namespace per
// agent plugged into that bridge, each running a real `agent daemon` (real TUN, real UDP, real control).
// Everything created is recorded and removed by cleanup(); processes are killed by PID only.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addAddr, haveCommand, isRoot, NetnsScope, run, vethPair, waitFor } from '../../test/netns.js';

export const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
export const AGENT_BIN = join(ROOT, 'bin', 'agent');
export const CONTROL_BIN = join(ROOT, 'bin', 'control');
export const TSX_LOADER = `file://${join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')}`;

export const UNDERLAY_PREFIX = '198.51.100';
export const CONTROL_PORT = 8080;

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface LabNode {
  name: string;
  ns: string;
  underlayIP: string;
  stateDir: string;
  socket: string;
  logFile: string;
  daemon: ChildProcess | null;
}

/** What is missing to run the lab here (empty when everything is in place). */
export function labPrerequisites(): string[] {
  const missing: string[] = [];
  if (!isRoot()) missing.push('root (network namespaces and TUN devices need it): run with sudo');
  if (!haveCommand('ip')) missing.push("iproute2's `ip` command (apt-get install iproute2)");
  if (!existsSync('/dev/net/tun')) missing.push('/dev/net/tun (the tun kernel module: modprobe tun)');
  if (!existsSync(join(ROOT, 'build', 'Release', 'grantwire_native.node'))) missing.push('the native addon (run `npm ci` or `npm run install` with g++ and Node headers)');
  return missing;
}

/** Runs a command to completion, capturing output; never throws for a non-zero exit. */
export function runCmd(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<CmdResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface LabOptions {
  /** First three octets of the /24 underlay (default UNDERLAY_PREFIX); suites that need 198.51.100.0/24 for
   * something else (the routes suite's "Internet") move the underlay to 192.0.2. */
  underlayPrefix?: string;
  /**
   * An IPv6-only underlay instead: a /64 in 2001:db8::/32 written as the part before `::` (`2001:db8:6` for
   * 2001:db8:6::/64). Control listens on `[PREFIX::1]`, nodes get `PREFIX::<n>/64` and no IPv4 underlay
   * address at all.
   */
  underlay6?: string;
}

export class TailnetLab {
  readonly scope = new NetnsScope();
  readonly hub: string;
  readonly bridge: string;
  readonly underlayPrefix: string;
  /** The IPv6 /64 (the part before `::`) when the underlay is IPv6-only, else null. */
  readonly underlay6: string | null;
  readonly controlIP: string;
  readonly controlURL: string;
  readonly stateFile: string;
  readonly nodes = new Map<string, LabNode>();
  private nextHost = 10;

  constructor(
    readonly prefix: string,
    readonly dir: string,
    opts: LabOptions = {},
  ) {
    this.underlayPrefix = opts.underlayPrefix ?? UNDERLAY_PREFIX;
    this.underlay6 = opts.underlay6 ?? null;
    this.controlIP = this.underlayAddress(1);
    this.controlURL = `http://${this.underlay6 ? `[${this.controlIP}]` : this.controlIP}:${CONTROL_PORT}`;
    this.hub = `${prefix}hub`;
    this.bridge = `${prefix}br`;
    this.stateFile = join(dir, 'control.db');
    mkdirSync(dir, { recursive: true });
    // World-traversable, so unprivileged callers can reach the LocalAPI sockets under sock/ (state dirs
    // stay 0700: the daemon refuses a state dir group or others can read).
    chmodSync(dir, 0o755);
  }

  /** The hub namespace with the bridge, and control serving `policyFile` on it. */
  async startControl(policyFile: string, extra: string[] = []): Promise<void> {
    this.scope.netns(this.hub);
    run('ip', ['-n', this.hub, 'link', 'add', this.bridge, 'type', 'bridge']);
    run('ip', ['-n', this.hub, 'link', 'set', this.bridge, 'up']);
    addAddr(this.hub, this.bridge, `${this.controlIP}/${this.underlayBits}`);
    const log = join(this.dir, 'control.log');
    this.scope.spawn(this.hub, CONTROL_BIN, ['serve', '--listen', this.hostPort(this.controlIP, CONTROL_PORT), '--state', this.stateFile, '--policy', policyFile, ...extra], { logFile: log });
    const up = await waitFor(async () => (await runCmd('ip', ['netns', 'exec', this.hub, 'node', '-e', `fetch('${this.controlURL}/key').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`])).code === 0, 30_000, 200);
    if (!up) throw new Error(`control did not come up; see ${log}:\n${tail(log)}`);
  }

  /**
   * A standalone relay (`control relay`) on the hub at `port`: creates its key file now and returns the
   * `--extra-relay` value for startControl (URL, the relay key agents pin, STUN on the same port) and
   * start(), which runs the relay in the hub once control is up.
   */
  async standaloneRelay(name: string, port: number, secretFile: string, extra: string[] = []): Promise<{ extraRelay: string; start: () => ChildProcess }> {
    const keyFile = join(this.dir, `${name}.key`);
    const r = await runCmd(CONTROL_BIN, ['relay', '--key-file', keyFile, '--print-key']);
    if (r.code !== 0) throw new Error(`control relay --print-key: ${r.stderr || r.stdout}`);
    const hostPort = this.hostPort(this.controlIP, port);
    return {
      extraRelay: `${name}=http://${hostPort};key=${r.stdout.trim()};stun=${port}`,
      start: () =>
        this.scope.spawn(this.hub, CONTROL_BIN, ['relay', '--listen', hostPort, '--control', this.controlURL, '--secret-file', secretFile, '--key-file', keyFile, ...extra], {
          logFile: join(this.dir, `${name}.log`),
        }),
    };
  }

  /** Runs `control …` against the lab's state file (admin commands work while serve runs). */
  async controlCmd(args: string[]): Promise<CmdResult> {
    return runCmd(CONTROL_BIN, [...args, '--state', this.stateFile]);
  }

  async mustControl(args: string[]): Promise<string> {
    const r = await this.controlCmd(args);
    if (r.code !== 0) throw new Error(`control ${args.join(' ')} failed (${r.code}): ${r.stderr || r.stdout}`);
    return r.stdout.trim();
  }

  async addUser(login: string, role: 'admin' | 'member' = 'member'): Promise<void> {
    await this.mustControl(['users', 'add', login, '--role', role]);
  }

  async createKey(user: string, opts: { reusable?: boolean; ephemeral?: boolean; tags?: string[] } = {}): Promise<string> {
    const args = ['keys', 'create', '--user', user];
    if (opts.reusable) args.push('--reusable');
    if (opts.ephemeral) args.push('--ephemeral');
    if (opts.tags && opts.tags.length > 0) args.push('--tags', opts.tags.join(','));
    return this.mustControl(args);
  }

  /** A namespace on the bridge with a running agent daemon (not logged in yet). */
  async addNode(name: string): Promise<LabNode> {
    const node = this.addNetns(name);
    await this.startDaemon(node);
    return node;
  }

  /** A namespace on the bridge without a daemon (for embedded nodes, which bring their own netstack). */
  addNetns(name: string): LabNode {
    const ns = `${this.prefix}${name}`;
    const host = this.nextHost++;
    this.scope.netns(ns);
    const hubIf = `${this.prefix}v${host}`;
    vethPair(ns, 'eth0', this.hub, hubIf);
    run('ip', ['-n', this.hub, 'link', 'set', hubIf, 'master', this.bridge]);
    const underlayIP = this.underlayAddress(host);
    addAddr(ns, 'eth0', `${underlayIP}/${this.underlayBits}`);
    const stateDir = join(this.dir, name);
    mkdirSync(stateDir, { recursive: true, mode: 0o700 }); // the agent refuses a state dir others can read
    const node: LabNode = { name, ns, underlayIP, stateDir, socket: join(this.dir, 'sock', `${name}.sock`), logFile: join(this.dir, `${name}.log`), daemon: null };
    this.nodes.set(name, node);
    return node;
  }

  /** Host `n` of the underlay: `PREFIX.n` on IPv4, `PREFIX::n` (n in hex digits as written) on IPv6. */
  underlayAddress(n: number): string {
    return this.underlay6 ? `${this.underlay6}::${n}` : `${this.underlayPrefix}.${n}`;
  }

  /** The underlay's prefix length (a /24 or a /64). */
  get underlayBits(): number {
    return this.underlay6 ? 64 : 24;
  }

  /** `ip:port` or `[ip]:port`. */
  hostPort(ip: string, port: number): string {
    return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
  }

  async startDaemon(node: LabNode): Promise<void> {
    node.daemon = this.scope.spawn(node.ns, AGENT_BIN, ['daemon', '--state-dir', node.stateDir, '--socket', node.socket, '--tun', 'gw0', '--port', '41641'], {
      logFile: node.logFile,
    });
    const ok = await waitFor(async () => node.daemon!.exitCode !== null || (await socketAnswers(node.socket)), 30_000, 100);
    if (!ok || node.daemon.exitCode !== null) throw new Error(`agent daemon ${node.name} did not start; see ${node.logFile}:\n${tail(node.logFile)}`);
  }

  async stopDaemon(node: LabNode): Promise<void> {
    if (node.daemon) await this.scope.stop(node.daemon, 5000);
    node.daemon = null;
  }

  node(name: string): LabNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no lab node ${name}`);
    return n;
  }

  /** `agent ARGS` inside the node's namespace, talking to its daemon. */
  agent(name: string, args: string[], timeoutMs = 60_000): Promise<CmdResult> {
    const n = this.node(name);
    return runCmd('ip', ['netns', 'exec', n.ns, AGENT_BIN, '--socket', n.socket, ...args], { timeoutMs });
  }

  async mustAgent(name: string, args: string[]): Promise<string> {
    const r = await this.agent(name, args);
    if (r.code !== 0) throw new Error(`agent ${args.join(' ')} on ${name} failed (${r.code}): ${r.stderr || r.stdout}\n--- daemon log ---\n${tail(this.node(name).logFile)}`);
    return r.stdout;
  }

  async up(name: string, authKey: string, opts: { tags?: string[]; hostname?: string; extra?: string[] } = {}): Promise<CmdResult> {
    const args = ['up', '--login-server', this.controlURL, '--auth-key', authKey, '--hostname', opts.hostname ?? name, ...(opts.extra ?? [])];
    if (opts.tags && opts.tags.length > 0) args.push('--advertise-tags', opts.tags.join(','));
    return this.agent(name, args);
  }

  /**
   * A LAN behind subnet routers (issue 14): namespace `${prefix}${name}` with a bridge holding `hostCidr`
   * (the LAN host itself), and in each router's namespace an interface `lan0` with its LAN address, plugged
   * into that bridge. Returns the LAN namespace (serve things there with scope.spawn).
   */
  addLan(name: string, hostCidr: string, routers: { node: string; cidr: string }[]): string {
    const ns = this.scope.netns(`${this.prefix}${name}`);
    run('ip', ['-n', ns, 'link', 'add', 'lanbr', 'type', 'bridge']);
    run('ip', ['-n', ns, 'link', 'set', 'lanbr', 'up']);
    addAddr(ns, 'lanbr', hostCidr);
    routers.forEach((r, i) => {
      const peer = `${this.prefix}${name.slice(0, 3)}${i}`;
      vethPair(this.node(r.node).ns, 'lan0', ns, peer);
      run('ip', ['-n', ns, 'link', 'set', peer, 'master', 'lanbr']);
      addAddr(this.node(r.node).ns, 'lan0', r.cidr);
    });
    return ns;
  }

  /** The node's tailnet IPv4. */
  async ip4(name: string): Promise<string> {
    return (await this.mustAgent(name, ['ip', '-4'])).trim();
  }

  /** Runs a TypeScript file from this repo inside a namespace (for traffic helpers and the example app). */
  spawnTs(name: string, file: string, args: string[], logFile?: string): ChildProcess {
    const n = this.node(name);
    return this.scope.spawn(n.ns, process.execPath, ['--import', TSX_LOADER, join(ROOT, file), ...args], { logFile, env: { ...process.env, GRANTWIRE_SOCKET: n.socket } });
  }

  /**
   * Like spawnTs but with piped stdout (the caller reads it); killed by PID at cleanup too. With `uid` the
   * process drops to that user and group (setpriv execs in place, so the PID is still the process's own).
   */
  spawnTsPiped(name: string, file: string, args: string[], opts: { uid?: number } = {}): ChildProcess {
    const n = this.node(name);
    const drop = opts.uid === undefined ? [] : ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups'];
    const child = spawn('ip', ['netns', 'exec', n.ns, ...drop, process.execPath, '--import', TSX_LOADER, join(ROOT, file), ...args], {
      env: { ...process.env, GRANTWIRE_SOCKET: n.socket },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    (this.scope as unknown as { children: ChildProcess[] }).children.push(child);
    return child;
  }

  async runTs(name: string, file: string, args: string[], timeoutMs = 30_000): Promise<CmdResult> {
    const n = this.node(name);
    return runCmd('ip', ['netns', 'exec', n.ns, process.execPath, '--import', TSX_LOADER, join(ROOT, file), ...args], { timeoutMs, env: { ...process.env, GRANTWIRE_SOCKET: n.socket } });
  }

  async cleanup(keepDir = false): Promise<void> {
    await this.scope.cleanup();
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** True when something accepts connections on the unix socket. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}

export function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Opens (creating) a log file and closes it again: makes sure the path is writable early. */
export function touch(file: string): void {
  closeSync(openSync(file, 'a'));
}
