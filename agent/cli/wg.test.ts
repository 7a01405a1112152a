// `agent wg` argument and config handling (no root needed); the running interface itself is covered by
// the interop suite (test/interop/wireguard-go.test.ts).
import { describe, expect, it, vi, afterEach } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, usage } from './wg.js';
import { UsageError, HelpRequested } from '../../cli/args.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gw-wgcli-'));
afterEach(() => vi.restoreAllMocks());

function capture(): { err: () => string } {
  let buf = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    buf += chunk.toString();
    return true;
  });
  return { err: () => buf };
}

describe('agent wg', () => {
  it('documents the contract in its usage', () => {
    expect(usage).toContain('agent wg --config FILE [--tun NAME]');
  });

  it.each([
    { argv: [], want: /missing required flag --config/ },
    { argv: ['--config', 'x.conf', '--tun', 'this-name-is-too-long'], want: /--tun must be an interface name/ },
    { argv: ['--config', 'x.conf', '--udp', 'quic'], want: /--udp must be native or dgram/ },
    { argv: ['--config', 'x.conf', '--rekey-after', '10'], want: /--rekey-after must be a duration/ },
    { argv: ['--config', 'x.conf', '--bogus'], want: /bogus/ },
  ])('usage error: $want', async ({ argv, want }) => {
    await expect(run(argv)).rejects.toThrow(UsageError);
    await expect(run(argv)).rejects.toThrow(want);
  });

  it('--help', async () => {
    await expect(run(['--help'])).rejects.toThrow(HelpRequested);
  });

  it('reports an unreadable file and every config error with file:line:col, exit 1', async () => {
    const out = capture();
    expect(await run(['--config', path.join(dir, 'missing.conf')])).toBe(1);
    expect(out.err()).toMatch(/cannot read .*missing\.conf/);
    const bad = path.join(dir, 'bad.conf');
    writeFileSync(bad, '[Interface]\nPrivateKey = nope\nListenPort = 99999\n[Peer]\nAllowedIPs = 10.0.0.0/8\n');
    expect(await run(['--config', bad])).toBe(1);
    const text = out.err();
    expect(text).toContain(`${bad}:2:14: PrivateKey: not a valid key`);
    expect(text).toContain(`${bad}:3:14: ListenPort: expected a port`);
    expect(text).toContain(`${bad}:4:1: [Peer] has no PublicKey`);
    rmSync(dir, { recursive: true, force: true });
  });
});
