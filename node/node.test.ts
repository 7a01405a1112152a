// Node's local contract without a tailnet: misuse throws a typed error with an ERR_NODE_* code, methods
// that need the node up say so, listen()/listenPacket() work before up(), and a failed up() leaves a node
// that can be closed. (The tailnet behaviour is in test/userspace/embedded.test.ts.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Node, type NodeOptions } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'gwu-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ok: NodeOptions = { dir: join(dir, 'n'), hostname: 'app', controlURL: 'http://127.0.0.1:1' };

describe('Node', () => {
  it.each([
    { name: 'no dir', o: { ...ok, dir: '' }, msg: /`dir`/ },
    { name: 'no hostname', o: { ...ok, hostname: '' }, msg: /`hostname`/ },
    { name: 'bad control URL', o: { ...ok, controlURL: 'ftp://x' }, msg: /controlURL must be an http\(s\) URL/ },
  ])('new Node: $name → ERR_NODE_ARGUMENT', ({ o, msg }) => {
    expect(() => new Node(o)).toThrow(msg);
    expect(() => new Node(o)).toThrow(expect.objectContaining({ code: 'ERR_NODE_ARGUMENT' }));
  });

  const n = new Node(ok);
  it.each([
    { name: 'listen udp', f: () => n.listen('udp' as 'tcp', 1), code: 'ERR_NODE_ARGUMENT' },
    { name: 'listen port 0', f: () => n.listen('tcp', 0), code: 'ERR_NODE_ARGUMENT' },
    { name: 'listenPacket tcp', f: () => n.listenPacket('tcp' as 'udp', 1), code: 'ERR_NODE_ARGUMENT' },
    { name: 'status before up', f: () => n.status(), code: 'ERR_NODE_NOT_UP' },
    { name: 'metrics before up', f: () => n.metrics(), code: 'ERR_NODE_NOT_UP' },
    { name: 'dialer before up', f: () => n.dialer, code: 'ERR_NODE_NOT_UP' },
  ])('$name throws $code', ({ f, code }) => {
    expect(f).toThrow(expect.objectContaining({ code }));
  });

  it.each([
    { name: 'dial before up', p: () => n.dial('tcp', 'prod:5432'), code: 'ERR_NODE_NOT_UP' },
    { name: 'dial without a port', p: () => n.dial('tcp', 'prod'), code: 'ERR_NODE_ARGUMENT' },
    { name: 'whois of junk', p: () => n.whois('not an address'), code: 'ERR_NODE_ARGUMENT' },
  ])('$name rejects with $code', async ({ p, code }) => {
    await expect(p()).rejects.toMatchObject({ code });
  });

  it('listen before up gives a listener that is not listening yet; addresses are empty', () => {
    const l = n.listen('tcp', 8080);
    expect(l.listening).toBe(false);
    expect(l.address()).toBeNull();
    expect(n.addresses).toEqual([]);
    l.close();
  });

  it('up against an unreachable control fails with a reason; close still works and up() then refuses', async () => {
    const bad = new Node({ ...ok, dir: join(dir, 'bad'), authKey: 'gwkey-x-y', upTimeoutMs: 3000 });
    await expect(bad.up()).rejects.toThrow(/control|reach|ECONNREFUSED/i);
    await bad.close();
    await expect(bad.up()).rejects.toMatchObject({ code: 'ERR_NODE_CLOSED' });
  });
});
