// Issue 10 item 1: one malformed request must not end control. Each row is a raw request written over
// TCP (node:net) to a real `control serve` child process; the request must get a 4xx (or a closed
// connection) and afterwards the process is still alive and GET /health still answers 200.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLICY } from './fixtures.js';

const BIN = join(import.meta.dirname, '../../bin/control');

/** Writes `raw` to host:port and resolves with everything read until the server closes or 2 s pass. */
export function rawHttp(host: string, port: number, raw: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    let got = '';
    const done = (): void => {
      clearTimeout(t);
      s.destroy();
      resolve(got);
    };
    const t = setTimeout(done, 2000);
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      // one response is enough; keep-alive would otherwise hold the socket open until the timeout
      if (/\r\n\r\n/.test(got) && (/content-length: 0\r\n/i.test(got) || /\r\n\r\n[\s\S]*\}$/.test(got))) done();
    });
    s.on('error', done);
    s.on('close', done);
    s.write(raw, 'latin1');
  });
}

const req = (line: string, ...headers: string[]): string => `${line}\r\n${['Host: control', ...headers].join('\r\n')}\r\n\r\n`;
const UPGRADE = ['Connection: Upgrade', 'Upgrade: grantwire-noise-v1', 'Content-Length: 0'];

// name, raw request, expected status line (default: any 4xx)
const HOSTILE: { name: string; raw: string; want?: RegExp }[] = [
  { name: 'absolute-form with an unclosed IPv6 bracket', raw: req('GET http://[/ HTTP/1.1') },
  { name: 'absolute-form with port 99999', raw: req('GET http://a:99999/ HTTP/1.1') },
  { name: 'absolute-form with a bad percent-escape in the host', raw: req('GET http://%zz/ HTTP/1.1') },
  { name: 'absolute-form with an empty host', raw: req('GET http:/// HTTP/1.1') },
  { name: 'absolute-form with a non-http scheme', raw: req('GET ftp://x/ HTTP/1.1') },
  { name: 'admin path with a bad percent-escape', raw: req('GET /api/v1/nodes/%zz HTTP/1.1', 'Authorization: Bearer x') },
  { name: 'upgrade to an unclosed IPv6 bracket', raw: req('POST http://[/ HTTP/1.1', ...UPGRADE) },
  { name: 'upgrade to port 99999', raw: req('POST http://a:99999/noise HTTP/1.1', ...UPGRADE) },
  { name: 'upgrade with an empty host', raw: req('POST http:/// HTTP/1.1', ...UPGRADE) },
  { name: 'upgrade with another protocol', raw: req('GET / HTTP/1.1', 'Connection: Upgrade', 'Upgrade: websocket') },
  { name: 'a header line without a colon', raw: req('GET /health HTTP/1.1', 'garbage') },
  // control never reads Host, so this one is simply answered
  { name: 'a bracketed Host header', raw: `GET /health HTTP/1.1\r\nHost: [\r\n\r\n`, want: /^HTTP\/1\.1 200 / },
  { name: 'a NUL in the target', raw: req('GET /\u0000 HTTP/1.1') },
  { name: 'not HTTP at all', raw: '\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003\r\n\r\n' },
];

let child: ChildProcess;
let dir: string;
let port = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gwc-hostile-'));
  writeFileSync(join(dir, 'policy.hujson'), POLICY);
  child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--state', join(dir, 'state', 'control.db'), '--policy', join(dir, 'policy.hujson')], { stdio: ['ignore', 'pipe', 'pipe'] });
  port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`control exited early (${code})`)));
  });
}, 30_000);

afterAll(() => {
  child?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

describe('control answers malformed requests with 4xx and keeps serving', () => {
  it.each(HOSTILE)('$name', async ({ raw, want }) => {
    const got = await rawHttp('127.0.0.1', port, raw);
    // A 4xx status, or (for bytes that are not HTTP at all) a closed connection; never a 101 or a 5xx.
    if (got !== '') expect(got).toMatch(want ?? /^HTTP\/1\.1 4\d\d /);
    expect(child.exitCode).toBeNull();
    const health = await rawHttp('127.0.0.1', port, req('GET /health HTTP/1.1', 'Connection: close'));
    expect(health).toMatch(/^HTTP\/1\.1 200 /);
  });
});
