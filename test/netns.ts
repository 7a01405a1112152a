// Network-namespace helpers for root-only suites (interop, e2e, benchmarks): create namespaces joined by
// veth pairs with TEST-NET underlays, run commands inside them, and tear everything down — killing only
// the processes started through a NetnsScope, by PID. Callers prefix names with their area (`gwi-`,
// `gwe-`, `gwb-`) so that parallel suites never collide.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** True when `name` is an executable on PATH. */
export function haveCommand(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(path.join(dir, name))) return true;
  }
  return false;
}

/** Runs a command synchronously; throws with its stderr on a non-zero exit. Returns stdout. */
export function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** Runs a command inside a namespace (ip netns exec). */
export function nsRun(ns: string, cmd: string, args: string[], input?: string): string {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], input);
}

/** Like nsRun but returns null instead of throwing. */
export function nsTry(ns: string, cmd: string, args: string[]): string | null {
  try {
    return nsRun(ns, cmd, args);
  } catch {
    return null;
  }
}

/** Creates a namespace (deleting a stale one of the same name first) with loopback up. */
export function createNetns(name: string): void {
  deleteNetns(name);
  run('ip', ['netns', 'add', name]);
  run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

/** Deletes a namespace; no error if it does not exist. */
export function deleteNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** A veth pair between two namespaces, both ends up. */
export function vethPair(nsA: string, ifA: string, nsB: string, ifB: string): void {
  run('ip', ['link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
  run('ip', ['-n', nsA, 'link', 'set', ifA, 'up']);
  run('ip', ['-n', nsB, 'link', 'set', ifB, 'up']);
}

export function addAddr(ns: string, ifname: string, prefix: string): void {
  run('ip', ['-n', ns, 'addr', 'add', prefix, 'dev', ifname, ...(prefix.includes(':') ? ['nodad'] : [])]);
}

export function delAddr(ns: string, ifname: string, prefix: string): void {
  run('ip', ['-n', ns, 'addr', 'del', prefix, 'dev', ifname]);
}

/** Polls `pred` until it returns true or `timeoutMs` passes; returns whether it became true. */
export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Two namespaces `${prefix}a` / `${prefix}b` joined by veth `${prefix}va` / `${prefix}vb`. */
export interface NsPair {
  a: string;
  b: string;
  ifA: string;
  ifB: string;
}

/**
 * Owns namespaces and processes for one suite: everything it created is removed by cleanup(), which is
 * safe to call more than once and after partial setup failures.
 */
export class NetnsScope {
  readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];

  /** Creates and records a namespace. */
  netns(name: string): string {
    createNetns(name);
    this.namespaces.push(name);
    return name;
  }

  /**
   * Two namespaces with a veth pair and underlay addresses (default 192.0.2.1/24 and 192.0.2.2/24, plus
   * 2001:db8:ffff::1/64 and ::2/64 for IPv6 underlay tests).
   */
  pair(prefix: string, addrA = '192.0.2.1/24', addrB = '192.0.2.2/24'): NsPair {
    const a = this.netns(`${prefix}a`);
    const b = this.netns(`${prefix}b`);
    const ifA = `${prefix}va`;
    const ifB = `${prefix}vb`;
    vethPair(a, ifA, b, ifB);
    addAddr(a, ifA, addrA);
    addAddr(b, ifB, addrB);
    addAddr(a, ifA, '2001:db8:ffff::1/64');
    addAddr(b, ifB, '2001:db8:ffff::2/64');
    return { a, b, ifA, ifB };
  }

  /**
   * Starts a process inside a namespace; stdout+stderr go to `logFile` when given. The process is
   * recorded and killed (by PID) in cleanup().
   */
  spawn(ns: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; logFile?: string } = {}): ChildProcess {
    const spawnOpts: SpawnOptions = { env: opts.env ?? process.env, stdio: 'ignore' };
    let fd = -1;
    if (opts.logFile) {
      fd = openSync(opts.logFile, 'a');
      spawnOpts.stdio = ['ignore', fd, fd];
    }
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], spawnOpts);
    if (fd >= 0) closeSync(fd);
    child.on('error', () => {});
    this.children.push(child);
    return child;
  }

  /** Sends SIGTERM to one recorded child and waits (up to `ms`) for it to exit, then SIGKILLs it. */
  async stop(child: ChildProcess, ms = 3000): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.children.map((c) => this.stop(c, 2000)));
    this.children.length = 0;
    for (const ns of this.namespaces.splice(0)) deleteNetns(ns);
  }
}
