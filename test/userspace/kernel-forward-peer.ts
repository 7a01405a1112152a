// The namespace side of kernel-forward.test.ts (`ip netns exec gwu2-k node --import tsx
// test/userspace/kernel-forward-peer.ts`): a TUN gwu2-tun0 (198.51.100.1/24, 2001:db8:5::1/64) with the
// kernel's sockets on one side and a NetstackDevice (198.51.100.2, 2001:db8:5::2) running the userspace
// agent's HostForwarder on the other, forwarding to this namespace's loopback. The kernel plays the tailnet
// peer: its connect() and connected UDP sockets say what the forwarder's answers mean to a real stack.
// Prints one JSON line of outcomes.
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { HostForwarder } from '../../agent/host-forward.js';
import { NetstackDevice } from '../../agent/netstack-device.js';
import { TunDevice } from '../../net/tun-device.js';

const TUN = 'gwu2-tun0';
const K4 = '198.51.100.1';
const N4 = '198.51.100.2';
const K6 = '2001:db8:5::1';
const N6 = '2001:db8:5::2';
const OPEN = 7100; // a TCP and a UDP echo on 127.0.0.1
const CLOSED = 7101; // nothing
const BLACKHOLE = 7102; // SYNs to it on loopback are dropped (iptables), so the forwarder's dial hangs
const HOLD_MS = 1000;

export type Outcomes = Record<string, string>;

function tcpOutcome(host: string, port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      resolve('timeout');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.on('data', (d: Buffer) => {
      resolve(`data ${d.toString().trim()}`);
      s.destroy();
    });
  });
}

function udpOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const u = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const done = (v: string): void => {
      clearTimeout(t);
      u.close();
      resolve(v);
    };
    const t = setTimeout(() => done('timeout'), 5000);
    u.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    u.on('message', (m: Buffer) => done(`data ${m.toString()}`));
    u.connect(port, host, () => u.send('ping'));
  });
}

async function main(): Promise<void> {
  const tun = TunDevice.open({ name: TUN, mtu: 1280 });
  execFileSync('ip', ['addr', 'add', `${K4}/24`, 'dev', TUN]);
  execFileSync('ip', ['-6', 'addr', 'add', `${K6}/64`, 'dev', TUN, 'nodad']);
  tun.up();
  const device = new NetstackDevice({ mtu: 1280 });
  device.start((batch) => {
    for (let i = 0; i < batch.count; i++) tun.write(batch.bufs[i], 0, batch.lens[i]);
  });
  tun.start((batch) => {
    for (let i = 0; i < batch.count; i++) device.write(batch.bufs[i], 0, batch.lens[i]);
  });
  device.addAddress(`${N4}/32`);
  device.addAddress(`${N6}/128`);
  await device.whenReady();
  const fwd = new HostForwarder(device, { dialHoldMs: HOLD_MS });
  fwd.start();
  const tcp = net.createServer((s) => s.end('tcp-host\n'));
  await new Promise<void>((r) => tcp.listen(OPEN, '127.0.0.1', () => r()));
  const udp = createSocket('udp4');
  udp.on('message', (m, r) => udp.send(`udp-host ${m.toString()}`, r.port, r.address));
  await new Promise<void>((r) => udp.bind(OPEN, '127.0.0.1', () => r()));

  const out: Outcomes = {};
  for (const [fam, addr] of [
    ['4', N4],
    ['6', N6],
  ] as const) {
    out[`tcp${fam} open`] = await tcpOutcome(addr, OPEN);
    out[`tcp${fam} closed`] = await tcpOutcome(addr, CLOSED);
    out[`udp${fam} open`] = await udpOutcome(addr, OPEN);
    out[`udp${fam} closed`] = await udpOutcome(addr, CLOSED);
  }
  // a dial that hangs: the SYN is held, then dropped when the hold expires (no SYN-ACK, no RST); each of
  // the kernel's SYN retransmissions (1 s, then 3 s) dials again
  execFileSync('iptables', ['-A', 'OUTPUT', '-o', 'lo', '-p', 'tcp', '--dport', String(BLACKHOLE), '--tcp-flags', 'SYN,ACK', 'SYN', '-j', 'DROP']);
  out['tcp4 dial hangs'] = await tcpOutcome(N4, BLACKHOLE, 3500);
  const st = fwd.stats;
  out.stats = `forwarded ${st.forwarded} refused ${st.refused} udpRefused ${st.udpRefused}`;
  out.hold = `dialTimeouts ${st.dialTimeouts >= 2 ? '≥2' : st.dialTimeouts} expired ${device.stack!.stats().tcpSynHoldExpired >= 2 ? '≥2' : device.stack!.stats().tcpSynHoldExpired} resets ${device.stack!.stats().tcpResetsOut}`;
  process.stdout.write(JSON.stringify(out) + '\n');
  fwd.stop();
  tcp.close();
  udp.close();
  await device.close();
  await tun.close();
  process.exit(0);
}

void main().catch((err: unknown) => {
  process.stdout.write(JSON.stringify({ error: String((err as Error).stack ?? err) }) + '\n');
  process.exit(1);
});
