// Runs inside a fresh namespace (spawned by net/tun-device.test.ts): opens a real TUN through the
// native addon, configures addresses and routes, checks that packets the kernel routes into the TUN are
// read (v4 and v6) and that packets written into it are delivered to local sockets. Prints one JSON line.
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { TunDevice } from '../../net/tun-device.js';
import type { PacketBatch } from '../../net/io.js';
import { buildPacket } from '../../packet/build.js';
import { parseUdp, type UdpSummary } from './parse-udp.js';

const result: Record<string, unknown> = {};
const seen: UdpSummary[] = [];
const tun = TunDevice.open({ name: 'gwt0', mtu: 1400 });
try {
  tun.addAddress('198.51.100.1/24');
  tun.addAddress('2001:db8:1::1/64');
  tun.up();
  tun.addRoute('203.0.113.0/24');
  tun.addRoute('2001:db8:2::/64');
  tun.addRoute('2001:db8:2::/64'); // idempotent
  result.name = tun.name;
  result.link = JSON.parse(execFileSync('ip', ['-j', 'addr', 'show', 'dev', 'gwt0'], { encoding: 'utf8' }));
  result.routes = execFileSync('ip', ['route', 'show', 'dev', 'gwt0'], { encoding: 'utf8' }) +
    execFileSync('ip', ['-6', 'route', 'show', 'dev', 'gwt0'], { encoding: 'utf8' });
  let batches = 0;
  tun.start((b: PacketBatch) => {
    batches++;
    for (let i = 0; i < b.count; i++) {
      const s = parseUdp(b.bufs[i].subarray(0, b.lens[i]));
      if (s) seen.push(s);
    }
  });
  const s4 = dgram.createSocket('udp4');
  const s6 = dgram.createSocket({ type: 'udp6', ipv6Only: true });
  await new Promise<void>((r) => s4.bind(40004, '198.51.100.1', () => r()));
  await new Promise<void>((r) => s6.bind(40006, '2001:db8:1::1', () => r()));
  const got: string[] = [];
  s4.on('message', (m, ri) => got.push(`${ri.address}:${ri.port}:${m}`));
  s6.on('message', (m, ri) => got.push(`${ri.address}:${ri.port}:${m}`));
  for (let i = 0; i < 20; i++) s4.send(`out4-${i}`, 7777, '203.0.113.5');
  s6.send('out6', 7777, '2001:db8:2::5');
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && seen.length < 21) await new Promise((r) => setTimeout(r, 20));
  result.read = seen;
  result.batches = batches;
  result.wrote4 = tun.write(buildPacket({ src: '203.0.113.5', dst: '198.51.100.1', proto: 'udp', sport: 7777, dport: 40004, payload: new TextEncoder().encode('in4') }), 0, 31);
  const p6 = buildPacket({ src: '2001:db8:2::5', dst: '2001:db8:1::1', proto: 'udp', sport: 7777, dport: 40006, payload: new TextEncoder().encode('in6') });
  const framed = new Uint8Array(p6.length + 10);
  framed.set(p6, 5); // exercise the offset argument
  result.wrote6 = tun.write(framed, 5, p6.length);
  const d2 = Date.now() + 3000;
  while (Date.now() < d2 && got.length < 2) await new Promise((r) => setTimeout(r, 20));
  result.delivered = got.sort();
  result.stats = tun.stats();
  s4.close();
  s6.close();
} catch (err) {
  result.error = (err as Error).stack;
} finally {
  await tun.close();
}
result.afterClose = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).includes('gwt0');
process.stdout.write(JSON.stringify(result) + '\n');
