// The agent CLI as users run it (bin/agent, spawned), against a LocalAPI server with a fake backend in
// this process: output formats, --socket before or after the command and GRANTWIRE_SOCKET, --help,
// usage errors (exit 2), and LocalAPI errors (exit 1, message on stderr).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeBackend, syntheticNetmap } from '../../localapi/fake-backend.js';
import { LocalApiServer } from '../../localapi/server.js';
import { HelpRequested, UsageError, type CommandModule } from '../../cli/args.js';

const AGENT = resolve(import.meta.dirname, '..', '..', 'bin', 'agent');

function agent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(AGENT, args, { env: { ...process.env, GRANTWIRE_SOCKET: '', ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      res({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

describe('agent CLI over a LocalAPI socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-agent-cli-'));
  const socketPath = join(dir, 'agentd.sock');
  const backend = new FakeBackend(syntheticNetmap(3), (src) => (src === '100.64.0.2' ? { 'example.com/cap/tailsql': [{ dataSrc: ['warehouse'] }] } : null));
  // Writes are allowed for the test process (it is the "daemon's uid").
  const server = new LocalApiServer({ socketPath, backend, peerUid: () => process.getuid?.() ?? null });

  beforeAll(async () => {
    await server.listen();
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('status: --socket after the command', async () => {
    const r = await agent(['status', '--socket', socketPath]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^100\.64\.0\.1\s+node-1\s+alice@\s+linux\s+-$/);
    expect(r.stdout).toMatch(/^100\.64\.0\.3\s+node-3\s+tagged-devices\s+linux\s+idle$/m);
  });

  it('status --json: --socket before the command; Tailscale shape', async () => {
    const r = await agent(['--socket', socketPath, 'status', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const st = JSON.parse(r.stdout) as { BackendState: string; Self: { HostName: string }; Peer: Record<string, { HostName: string; TailscaleIPs: string[]; Online: boolean }> };
    expect(st.BackendState).toBe('Running');
    expect(st.Self.HostName).toBe('node-1');
    const peer = st.Peer[`nodekey:${(2).toString(16).padStart(64, '0')}`];
    expect(peer).toMatchObject({ HostName: 'node-2', TailscaleIPs: ['100.64.0.2', 'fd7a:115c:a1e0::2'], Online: true });
  });

  it.each([
    { name: 'direct', path: { Endpoint: '198.51.100.7:41641' }, want: 'via direct 198.51.100.7:41641 in' },
    { name: 'relayed', path: { Relay: 'r2' }, want: 'via relay r2 in' },
    { name: 'unnamed (an older daemon: status has no path for the peer)', path: {}, want: 'via ICMP through the tunnel in' },
  ])('ping: each reply line names the path that reply came on ($name)', async ({ path, want }) => {
    backend.pingPath = path;
    const r = await agent(['--socket', socketPath, 'ping', '-c', '1', 'node-2']);
    backend.pingPath = {};
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`pong from node-2 (100.64.0.2) ${want} 1.00ms\n`);
  });

  it('whois through GRANTWIRE_SOCKET: Machine, User, Capabilities', async () => {
    const r = await agent(['whois', '100.64.0.2:1234'], { GRANTWIRE_SOCKET: socketPath });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      'Machine:\n  Name:          node-2.example.grantwire.\n  ID:            2\n  Addresses:     [100.64.0.2/32 fd7a:115c:a1e0::2/128]\n' +
        'User:\n  Name:     alice@example.com\n  ID:       7\nCapabilities:\n  - example.com/cap/tailsql:\n    {"dataSrc":["warehouse"]}\n',
    );
  });

  it('whois of an unknown address: exit 1, "no match" on stderr', async () => {
    const r = await agent(['--socket', socketPath, 'whois', '100.64.99.99']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no match for IP:port');
  });

  it('ip -4 / -6 / a peer by name', async () => {
    expect((await agent(['--socket', socketPath, 'ip', '-4'])).stdout).toBe('100.64.0.1\n');
    expect((await agent(['--socket', socketPath, 'ip', '-6'])).stdout).toBe('fd7a:115c:a1e0::1\n');
    expect((await agent(['--socket', socketPath, 'ip', 'node-3'])).stdout).toBe('100.64.0.3\nfd7a:115c:a1e0::3\n');
  });

  it('up with a refused tag: exit 1 with control’s reason', async () => {
    backend.upFailure = 'requested tags [tag:x] are invalid or not permitted';
    try {
      const r = await agent(['--socket', socketPath, 'up', '--login-server', 'http://127.0.0.1:1', '--auth-key', 'k', '--advertise-tags', 'tag:x']);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('agent up: requested tags [tag:x] are invalid or not permitted\n');
    } finally {
      backend.upFailure = null;
    }
  });

  it('up --auth-key file:PATH and --auth-key - send the key without it being in argv', async () => {
    const keyFile = join(dir, 'auth.key');
    writeFileSync(keyFile, 'gwkey-fromfile-secret\n', { mode: 0o600 });
    const r = await agent(['--socket', socketPath, 'up', '--login-server', 'http://127.0.0.1:1', '--auth-key', `file:${keyFile}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(backend.lastUp?.AuthKey).toBe('gwkey-fromfile-secret');
    const viaStdin = await new Promise<number | null>((res) => {
      const child = spawn(AGENT, ['--socket', socketPath, 'up', '--auth-key', '-'], { env: { ...process.env, GRANTWIRE_SOCKET: '' }, stdio: ['pipe', 'ignore', 'ignore'] });
      child.on('close', res);
      child.stdin.end('gwkey-fromstdin-secret\n');
    });
    expect(viaStdin).toBe(0);
    expect(backend.lastUp?.AuthKey).toBe('gwkey-fromstdin-secret');
  });

  it('down, logout and metrics', async () => {
    expect((await agent(['--socket', socketPath, 'down'])).code).toBe(0);
    expect((await agent(['--socket', socketPath, 'logout'])).code).toBe(0);
    expect(backend.calls.slice(-2)).toEqual(['down', 'logout']);
    expect((await agent(['--socket', socketPath, 'metrics'])).stdout).toContain('grantwire_test_total 1');
  });

  it('explain prints the verdict line', async () => {
    const r = await agent(['--socket', socketPath, 'explain', '--src', '100.64.0.2', '--dst', '100.64.0.1', '--proto', 'tcp', '--dport', '22']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^DROP \(no_rule\): 100\.64\.0\.2 → 100\.64\.0\.1:22 proto 6/);
  });

  it('set --shields-up: PATCHes the pref; status then shows the shields line', async () => {
    const r = await agent(['--socket', socketPath, 'set', '--shields-up=true']);
    expect(r.code, r.stderr).toBe(0);
    expect(backend.prefs.ShieldsUp).toBe(true);
    backend.state = 'Running';
    expect((await agent(['--socket', socketPath, 'status'])).stdout).toMatch(/\n# Shields up: this node accepts no new incoming connections\.\n$/);
    expect((await agent(['--socket', socketPath, 'set', '--shields-up', 'false'])).code).toBe(0);
    expect(backend.prefs.ShieldsUp).toBe(false);
  });

  it('no daemon: exit 1 with a hint', async () => {
    const r = await agent(['--socket', join(dir, 'nope.sock'), 'status']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the agent at .*nope\.sock.*is the agent daemon running/);
  });
});

// Usage checks run the command modules in-process (spawning tsx per case is slow on a busy machine); two
// spawned cases check that bin/agent turns them into exit 0 (help) and exit 2 (usage) with the usage text.
const MODULES: Record<string, () => Promise<CommandModule>> = {
  daemon: () => import('./daemon.js'),
  up: () => import('./up.js'),
  down: () => import('./down.js'),
  logout: () => import('./logout.js'),
  status: () => import('./status.js'),
  whois: () => import('./whois.js'),
  ping: () => import('./ping.js'),
  ip: () => import('./ip.js'),
  explain: () => import('./explain.js'),
  metrics: () => import('./metrics.js'),
  set: () => import('./set.js'),
};

describe('agent CLI usage', () => {
  it.each(Object.keys(MODULES))('%s: --help and a bad flag', async (cmd) => {
    const mod = await MODULES[cmd]();
    expect(mod.usage).toMatch(new RegExp(`^usage: agent (\\[--socket PATH\\] )?${cmd}`));
    await expect(mod.run(['--help'])).rejects.toBeInstanceOf(HelpRequested);
    await expect(mod.run(['--no-such-flag'])).rejects.toBeInstanceOf(UsageError);
  });

  it.each([
    { args: ['whois'], msg: 'missing ADDR' },
    { args: ['explain', '--src', '1.2.3.4'], msg: 'missing required flag --dst' },
    { args: ['explain', '--src', 'x', '--dst', '1.2.3.4', '--proto', 'tcp'], msg: 'is not an IP address' },
    { args: ['explain', '--src', '1.2.3.4', '--dst', '1.2.3.5', '--proto', 'bogus'], msg: '--proto' },
    { args: ['up', '--advertise-tags', 'prod'], msg: 'invalid tag' },
    { args: ['up', '--login-server', 'ftp://x'], msg: '--login-server must be an http(s) URL' },
    { args: ['ip', '-4', '-6'], msg: 'exclusive' },
    { args: ['ping'], msg: 'missing PEER' },
    { args: ['set'], msg: 'nothing to set' },
    { args: ['set', '--shields-up=maybe'], msg: '--shields-up must be true or false' },
    { args: ['ping', '-c', '0', 'x'], msg: '-c must be' },
    { args: ['daemon'], msg: 'missing required flag --state-dir' },
    { args: ['daemon', '--state-dir', '/tmp/x', '--port', '70000'], msg: '--port' },
    { args: ['daemon', '--state-dir', '/tmp/x', '--tun', 'a-very-long-interface-name'], msg: '--tun' },
    { args: ['daemon', '--state-dir', '/tmp/x', '--socks5-server', '1080'], msg: '--socks5-server 1080: want HOST:PORT' },
    { args: ['daemon', '--state-dir', '/tmp/x', '--outbound-http-proxy-listen', 'example.com:8080'], msg: 'host must be localhost or an IP' },
  ])('$args → UsageError ($msg)', async ({ args, msg }) => {
    const mod = await MODULES[args[0]]();
    await expect(mod.run(args.slice(1))).rejects.toThrow(msg);
  });

  it('bin/agent: --help exits 0 with the usage; a bad flag exits 2 with message and usage', async () => {
    const [help, bad] = await Promise.all([agent(['status', '--help']), agent(['whois', '--bogus'])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: agent \[--socket PATH\] status/);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^agent whois: Unknown option '--bogus'/);
    expect(bad.stderr).toContain('usage: agent');
  });
});
