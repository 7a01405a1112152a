// Revocation (filter.md "Revocation is immediate"): when a new filter replaces the old one, every flow the
// peer opened is re-judged by the new rules and local addresses; those no longer allowed are removed and
// described, so the data plane can send TCP RSTs both ways. Flows this node opened stay (outbound is
// always allowed). Runs once per policy change, not per packet, so it may allocate.
import { formatIP } from '../types/ip.js';
import { IPPROTO_TCP, ipProtoHasPorts } from '../types/ipproto.js';
import type { CompiledFilter } from './compiled-filter.js';
import { FF_LOCAL_INIT, FS_TCP_RESET, type FlowTable } from './flow-table.js';

/** A flow removed because the new rules no longer allow it; enough to craft TCP RSTs both ways. */
export interface RevokedFlow {
  family: 4 | 6;
  proto: number;
  /** This node's address and port (the side the TUN delivers to). */
  local: string;
  localPort: number;
  /** The peer's address and port (who opened the flow). */
  remote: string;
  remotePort: number;
  /** TCP only: next sequence numbers each side expects from the other (RST toward local uses remoteNextSeq). */
  tcp?: { remoteNextSeq: number; localNextSeq: number };
}

/** Drops expired flows and the peer-opened flows `filter` no longer allows; returns the latter. */
export function revokeFlows(fl: FlowTable, filter: CompiledFilter, now: number): RevokedFlow[] {
  const revoked: RevokedFlow[] = [];
  const local = new Uint8Array(16);
  const remote = new Uint8Array(16);
  for (const i of fl.indexes()) {
    if (!fl.isLive(i, now)) {
      fl.remove(i);
      fl.expirations++;
      continue;
    }
    if ((fl.flags(i) & FF_LOCAL_INIT) !== 0) continue;
    const m = fl.keyWord(i, 0);
    const family = m >>> 16 === 4 ? 4 : 6;
    const proto = (m >>> 8) & 0xff;
    const n = family === 4 ? 4 : 16;
    // Key words hold addresses big-endian, local at words 2..5, remote at 6..9.
    for (let b = 0; b < n; b++) {
      local[b] = (fl.keyWord(i, 2 + (b >> 2)) >>> (24 - 8 * (b & 3))) & 0xff;
      remote[b] = (fl.keyWord(i, 6 + (b >> 2)) >>> (24 - 8 * (b & 3))) & 0xff;
    }
    const localPort = fl.keyWord(i, 1) >>> 16;
    const remotePort = fl.keyWord(i, 1) & 0xffff;
    const l = local.slice(0, n);
    const r = remote.slice(0, n);
    if (filter.allowsTuple(family, proto, r, l, localPort, !ipProtoHasPorts(proto))) continue;
    const rf: RevokedFlow = { family, proto, local: formatIP(l), localPort, remote: formatIP(r), remotePort };
    if (proto === IPPROTO_TCP && fl.state(i) !== FS_TCP_RESET) rf.tcp = { remoteNextSeq: fl.remoteNextSeq(i) >>> 0, localNextSeq: fl.localNextSeq(i) >>> 0 };
    revoked.push(rf);
    fl.remove(i);
  }
  return revoked;
}
