// Traffic helper the demo and the end-to-end suite run inside agent namespaces (there is no nc/socat on
// a fresh machine): TCP/UDP echo servers, one-shot connection checks, a held TCP connection that reports
// the moment it is cut, and an HTTP GET. Output is one JSON object per line.
//
//   probe serve --host IP --port N            TCP and UDP echo on IP:N; prints {"ready":true}
//   probe userve --host IP --port N           UDP echo only
//   probe connect --host IP --port N [--timeout MS]   exit 0 when an echo round trip works
//   probe udp --host IP --port N [--timeout MS]       the same over UDP
//   probe hold --host IP --port N [--stall MS] {"connected":…}, then {"cut":reason,"atMs":epoch} when it dies
//   probe http --url URL [--timeout MS]       {"status":N,"body":…}
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { host: { type: 'string' }, port: { type: 'string' }, timeout: { type: 'string' }, url: { type: 'string' }, stall: { type: 'string' } },
});
const mode = positionals[0];
const host = values.host ?? '';
const port = Number(values.port ?? 0);
const timeoutMs = Number(values.timeout ?? 3000);
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');

switch (mode) {
  case 'serve': {
    const tcp = createServer((s) => {
      s.on('error', () => s.destroy());
      s.pipe(s);
    });
    const udp = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
    tcp.listen(port, host, () => udp.bind(port, host, () => out({ ready: true, host, port })));
    break;
  }
  case 'userve': {
    const udp = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
    udp.bind(port, host, () => out({ ready: true, host, port }));
    break;
  }
  case 'connect': {
    const t0 = Date.now();
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      out({ ok: false, error: 'timeout', ms: Date.now() - t0 });
      process.exit(1);
    }, timeoutMs);
    s.on('connect', () => s.write('hello\n'));
    s.on('data', () => {
      clearTimeout(timer);
      out({ ok: true, ms: Date.now() - t0 });
      process.exit(0);
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      out({ ok: false, error: (e as NodeJS.ErrnoException).code ?? e.message, ms: Date.now() - t0 });
      process.exit(1);
    });
    break;
  }
  case 'udp': {
    const t0 = Date.now();
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      out({ ok: false, error: 'timeout', ms: Date.now() - t0 });
      process.exit(1);
    }, timeoutMs);
    s.on('message', () => {
      clearTimeout(timer);
      out({ ok: true, ms: Date.now() - t0 });
      process.exit(0);
    });
    // Resend: the first datagram may wait for the WireGuard handshake.
    const send = () => s.send('ping', port, host);
    send();
    setInterval(send, 300).unref();
    break;
  }
  case 'hold': {
    const s = connect({ host, port });
    let lastEcho = Date.now();
    let done = false;
    const finish = (reason: string) => {
      if (done) return;
      done = true;
      out({ cut: reason, atMs: Date.now() });
      process.exit(0);
    };
    s.on('connect', () => {
      out({ connected: true, atMs: Date.now() });
      setInterval(() => {
        s.write('x');
        // No echo for 600 ms (or --stall MS) on a LAN-fast tunnel: the flow is dropped even if no RST arrived.
        if (Date.now() - lastEcho > Number(values.stall ?? 600)) finish('stalled');
      }, 50);
    });
    s.on('data', () => (lastEcho = Date.now()));
    s.on('error', (e) => finish((e as NodeJS.ErrnoException).code ?? e.message));
    s.on('close', () => finish('closed'));
    break;
  }
  case 'http': {
    try {
      const r = await fetch(values.url!, { signal: AbortSignal.timeout(timeoutMs) });
      out({ status: r.status, body: await r.json().catch(() => null) });
      process.exit(0);
    } catch (e) {
      out({ status: 0, error: (e as Error).message });
      process.exit(1);
    }
    break;
  }
  default:
    process.stderr.write('usage: probe serve|userve|connect|udp|hold|http --host IP --port N [--timeout MS] [--url URL]\n');
    process.exit(2);
}
