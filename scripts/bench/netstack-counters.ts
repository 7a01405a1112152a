// Where a bench:netstack stream loses packets: counters read before and after each stream, so a row can
// say which stage dropped what. Three sources:
//   - a namespace's kernel counters (/proc/net/snmp and /proc/net/netstat, read inside it): UDP receive
//     buffer overflows (Udp.RcvbufErrors) and send buffer failures, kernel TCP retransmissions and the
//     D-SACKs a kernel receiver sends for data it already had (TcpExt.TCPDSACKOldSent: a spurious
//     retransmission by the sender);
//   - the host's softnet backlog drops (/proc/net/softnet_stat, second column; global, not per namespace);
//   - a node's Prometheus metrics (agent metrics / Node.metrics()): WireGuard drops by reason and the
//     UDP socket's and packet device's own tx_dropped (grantwire_io_packets_total).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { AGENT_BIN } from '../lab/tailnet-lab.js';

// execFile, not the lab's runCmd: it writes nothing to the child's stdin (runCmd's stdin.end() raced a
// child that had already exited: EPIPE, which ended a run).
const exec = promisify(execFile);

export type Counters = Record<string, number>;

/** The kernel counters a stream's row reports (others are read but not shown). */
export const KERNEL_KEYS = [
  'Udp.InDatagrams',
  'Udp.OutDatagrams',
  'Udp.RcvbufErrors',
  'Udp.SndbufErrors',
  'Udp.InErrors',
  'Tcp.RetransSegs',
  'TcpExt.TCPDSACKOldSent',
  'TcpExt.TCPDSACKOfoSent',
  'TcpExt.TCPOFOQueue',
  'TcpExt.TCPOFODrop',
  'TcpExt.TCPRcvQDrop',
  'TcpExt.TCPBacklogDrop',
  'TcpExt.PruneCalled',
  'TcpExt.RcvPruned',
  'TcpExt.OfoPruned',
  'TcpExt.TCPZeroWindowDrop',
  'TcpExt.TCPSACKReorder',
  'TcpExt.TCPDSACKRecv',
  'Tcp.InErrs',
  'Tcp.InCsumErrors',
  'Ip.InDiscards',
  'Ip.InHdrErrors',
] as const;

/** Parses the header/value line pairs of /proc/net/snmp and /proc/net/netstat into `Group.Name` → value. */
export function parseProcNet(text: string): Counters {
  const out: Counters = {};
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const h = lines[i].split(/\s+/);
    const v = lines[i + 1].split(/\s+/);
    if (h[0] === '' || h[0] !== v[0] || !/^[A-Za-z]+:$/.test(h[0]) || !/^-?\d/.test(v[1] ?? '')) continue;
    const group = h[0].slice(0, -1);
    for (let k = 1; k < h.length && k < v.length; k++) out[`${group}.${h[k]}`] = Number(v[k]);
    i++;
  }
  return out;
}

/** The kernel counters inside namespace `ns`. */
export async function namespaceCounters(ns: string): Promise<Counters> {
  const { stdout } = await exec('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp', '/proc/net/netstat']);
  return parseProcNet(stdout);
}

/** Per-interface drop counters inside namespace `ns`: `link.<ifname>.rx_dropped` and `.tx_dropped`. */
export async function linkDrops(ns: string): Promise<Counters> {
  const { stdout } = await exec('ip', ['-n', ns, '-s', '-j', 'link', 'show']);
  const out: Counters = {};
  for (const l of JSON.parse(stdout) as { ifname: string; stats64?: { rx: { dropped: number }; tx: { dropped: number } } }[]) {
    if (!l.stats64) continue;
    out[`link.${l.ifname}.rx_dropped`] = l.stats64.rx.dropped;
    out[`link.${l.ifname}.tx_dropped`] = l.stats64.tx.dropped;
  }
  return out;
}

/** `agent metrics` of the daemon in namespace `ns` listening on `socket`, parsed by parseNodeMetrics. */
export async function agentCounters(ns: string, socket: string): Promise<Counters> {
  const { stdout } = await exec('ip', ['netns', 'exec', ns, AGENT_BIN, '--socket', socket, 'metrics']);
  return parseNodeMetrics(stdout);
}

/** Packets the softnet backlog dropped, all CPUs (netdev_max_backlog overflows). */
export function softnetDrops(): number {
  let n = 0;
  for (const line of readFileSync('/proc/net/softnet_stat', 'utf8').split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length > 1) n += parseInt(cols[1], 16);
  }
  return n;
}

/**
 * The drop and I/O counters of a node's Prometheus text: `wg.<reason>` for each WireGuard drop reason,
 * `<dev>.<counter>` for grantwire_io_packets_total.
 */
export function parseNodeMetrics(text: string): Counters {
  const out: Counters = {};
  for (const line of text.split('\n')) {
    let m = /^grantwire_wireguard_drops_total\{reason="([a-z_]+)"\} (\d+)$/.exec(line);
    if (m) {
      out[`wg.${m[1]}`] = Number(m[2]);
      continue;
    }
    m = /^grantwire_wireguard_rx_out_of_order_total (\d+)$/.exec(line);
    if (m) {
      out['wg.rx_out_of_order'] = Number(m[1]);
      continue;
    }
    m = /^grantwire_io_packets_total\{dev="([a-z]+)",counter="([a-z_]+)"\} (\d+)$/.exec(line);
    if (m) out[`${m[1]}.${m[2]}`] = Number(m[3]);
  }
  return out;
}

/** after − before for every key in `after`; with `nonzero` only the keys that changed. */
export function diffCounters(before: Counters, after: Counters, nonzero = false): Counters {
  const out: Counters = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (!nonzero || d !== 0) out[k] = d;
  }
  return out;
}

/** Just `keys` of `c` (missing ones as 0). */
export function pick(c: Counters, keys: readonly string[]): Counters {
  const out: Counters = {};
  for (const k of keys) out[k] = c[k] ?? 0;
  return out;
}
