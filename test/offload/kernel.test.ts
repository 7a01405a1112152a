// TUN offloads checked by real kernels (root; namespaces gwo-*): two `agent wg` nodes, one with offloads
// and one without, so that on each path one side is a plain TUN whose kernel verifies every checksum we
// computed. A TCP stream of random bytes must arrive intact (sha256 on both ends) after the sender's kernel
// handed 64 KiB super-segments to our split, or after our coalescing merged the segments for the
// receiver's kernel; UDP sent with UDP_SEGMENT (a USO super-segment on the TUN) must arrive as the
// datagrams it was made of. The receiving namespace's /proc/net/snmp must count no checksum errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { NetnsScope, haveCommand, isRoot, nsRun, waitFor } from '../netns.js';
import { newKeys, ping, startNode, tmpDir, type RunningNode } from '../interop/harness.js';
import { loadNative } from '../../net/native-addon.js';

const missing = ['iperf3', 'python3', 'ping'].filter((c) => !haveCommand(c));
const reason = !isRoot() ? 'needs root' : missing.length ? `missing ${missing.join(', ')}` : loadNative() === null ? 'native addon not built' : '';
if (reason) console.warn(`offload kernel test: skipped (${reason})`);

const TCP_SERVER = `
import socket, hashlib, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); print('ready', flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 20)
    if not b: break
    h.update(b); n += len(b)
c.close(); print(n, h.hexdigest(), flush=True)
`;
const TCP_CLIENT = `
import socket, hashlib, sys, os
n = int(sys.argv[3]); h = hashlib.sha256(); c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
sent = 0
while sent < n:
    b = os.urandom(min(1 << 16, n - sent)); c.sendall(b); h.update(b); sent += len(b)
c.shutdown(socket.SHUT_WR); c.recv(1); c.close(); print(sent, h.hexdigest(), flush=True)
`;
// One pattern per datagram; UDP_SEGMENT (103) makes each sendto a USO super-segment of `per` datagrams.
const UDP_SENDER = `
import socket, sys, time
seg, per, rounds = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
pat = bytes((i * 7 + 3) & 255 for i in range(seg))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_UDP, 103, seg)
for _ in range(rounds):
    s.sendto(pat * per, (sys.argv[1], int(sys.argv[2]))); time.sleep(0.02)
print('sent', flush=True)
`;
const UDP_RECEIVER = `
import socket, sys
seg = int(sys.argv[3]); pat = bytes((i * 7 + 3) & 255 for i in range(seg))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], int(sys.argv[2]))); print('ready', flush=True)
s.settimeout(3); good = bad = 0
try:
    while True:
        d = s.recv(65536)
        if d == pat: good += 1
        else: bad += 1
except socket.timeout:
    pass
print(good, bad, flush=True)
`;

/** Tcp/Udp counters of a namespace's /proc/net/snmp. */
function snmp(ns: string): Record<string, number> {
  const lines = nsRun(ns, 'cat', ['/proc/net/snmp']).split('\n');
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i].split(/\s+/);
    const values = lines[i + 1].split(/\s+/);
    const proto = names[0].replace(':', '');
    for (let k = 1; k < names.length; k++) out[`${proto}.${names[k]}`] = Number(values[k]);
  }
  return out;
}

describe.skipIf(reason !== '')('TUN offloads through real kernels', { timeout: 120_000 }, () => {
  const scope = new NetnsScope();
  const dir = tmpDir('gwo-');
  let nsA = '';
  let nsB = '';
  let nodes: RunningNode[] = [];

  beforeAll(async () => {
    const p = scope.pair('gwo-k');
    nsA = p.a;
    nsB = p.b;
    const ka = newKeys();
    const kb = newKeys();
    // a: offloads on (the default); b: every offload off, a plain TUN.
    nodes = [
      await startNode(scope, {
        kind: 'ours', ns: nsA, ifname: 'gwo-ka0', keys: ka, port: 51820, address: '198.51.100.1/24',
        peers: [{ pub: kb.pub, allowedIPs: ['198.51.100.2/32'], endpoint: '192.0.2.2:51821' }],
      }, dir),
      await startNode(scope, {
        kind: 'ours', ns: nsB, ifname: 'gwo-kb0', keys: kb, port: 51821, address: '198.51.100.2/24', env: { GRANTWIRE_OFFLOAD: '0' },
        peers: [{ pub: ka.pub, allowedIPs: ['198.51.100.1/32'], endpoint: '192.0.2.1:51820' }],
      }, dir),
    ];
    expect(await waitFor(() => ping(nsA, '198.51.100.2', 1), 15_000, 300)).toBe(true);
  });

  afterAll(async () => {
    await scope.cleanup();
  });

  it('the kernels accepted offloads on a and none on b', () => {
    expect(readFileSync(nodes[0].logFile, 'utf8')).toMatch(/tun gwo-ka0: offloads 0x(?!0\b)[0-9a-f]+/);
    expect(readFileSync(nodes[1].logFile, 'utf8')).toMatch(/tun gwo-kb0: offloads 0x0 \(off: plain TUN\)/);
  });

  async function tcpStream(serverNs: string, serverIP: string, clientNs: string, port: number, bytes: number): Promise<{ sent: string; got: string }> {
    const log = `${dir}/tcp-${port}.log`;
    scope.spawn(serverNs, 'python3', ['-c', TCP_SERVER, serverIP, String(port)], { logFile: log });
    expect(await waitFor(() => readFileSync(log, 'utf8').includes('ready'), 10_000)).toBe(true);
    const sent = nsRun(clientNs, 'python3', ['-c', TCP_CLIENT, serverIP, String(port), String(bytes)]).trim();
    expect(await waitFor(() => readFileSync(log, 'utf8').trim().split('\n').length >= 2, 10_000)).toBe(true);
    return { sent, got: readFileSync(log, 'utf8').trim().split('\n').pop() ?? '' };
  }

  it.each([
    // a's kernel hands TSO super-segments to our split; b's kernel checks every segment's checksum.
    { name: 'a → b: split by the sender, verified segment by segment by the receiving kernel', from: 'a', port: 5301 },
    // b sends plain segments; a's writer merges them into super-segments for a's kernel.
    { name: 'b → a: merged by the receiver into super-segments its kernel accepts', from: 'b', port: 5302 },
  ])('TCP $name', async ({ from, port }) => {
    const [serverNs, serverIP, clientNs, checkNs] = from === 'a' ? [nsB, '198.51.100.2', nsA, nsB] : [nsA, '198.51.100.1', nsB, nsA];
    const before = snmp(checkNs);
    const bytes = 24 << 20;
    const { sent, got } = await tcpStream(serverNs, serverIP, clientNs, port, bytes);
    expect(got).toBe(sent);
    expect(sent.startsWith(`${bytes} `)).toBe(true);
    const after = snmp(checkNs);
    expect(after['Tcp.InCsumErrors'] - before['Tcp.InCsumErrors']).toBe(0);
    expect(after['Tcp.InSegs'] - before['Tcp.InSegs']).toBeGreaterThan(from === 'a' ? bytes / 1500 : 100);
  });

  it('UDP sent with UDP_SEGMENT (USO) arrives as its datagrams, checksums verified by the receiving kernel', async () => {
    const before = snmp(nsB);
    const log = `${dir}/udp.log`;
    scope.spawn(nsB, 'python3', ['-c', UDP_RECEIVER, '198.51.100.2', '5303', '1200'], { logFile: log });
    expect(await waitFor(() => readFileSync(log, 'utf8').includes('ready'), 10_000)).toBe(true);
    nsRun(nsA, 'python3', ['-c', UDP_SENDER, '198.51.100.2', '5303', '1200', '10', '30']);
    expect(await waitFor(() => readFileSync(log, 'utf8').trim().split('\n').length >= 2, 15_000)).toBe(true);
    const [good, bad] = (readFileSync(log, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
    expect(bad).toBe(0);
    // UDP may lose a few under load; most of the 300 datagrams arrive, each exactly as sent.
    expect(good).toBeGreaterThan(200);
    const after = snmp(nsB);
    expect(after['Udp.InCsumErrors'] - before['Udp.InCsumErrors']).toBe(0);
    expect(after['Udp.InDatagrams'] - before['Udp.InDatagrams']).toBeGreaterThanOrEqual(good);
  });
});
