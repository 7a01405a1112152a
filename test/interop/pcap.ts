// Minimal reader for the classic pcap files tcpdump writes (Ethernet link type, IPv4/UDP only): enough to
// check WireGuard message sizes on the wire and to replay captured datagrams.
import { readFileSync, statSync, existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { NetnsScope } from '../netns.js';
import { waitFor } from '../netns.js';

export interface CapturedDatagram {
  t: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** The UDP payload (a WireGuard message). */
  payload: Uint8Array;
}

export function readPcap(file: string): CapturedDatagram[] {
  const b = readFileSync(file);
  if (b.length < 24) return [];
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nano = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const linktype = u32(20);
  const out: CapturedDatagram[] = [];
  for (let off = 24; off + 16 <= b.length; ) {
    const t = u32(off) + u32(off + 4) / (nano ? 1e9 : 1e6);
    const incl = u32(off + 8);
    const frame = b.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    let ip: Buffer;
    if (linktype === 1) {
      if (frame.length < 14 || frame.readUInt16BE(12) !== 0x0800) continue;
      ip = frame.subarray(14);
    } else if (linktype === 113) {
      if (frame.length < 16 || frame.readUInt16BE(14) !== 0x0800) continue;
      ip = frame.subarray(16);
    } else if (linktype === 101) {
      ip = frame;
    } else continue;
    if (ip.length < 28 || ip[0] >> 4 !== 4 || ip[9] !== 17) continue;
    const ihl = (ip[0] & 15) * 4;
    const udpLen = ip.readUInt16BE(ihl + 4);
    out.push({
      t,
      src: `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`,
      dst: `${ip[16]}.${ip[17]}.${ip[18]}.${ip[19]}`,
      sport: ip.readUInt16BE(ihl),
      dport: ip.readUInt16BE(ihl + 2),
      payload: new Uint8Array(ip.subarray(ihl + 8, ihl + udpLen)),
    });
  }
  return out;
}

/** A running tcpdump in a namespace writing UDP traffic of `iface` to `file`. */
export interface Capture {
  file: string;
  stop(): Promise<CapturedDatagram[]>;
}

export async function startCapture(scope: NetnsScope, ns: string, iface: string, file: string, filter = 'udp'): Promise<Capture> {
  const proc: ChildProcess = scope.spawn(ns, 'tcpdump', ['-i', iface, '-n', '-U', '-s', '0', '-w', file, filter]);
  // tcpdump writes the file header once the capture is live.
  const ok = await waitFor(() => existsSync(file) && statSync(file).size >= 24, 10_000);
  if (!ok) throw new Error(`tcpdump did not start on ${ns}/${iface}`);
  return {
    file,
    async stop() {
      await new Promise((r) => setTimeout(r, 200)); // let the last packets reach the file
      await scope.stop(proc, 2000);
      return readPcap(file);
    },
  };
}

/** WireGuard message type (1..4) of a payload, or 0 when it is not one. */
export function wgType(p: Uint8Array): number {
  return p.length >= 4 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[0] >= 1 && p[0] <= 4 ? p[0] : 0;
}
