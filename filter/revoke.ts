// Revocation (filter.md "Revocation is immediate"): when a new filter replaces the old one (or shields go
// up), every flow the peer opened is re-judged by the new rules and local addresses; those no longer
// allowed are removed and described, so the data plane can send TCP RSTs both ways. Flows this node
// opened stay (outbound is always allowed). Each revoked tuple leaves a tombstone (a bounded, expiring
// table): without one, the local side's next packet on the tuple (an ACK, a keepalive, a UDP server's
// answer) would open a node-initiated flow that lets the revoked peer in again and that later
// revocations skip. Runs once per policy change, not per packet, so it may allocate.
import { formatIP } from '../types/ip.js';
import { IPPROTO_TCP, ipProtoHasPorts } from '../types/ipproto.js';
import type { CompiledFilter } from './compiled-filter.js';
import { FF_LOCAL_INIT, FS_REVOKED, FS_TCP_RESET, KEY_WORDS, type FlowTable } from './flow-table.js';

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
  /**
   * TCP only. remoteNextSeq: the sequence number the local socket expects next from the peer (its
   * RCV.NXT as far as the filter knows: the ACK number of the latest outbound segment, advanced by
   * in-order inbound segments); the RST toward the local socket uses it, so it is in window.
   * localNextSeq: our next sequence number (the RST toward the peer uses it).
   */
  tcp?: { remoteNextSeq: number; localNextSeq: number };
}

/** A flow key decoded for re-judging. */
interface Tuple {
  family: 4 | 6;
  proto: number;
  local: Uint8Array;
  remote: Uint8Array;
  localPort: number;
  remotePort: number;
}

function tupleOf(fl: FlowTable, i: number): Tuple {
  const m = fl.keyWord(i, 0);
  const family = m >>> 16 === 4 ? 4 : 6;
  const n = family === 4 ? 4 : 16;
  const local = new Uint8Array(n);
  const remote = new Uint8Array(n);
  // Key words hold addresses big-endian, local at words 2..5, remote at 6..9.
  for (let b = 0; b < n; b++) {
    local[b] = (fl.keyWord(i, 2 + (b >> 2)) >>> (24 - 8 * (b & 3))) & 0xff;
    remote[b] = (fl.keyWord(i, 6 + (b >> 2)) >>> (24 - 8 * (b & 3))) & 0xff;
  }
  return { family, proto: (m >>> 8) & 0xff, local, remote, localPort: fl.keyWord(i, 1) >>> 16, remotePort: fl.keyWord(i, 1) & 0xffff };
}

/** Flow `i` as the data plane needs it to send RSTs: the tuple, and for a live TCP flow both sequence ends. */
function describeFlow(fl: FlowTable, i: number, t: Tuple): RevokedFlow {
  const rf: RevokedFlow = { family: t.family, proto: t.proto, local: formatIP(t.local), localPort: t.localPort, remote: formatIP(t.remote), remotePort: t.remotePort };
  if (t.proto === IPPROTO_TCP && fl.state(i) !== FS_TCP_RESET) rf.tcp = { remoteNextSeq: fl.remoteNextSeq(i) >>> 0, localNextSeq: fl.localNextSeq(i) >>> 0 };
  return rf;
}

/** May the peer reach this tuple under `filter` (null: shields up, nothing new is allowed)? */
function allowed(filter: CompiledFilter | null, t: Tuple): boolean {
  return filter !== null && filter.allowsTuple(t.family, t.proto, t.remote, t.local, t.localPort, !ipProtoHasPorts(t.proto));
}

/** Records flow `i`'s tuple in `tombs` (refreshing an existing tombstone). */
function bury(fl: FlowTable, i: number, tombs: FlowTable, now: number): void {
  const q = tombs.q;
  for (let w = 0; w < KEY_WORDS; w++) q[w] = fl.keyWord(i, w);
  const j = tombs.find(now);
  if (j >= 0) tombs.touch(j, now);
  else tombs.insert(now, FS_REVOKED, 0);
}

/**
 * Drops expired flows and the peer-opened flows `filter` no longer allows (all of them when `filter` is
 * null: shields up); returns the latter and leaves a tombstone for each in `tombs`.
 */
export function revokeFlows(fl: FlowTable, filter: CompiledFilter | null, now: number, tombs: FlowTable): RevokedFlow[] {
  const revoked: RevokedFlow[] = [];
  for (const i of fl.indexes()) {
    if (!fl.isLive(i, now)) {
      fl.remove(i);
      fl.expirations++;
      continue;
    }
    if ((fl.flags(i) & FF_LOCAL_INIT) !== 0) continue;
    const t = tupleOf(fl, i);
    if (allowed(filter, t)) continue;
    const rf = describeFlow(fl, i, t);
    revoked.push(rf);
    bury(fl, i, tombs, now);
    fl.remove(i);
  }
  return revoked;
}

/**
 * Drops every flow, in either direction, whose remote address `isGone` says belongs to a peer that left the
 * netmap (control stopped sending it: the policy no longer relates the two nodes, or it was deleted); returns
 * them so the data plane can reset the local sockets. Nothing can reach the peer any more, so a socket left
 * open would only stall. Each tuple is buried as a revoked one is: should the local socket ignore the first
 * RST (its window moved past what the filter saw), its next segment on the tuple is answered with an RST at
 * its own ACK number instead of silently opening a flow toward a peer that is not there (or, once the peer
 * is back, letting it in on a connection its side has already reset).
 */
export function dropFlowsOfRemote(fl: FlowTable, isGone: (remote: Uint8Array) => boolean, now: number, tombs: FlowTable): RevokedFlow[] {
  const dropped: RevokedFlow[] = [];
  for (const i of fl.indexes()) {
    if (!fl.isLive(i, now)) continue;
    const t = tupleOf(fl, i);
    if (!isGone(t.remote)) continue;
    dropped.push(describeFlow(fl, i, t));
    bury(fl, i, tombs, now);
    fl.remove(i);
  }
  return dropped;
}

/** Removes expired tombstones and those of tuples `filter` allows again (the grant came back). */
export function pruneTombstones(tombs: FlowTable, filter: CompiledFilter | null, now: number): void {
  for (const i of tombs.indexes()) {
    if (!tombs.isLive(i, now) || allowed(filter, tupleOf(tombs, i))) tombs.remove(i);
  }
}
