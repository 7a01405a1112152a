// Adapts filter/'s FilterEngine to wireguard/'s PacketHook: every decrypted inbound packet is judged
// (deliver only on accept), every outbound packet is recorded as flow state (always sent). While `agent
// ping` waits for echo replies, accepted inbound packets are also checked for a matching reply; the check
// is skipped entirely when nobody waits, so the hot path stays one filter call.
import type { FilterEngine } from '../filter/engine.js';
import { isAccept, VERDICT_ACCEPT_REVOKED_TUPLE } from '../filter/verdict.js';
import { echoReplyKey } from '../packet/icmp-echo.js';
import type { PacketHook } from '../wireguard/packet-hook.js';

export class FilterHook implements PacketHook {
  private readonly echoWaiters = new Map<number, (peerKey: Uint8Array) => void>();
  /** Set while the agent sends a packet that must not create flow state (an RST for a revoked flow). */
  private untracked = false;
  /**
   * Called (synchronously, with the packet still in `buf`) for an outbound packet on a revoked tuple, so
   * the data plane can answer a live local socket with an RST; null: nothing to do.
   */
  onRevokedTuple: ((buf: Uint8Array, off: number, len: number) => void) | null = null;

  constructor(private readonly engine: FilterEngine) {}

  inbound(buf: Uint8Array, off: number, len: number, peerKey: Uint8Array): boolean {
    const ok = isAccept(this.engine.inbound(buf, off, len));
    if (ok && this.echoWaiters.size > 0) {
      const key = echoReplyKey(buf, off, len);
      if (key >= 0) {
        const done = this.echoWaiters.get(key);
        if (done) {
          this.echoWaiters.delete(key);
          done(peerKey);
        }
      }
    }
    return ok;
  }

  outbound(buf: Uint8Array, off: number, len: number): boolean {
    // Outbound is always allowed (filter.md); the call records the flow so replies get in.
    if (!this.untracked && this.engine.outbound(buf, off, len) === VERDICT_ACCEPT_REVOKED_TUPLE && this.onRevokedTuple) this.onRevokedTuple(buf, off, len);
    return true;
  }

  /**
   * Runs `send` (which must hand its packet to the device synchronously) without recording flow state:
   * the RST that tells a peer its revoked connection is gone must not re-open a flow for that peer.
   */
  sendUntracked(send: () => void): void {
    this.untracked = true;
    try {
      send();
    } finally {
      this.untracked = false;
    }
  }

  /**
   * Calls `onReply` with the sending peer's key when the echo reply with this id/seq arrives (and is
   * accepted), synchronously while the device handles the datagram that carried it; returns a canceller.
   */
  expectEchoReply(id: number, seq: number, onReply: (peerKey: Uint8Array) => void): () => void {
    const key = (((id & 0xffff) << 16) | (seq & 0xffff)) >>> 0;
    this.echoWaiters.set(key, onReply);
    return () => this.echoWaiters.delete(key);
  }
}
