// The kernel side of the netstack interop suite, run by kernel-interop.test.ts inside its own network
// namespace (`ip netns exec gwn-k node --import tsx test/netstack/kernel-peer.ts '<case json>'`): opens
// the TUN gwn-tun0 (192.0.2.1/24, 2001:db8::1/64), puts a Netstack (192.0.2.2, 2001:db8::2) on the other
// side of it, optionally impairs the kernel's egress with tc netem and the netstack's with a seeded loss,
// runs one case between node:net (the kernel's TCP) and the netstack, and prints one JSON line.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { TunDevice } from '../../net/tun-device.js';
import { Netstack } from '../../netstack/index.js';
import { newTcpOptions, parseTcpOptions } from '../../netstack/tcp-options.js';
import type { TcpSocket } from '../../netstack/index.js';
import { seededRng } from '../../types/seeded-rng.js';

export interface KernelCase {
  kind: 'bulk' | 'reset' | 'refused';
  family: 4 | 6;
  /** Who opens the connections. */
  initiator: 'netstack' | 'kernel';
  /** Bytes netstack → kernel and kernel → netstack per connection. */
  up?: number;
  down?: number;
  conns?: number;
  /** 'netstack' | 'kernel': that side sends and FINs first, the other writes only after its 'end'. */
  halfCloseFirst?: 'netstack' | 'kernel';
  /** That side's reader stays paused for pauseMs after the connection opens (zero window). */
  pause?: { side: 'netstack' | 'kernel'; ms: number };
  /** tc netem arguments for the kernel's egress (when this kernel has sch_netem). */
  netem?: string[];
  /** Seeded impairment applied in this process to both directions (netem's loss/reorder/duplicate/delay). */
  impair?: Impairment;
  /** reset: which side aborts. refused: which side connects to a closed port. */
  who?: 'netstack' | 'kernel';
  timeoutMs?: number;
}

export interface Impairment {
  loss?: number;
  duplicate?: number;
  reorder?: number;
  reorderMs?: number;
  delayMs?: number;
}

export interface KernelResult {
  ok: boolean;
  errors: string[];
  connsDone: number;
  upMismatch: number;
  downMismatch: number;
  maxBytesInFlight: number;
  minSendWindow: number;
  minReceiveWindow: number;
  retransmits: number;
  peerError: string | null;
  ms: number;
  tunTxDropped: number;
  impaired: { dropped: number; duplicated: number; reordered: number };
  /** Every netstack socket negotiated SACK (TcpInfo.sack). */
  sack: boolean;
  /** The kernel's SYN or SYN-ACK carried SACK-permitted (null: no SYN from the kernel was seen). */
  kernelSynSack: boolean | null;
  /** Fast recoveries the netstack's senders entered (SACK-based when sack is true). */
  fastRetransmits: number;
  /** The namespace's TcpExt counters over the run: the kernel's SACK recoveries and SACKed segments merged. */
  kernelSackRecoveries: number;
  kernelSackMerged: number;
}

/** TcpExt counters of this network namespace (/proc/net/netstat is per namespace). */
function tcpExt(): Map<string, number> {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  const names = lines[0].split(' ');
  const values = lines[1].split(' ');
  return new Map(names.map((n, i) => [n, Number(values[i])]));
}

/** Whether a packet from the kernel is a TCP SYN, and if so whether it offers SACK. */
function synSack(p: Uint8Array, len: number): boolean | null {
  const v4 = p[0] >> 4 === 4;
  const t = v4 ? (p[0] & 15) * 4 : 40;
  if ((v4 ? p[9] : p[6]) !== 6 || len < t + 20 || (p[t + 13] & 0x02) === 0) return null;
  const o = newTcpOptions();
  parseTcpOptions(p, t + 20, Math.min(t + (p[t + 12] >> 4) * 4, len), o);
  return o.sackPermitted;
}

const TUN = 'gwn-tun0';
const K4 = '192.0.2.1';
const N4 = '192.0.2.2';
const K6 = '2001:db8::1';
const N6 = '2001:db8::2';
const MTU = 1500;
const PORT = 7000;
const CHUNK = 64 << 10;

const base = randomBytes(CHUNK);

/** Writes `total` bytes (a stamped pattern) with backpressure, hashing what it writes; then end(). */
function sendAll(s: NodeJS.WritableStream & { destroyed?: boolean }, total: number, done: (hash: string) => void): void {
  const h = createHash('sha256');
  let sent = 0;
  let k = 0;
  const pump = (): void => {
    while (sent < total) {
      const n = Math.min(CHUNK, total - sent);
      const c = Buffer.from(base.subarray(0, n));
      if (n >= 4) c.writeUInt32BE(k++, 0);
      h.update(c);
      sent += n;
      if (!s.write(c)) {
        s.once('drain', pump);
        return;
      }
    }
    s.end();
    done(h.digest('hex'));
  };
  pump();
}

function hashAll(s: NodeJS.ReadableStream, done: (hash: string, n: number) => void): void {
  const h = createHash('sha256');
  let n = 0;
  s.on('data', (d: Buffer) => {
    h.update(d);
    n += d.length;
  });
  s.on('end', () => done(h.digest('hex'), n));
}

async function main(): Promise<void> {
  const c = JSON.parse(process.argv[2]) as KernelCase;
  const res: KernelResult = { ok: false, errors: [], connsDone: 0, upMismatch: 0, downMismatch: 0, maxBytesInFlight: 0, minSendWindow: Infinity, minReceiveWindow: Infinity, retransmits: 0, peerError: null, ms: 0, tunTxDropped: 0, impaired: { dropped: 0, duplicated: 0, reordered: 0 }, sack: false, kernelSynSack: null, fastRetransmits: 0, kernelSackRecoveries: 0, kernelSackMerged: 0 };
  const extBefore = tcpExt();
  const tun = TunDevice.open({ name: TUN, mtu: MTU });
  execFileSync('ip', ['addr', 'add', `${K4}/24`, 'dev', TUN]);
  execFileSync('ip', ['-6', 'addr', 'add', `${K6}/64`, 'dev', TUN, 'nodad']);
  tun.up();
  if (c.netem) execFileSync('tc', ['qdisc', 'add', 'dev', TUN, 'root', 'netem', ...c.netem]);
  const rng = seededRng(1234);
  // One seeded impairer per direction: drop, duplicate, hold back (reorder) or delay a copy of the packet.
  const impairer = (deliver: (p: Uint8Array, len: number) => void): ((p: Uint8Array, len: number) => void) => {
    const im = c.impair;
    if (!im) return deliver;
    return (p, len) => {
      if (im.loss && rng() < im.loss) {
        res.impaired.dropped++;
        return;
      }
      let delay = im.delayMs ?? 0;
      if (im.reorder && rng() < im.reorder) {
        delay += im.reorderMs ?? 10;
        res.impaired.reordered++;
      }
      const copies = im.duplicate && rng() < im.duplicate ? 2 : 1;
      if (copies === 2) res.impaired.duplicated++;
      if (delay === 0) {
        for (let i = 0; i < copies; i++) deliver(p, len);
        return;
      }
      const copy = p.slice(0, len);
      setTimeout(() => {
        for (let i = 0; i < copies; i++) deliver(copy, len);
      }, delay);
    };
  };
  let ns: Netstack | null = null;
  const toKernel = impairer((p, len) => {
    tun.write(p, 0, len);
  });
  const toNetstack = impairer((p, len) => ns!.input(p, 0, len));
  ns = new Netstack({ addresses: [N4, N6], mtu: MTU, output: toKernel });
  tun.start((batch) => {
    for (let i = 0; i < batch.count; i++) {
      const syn = synSack(batch.bufs[i], batch.lens[i]);
      if (syn !== null) res.kernelSynSack = (res.kernelSynSack ?? true) && syn;
      toNetstack(batch.bufs[i], batch.lens[i]);
    }
  });
  const kAddr = c.family === 4 ? K4 : K6;
  const nAddr = c.family === 4 ? N4 : N6;
  const started = performance.now();
  const finish = async (): Promise<void> => {
    res.ms = Math.round(performance.now() - started);
    res.ok = res.errors.length === 0;
    if (!Number.isFinite(res.minSendWindow)) res.minSendWindow = -1;
    if (!Number.isFinite(res.minReceiveWindow)) res.minReceiveWindow = -1;
    res.tunTxDropped = tun.stats().txDropped;
    const extAfter = tcpExt();
    res.kernelSackRecoveries = (extAfter.get('TCPSackRecovery') ?? 0) - (extBefore.get('TCPSackRecovery') ?? 0);
    res.kernelSackMerged = (extAfter.get('TCPSackMerged') ?? 0) - (extBefore.get('TCPSackMerged') ?? 0);
    process.stdout.write(JSON.stringify(res) + '\n');
    ns!.close();
    await tun.close();
    process.exit(0);
  };
  setTimeout(() => {
    res.errors.push(`timed out after ${c.timeoutMs ?? 60_000} ms with ${res.connsDone} connections done`);
    void finish();
  }, c.timeoutMs ?? 60_000).unref();

  if (c.kind === 'refused') {
    if (c.who === 'netstack') {
      const s = ns!.connectTcp({ remoteAddress: kAddr, remotePort: PORT + 1 });
      s.on('error', (e: Error & { posixCode?: string }) => {
        res.peerError = e.posixCode ?? e.message;
        void finish();
      });
      s.on('connect', () => {
        res.errors.push('connected to a closed kernel port');
        void finish();
      });
    } else {
      const s = net.connect({ host: nAddr, port: PORT + 1, localAddress: kAddr });
      s.on('error', (e: NodeJS.ErrnoException) => {
        res.peerError = e.code ?? e.message;
        void finish();
      });
      s.on('connect', () => {
        res.errors.push('connected to a closed netstack port');
        void finish();
      });
    }
    return;
  }

  if (c.kind === 'reset') {
    // netstack connects to the kernel; `who` aborts once data flowed
    const srv = net.createServer((k) => {
      k.on('error', (e: NodeJS.ErrnoException) => {
        res.peerError = e.code ?? e.message;
        void finish();
      });
      k.once('data', () => {
        if (c.who === 'kernel') k.resetAndDestroy();
        else nsock.resetAndDestroy();
      });
    });
    srv.listen(PORT, kAddr);
    await new Promise((r) => srv.once('listening', r));
    const nsock = ns!.connectTcp({ remoteAddress: kAddr, remotePort: PORT });
    nsock.on('error', (e: Error & { posixCode?: string }) => {
      res.peerError = e.posixCode ?? e.message;
      void finish();
    });
    nsock.write('hello');
    return;
  }

  // bulk
  const conns = c.conns ?? 1;
  const up = c.up ?? 0;
  const down = c.down ?? 0;
  const nsSockets: TcpSocket[] = [];
  const sample = setInterval(() => {
    if (process.env.NSDEBUG) for (const s of nsSockets) console.error(JSON.stringify({ ...s.tcpInfo(), rl: s.readableLength, br: s.bytesRead }));
    for (const s of nsSockets) {
      const i = s.tcpInfo();
      if (i.state === 'SYN_SENT' || i.state === 'SYN_RECEIVED' || i.state === 'TIME_WAIT' || i.state === 'CLOSED') continue;
      if (i.bytesBuffered > 0) res.minSendWindow = Math.min(res.minSendWindow, i.sendWindow);
      res.minReceiveWindow = Math.min(res.minReceiveWindow, i.receiveWindow);
    }
  }, 20);
  let done = 0;
  const connDone = (): void => {
    done++;
    res.connsDone = done;
    if (done === conns) {
      clearInterval(sample);
      res.sack = nsSockets.length > 0;
      for (const s of nsSockets) {
        const i = s.tcpInfo();
        res.sack &&= i.sack;
        res.fastRetransmits += i.fastRetransmits;
        res.maxBytesInFlight = Math.max(res.maxBytesInFlight, i.maxBytesInFlight);
        res.retransmits += i.retransmits;
      }
      void finish();
    }
  };
  // Runs one connection's exchange on either end; `upSide` is the netstack end.
  const exchange = (sock: net.Socket | TcpSocket, isNetstack: boolean, onBoth: () => void): void => {
    const sendBytes = isNetstack ? up : down;
    const recvBytes = isNetstack ? down : up;
    let sentHash = '';
    let gotHash = '';
    let gotLen = -1;
    let parts = 0;
    const part = (): void => {
      if (++parts === 2) onBoth();
    };
    // the peer's hash arrives through `expect` (kept in a shared map by index)
    (sock as unknown as { _sent: () => string })._sent = () => sentHash;
    const paused = c.pause && c.pause.side === (isNetstack ? 'netstack' : 'kernel');
    if (paused) {
      sock.pause();
      setTimeout(() => hashAll(sock, (h, n) => {
        gotHash = h;
        gotLen = n;
        (sock as unknown as { _got: () => [string, number] })._got = () => [gotHash, gotLen];
        part();
      }) ?? sock.resume(), c.pause!.ms);
    } else {
      hashAll(sock, (h, n) => {
        gotHash = h;
        gotLen = n;
        (sock as unknown as { _got: () => [string, number] })._got = () => [gotHash, gotLen];
        part();
        if (c.halfCloseFirst && c.halfCloseFirst !== (isNetstack ? 'netstack' : 'kernel')) sendAll(sock, sendBytes, (x) => ((sentHash = x), part()));
      });
    }
    if (!c.halfCloseFirst || c.halfCloseFirst === (isNetstack ? 'netstack' : 'kernel')) sendAll(sock, sendBytes, (x) => ((sentHash = x), part()));
    sock.on('error', (e: Error & { code?: string }) => res.errors.push(`${isNetstack ? 'netstack' : 'kernel'} socket: ${e.code ?? ''} ${e.message}`));
    void recvBytes;
  };
  // pair up the two ends of each connection by the netstack's local/remote port
  const pending = new Map<string, { n?: net.Socket | TcpSocket; k?: net.Socket | TcpSocket; doneN?: boolean; doneK?: boolean }>();
  const check = (key: string): void => {
    const p = pending.get(key)!;
    if (!p.doneN || !p.doneK) return;
    const sN = (p.n as unknown as { _sent: () => string })._sent();
    const sK = (p.k as unknown as { _sent: () => string })._sent();
    const [gN, lenN] = (p.n as unknown as { _got: () => [string, number] })._got();
    const [gK, lenK] = (p.k as unknown as { _got: () => [string, number] })._got();
    if (sN !== gK || lenK !== up) res.upMismatch++;
    if (sK !== gN || lenN !== down) res.downMismatch++;
    pending.delete(key);
    connDone();
  };
  const attach = (sock: net.Socket | TcpSocket, isNetstack: boolean, key: string): void => {
    const p = pending.get(key) ?? {};
    pending.set(key, p);
    if (isNetstack) p.n = sock;
    else p.k = sock;
    exchange(sock, isNetstack, () => {
      if (isNetstack) p.doneN = true;
      else p.doneK = true;
      check(key);
    });
  };
  if (c.initiator === 'netstack') {
    const srv = net.createServer({ allowHalfOpen: true }, (k) => attach(k, false, `${k.remotePort}`));
    srv.listen(PORT, kAddr);
    await new Promise((r) => srv.once('listening', r));
    for (let i = 0; i < conns; i++) {
      const s = ns!.connectTcp({ remoteAddress: kAddr, remotePort: PORT, allowHalfOpen: true });
      nsSockets.push(s);
      s.once('connect', () => attach(s, true, `${s.localPort}`));
      s.on('error', (e: Error) => res.errors.push(`netstack connect: ${e.message}`));
    }
  } else {
    ns!.listenTcp(
      PORT,
      (s) => {
        nsSockets.push(s);
        attach(s, true, `${s.remotePort}`);
      },
      { address: nAddr, allowHalfOpen: true },
    );
    for (let i = 0; i < conns; i++) {
      const k = net.connect({ host: nAddr, port: PORT, localAddress: kAddr, allowHalfOpen: true });
      k.once('connect', () => attach(k, false, `${k.localPort}`));
      k.on('error', (e: Error) => res.errors.push(`kernel connect: ${e.message}`));
    }
  }
}

main().catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ ok: false, errors: [String((e as Error).stack ?? e)] }) + '\n');
  process.exit(1);
});
