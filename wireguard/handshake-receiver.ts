// Incoming handshake messages (wireguard-go receive.go RoutineHandshake): mac1 is checked at once, so
// junk never takes queue space; valid-looking messages wait in a bounded queue (1024) drained a slice
// per event-loop turn, so a flood cannot starve the data path. While under load (queue ≥ 1/8 full, and
// for 1 s after, as wireguard-go) a message also needs a valid mac2 — otherwise it gets a cookie reply —
// and each source IP is held to 20 handshakes/s, burst 5. Then initiations are consumed and answered,
// responses consumed and the session confirmed.
import { readU32LE } from './bytes.js';
import { HANDSHAKE_QUEUE_SIZE, MESSAGE_INITIATION_SIZE, UNDER_LOAD_AFTER_TIME_MS, UNDER_LOAD_QUEUE_THRESHOLD } from './constants.js';
import type { CookieChecker } from './cookie.js';
import type { DeviceCounters } from './counters.js';
import type { HandshakeEngine, PeerHandshake } from './handshake.js';
import type { Clock } from './clock.js';
import type { UdpBind } from '../net/io.js';
import type { Peer } from './peer.js';
import { RateLimiter } from './rate-limiter.js';

export interface HandshakeReceiverHost {
  readonly clock: Clock;
  readonly engine: HandshakeEngine;
  readonly bind: UdpBind;
  readonly stats: DeviceCounters;
  peerByHandshake(hs: PeerHandshake): Peer | null;
  pendingHandshakePeer(index: number): Peer | null;
  reportError(where: string, e: unknown): void;
  isClosed(): boolean;
}

interface QueuedHandshake {
  msg: Uint8Array;
  addr16: Uint8Array;
  port: number;
}

/** Handshake messages processed per event-loop turn (≈0.3 ms each) before yielding to I/O. */
const HANDSHAKE_SLICE = 32;

export class HandshakeReceiver {
  private readonly rateLimiter = new RateLimiter();
  private underLoadUntil = -Infinity;
  private queue: QueuedHandshake[] = [];
  private head = 0;
  private scheduled = false;

  constructor(
    private readonly host: HandshakeReceiverHost,
    private readonly cookies: CookieChecker,
    private readonly underLoadOpt: boolean | (() => boolean) | undefined,
  ) {}

  setLocalPublicKey(pub: Uint8Array): void {
    this.cookies.init(pub);
  }

  clear(): void {
    this.queue = [];
    this.head = 0;
  }

  /** mac1 is checked at once (cheap, drops junk before it takes queue space); the rest is queued. */
  receive(buf: Uint8Array, len: number, addrs: Uint8Array, addrOff: number, port: number): void {
    const msg = buf.subarray(0, len);
    if (!this.cookies.checkMAC1(msg)) {
      this.host.stats.drop_bad_mac1++;
      return;
    }
    if (this.queue.length - this.head >= HANDSHAKE_QUEUE_SIZE) {
      this.host.stats.drop_handshake_queue_full++;
      return;
    }
    this.queue.push({ msg: Uint8Array.from(msg), addr16: addrs.slice(addrOff, addrOff + 16), port });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  /** wireguard-go: under load while the queue is ≥ 1/8 full, and for 1 s after. */
  isUnderLoad(): boolean {
    const o = this.underLoadOpt;
    if (typeof o === 'boolean') return o;
    if (typeof o === 'function') return o();
    const now = this.host.clock.now();
    if (this.queue.length - this.head >= UNDER_LOAD_QUEUE_THRESHOLD) {
      if (this.underLoadUntil < now) this.host.stats.under_load_events++;
      this.underLoadUntil = now + UNDER_LOAD_AFTER_TIME_MS;
      return true;
    }
    return this.underLoadUntil > now;
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    if (this.host.isClosed()) return;
    const end = Math.min(this.queue.length, this.head + HANDSHAKE_SLICE);
    while (this.head < end) {
      const q = this.queue[this.head++];
      try {
        this.processHandshake(q);
      } catch (e) {
        this.host.reportError('handshake', e);
      }
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  };

  private processHandshake(q: QueuedHandshake): void {
    const c = this.host.stats;
    const now = this.host.clock.now();
    const msg = q.msg;
    if (this.isUnderLoad()) {
      if (!this.cookies.checkMAC2(msg, q.addr16, q.port, now)) {
        const reply = this.cookies.createReply(msg, readU32LE(msg, 4), q.addr16, q.port, now);
        try {
          this.host.bind.send(reply, 0, reply.length, q.addr16, q.port);
        } catch (e) {
          c.drop_send_error++;
          this.host.reportError('send', e);
        }
        c.cookie_replies_sent++;
        c.drop_bad_mac2++;
        return;
      }
      if (!this.rateLimiter.allow(q.addr16, now)) {
        c.drop_ratelimited++;
        return;
      }
    }
    if (msg.length === MESSAGE_INITIATION_SIZE) {
      c.handshake_initiations_received++;
      const hs = this.host.engine.consumeInitiation(msg, now);
      if (!hs) {
        c.dropHandshake(this.host.engine.lastReason);
        return;
      }
      const peer = this.host.peerByHandshake(hs);
      if (!peer) return;
      peer.log('received handshake initiation');
      peer.setEndpoint(q.addr16, 0, q.port);
      peer.rxBytes += msg.length;
      peer.timers.anyAuthenticatedPacketTraversal();
      peer.timers.anyAuthenticatedPacketReceived();
      peer.sendHandshakeResponse();
      return;
    }
    c.handshake_responses_received++;
    const peer = this.host.pendingHandshakePeer(readU32LE(msg, 8));
    if (!peer) {
      c.drop_invalid_index++;
      return;
    }
    if (!this.host.engine.consumeResponse(msg, peer.handshake)) {
      c.dropHandshake(this.host.engine.lastReason);
      return;
    }
    peer.log('received handshake response');
    peer.setEndpoint(q.addr16, 0, q.port);
    peer.rxBytes += msg.length;
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketReceived();
    peer.completeAsInitiator();
  }
}
