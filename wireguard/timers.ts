// The per-peer timer state machine (wireguard-go timers.go, a port of the kernel's timers.c): one
// function per event, one per expiry. Timers are "lazy": moving a deadline later only records it, and
// the underlying clock timer re-arms itself when it fires early, so the per-packet events (data sent,
// packet received) cost a clock read and a compare, not a clearTimeout/setTimeout pair.
//
//   retransmitHandshake  armed REKEY_TIMEOUT + jitter after sending an initiation; retries up to
//                        MAX_TIMER_HANDSHAKES, then gives up (drop staged packets, arm zeroKeyMaterial)
//   sendKeepalive        armed KEEPALIVE_TIMEOUT after receiving data; cancelled by any packet we send
//   newHandshake         armed KEEPALIVE + REKEY_TIMEOUT + jitter after sending data; cancelled by any
//                        authenticated packet received; on expiry the peer went silent: re-handshake
//   zeroKeyMaterial      3 × REJECT_AFTER_TIME after a session is derived: wipe all keys
//   persistentKeepalive  every N s of traffic silence, if configured
import {
  KEEPALIVE_TIMEOUT_MS,
  MAX_TIMER_HANDSHAKES,
  REKEY_TIMEOUT_JITTER_MAX_MS,
  REKEY_TIMEOUT_MS,
  ZERO_KEY_MATERIAL_MS,
} from './constants.js';
import type { Clock } from './clock.js';

/** What the timers drive; implemented by Peer. */
export interface TimerTarget {
  sendKeepalive(): void;
  sendHandshakeInitiation(isRetry: boolean): void;
  dropStagedPackets(): void;
  zeroKeyMaterial(): void;
  readonly persistentKeepaliveMs: number;
  log(msg: string): void;
  /** An expiry handler threw; the timer machinery carries on. */
  timerError(e: unknown): void;
}

export class LazyTimer {
  private active = false;
  private deadline = 0;
  private handle: unknown = null;
  private scheduledAt = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly fn: () => void,
    private readonly onError: ((e: unknown) => void) | null = null,
  ) {}

  /** (Re)arms the timer to fire `ms` from now. */
  mod(ms: number): void {
    this.deadline = this.clock.now() + ms;
    this.active = true;
    if (this.handle === null || this.scheduledAt > this.deadline) this.schedule();
  }

  del(): void {
    this.active = false;
  }

  get pending(): boolean {
    return this.active;
  }

  /** Stops for good (also the underlying clock timer). */
  stop(): void {
    this.active = false;
    if (this.handle !== null) this.clock.clearTimeout(this.handle);
    this.handle = null;
    this.scheduledAt = Infinity;
  }

  private schedule(): void {
    if (this.handle !== null) this.clock.clearTimeout(this.handle);
    this.scheduledAt = this.deadline;
    this.handle = this.clock.setTimeout(this.fire, Math.max(0, this.deadline - this.clock.now()));
  }

  private readonly fire = (): void => {
    this.handle = null;
    this.scheduledAt = Infinity;
    if (!this.active) return;
    if (this.clock.now() < this.deadline) {
      this.schedule();
      return;
    }
    this.active = false;
    if (!this.onError) {
      this.fn();
      return;
    }
    try {
      this.fn();
    } catch (e) {
      this.onError(e);
    }
  };
}

export function jitterMs(): number {
  return Math.floor(Math.random() * REKEY_TIMEOUT_JITTER_MAX_MS);
}

export class PeerTimers {
  handshakeAttempts = 0;
  needAnotherKeepalive = false;
  sentLastMinuteHandshake = false;
  private running = true;
  readonly retransmitHandshake: LazyTimer;
  readonly sendKeepalive: LazyTimer;
  readonly newHandshake: LazyTimer;
  readonly zeroKeyMaterial: LazyTimer;
  readonly persistentKeepalive: LazyTimer;

  constructor(
    clock: Clock,
    private readonly peer: TimerTarget,
    private readonly jitter: () => number = jitterMs,
  ) {
    const onError = (e: unknown): void => peer.timerError(e);
    this.retransmitHandshake = new LazyTimer(clock, () => this.expiredRetransmitHandshake(), onError);
    this.sendKeepalive = new LazyTimer(clock, () => this.expiredSendKeepalive(), onError);
    this.newHandshake = new LazyTimer(clock, () => this.expiredNewHandshake(), onError);
    this.zeroKeyMaterial = new LazyTimer(clock, () => this.expiredZeroKeyMaterial(), onError);
    this.persistentKeepalive = new LazyTimer(clock, () => this.expiredPersistentKeepalive(), onError);
  }

  // --- events ---

  /** We sent a transport packet carrying data. */
  dataSent(): void {
    if (this.running && !this.newHandshake.pending) this.newHandshake.mod(KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS + this.jitter());
  }

  /** We received a transport packet carrying data. */
  dataReceived(): void {
    if (!this.running) return;
    if (!this.sendKeepalive.pending) this.sendKeepalive.mod(KEEPALIVE_TIMEOUT_MS);
    else this.needAnotherKeepalive = true;
  }

  /** Any authenticated packet (handshake, keepalive, data) was sent. */
  anyAuthenticatedPacketSent(): void {
    if (this.running) this.sendKeepalive.del();
  }

  /** Any authenticated packet (handshake, keepalive, data) was received. */
  anyAuthenticatedPacketReceived(): void {
    if (this.running) this.newHandshake.del();
  }

  /** An initiation was sent. */
  handshakeInitiated(): void {
    if (this.running) this.retransmitHandshake.mod(REKEY_TIMEOUT_MS + this.jitter());
  }

  /** A handshake completed (response consumed, or first data on a responder's new keypair). */
  handshakeComplete(): void {
    if (this.running) this.retransmitHandshake.del();
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
  }

  /** Transport keys were derived. */
  sessionDerived(): void {
    if (this.running) this.zeroKeyMaterial.mod(ZERO_KEY_MATERIAL_MS);
  }

  /** Any authenticated packet went either way. */
  anyAuthenticatedPacketTraversal(): void {
    const ms = this.peer.persistentKeepaliveMs;
    if (ms > 0 && this.running) this.persistentKeepalive.mod(ms);
  }

  stop(): void {
    this.running = false;
    this.retransmitHandshake.stop();
    this.sendKeepalive.stop();
    this.newHandshake.stop();
    this.zeroKeyMaterial.stop();
    this.persistentKeepalive.stop();
  }

  // --- expiries ---

  private expiredRetransmitHandshake(): void {
    if (this.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
      this.peer.log(`handshake did not complete after ${MAX_TIMER_HANDSHAKES + 2} attempts, giving up`);
      this.sendKeepalive.del();
      this.peer.dropStagedPackets();
      if (!this.zeroKeyMaterial.pending) this.zeroKeyMaterial.mod(ZERO_KEY_MATERIAL_MS);
      return;
    }
    this.handshakeAttempts++;
    this.peer.log(`handshake did not complete after ${REKEY_TIMEOUT_MS / 1000} seconds, retrying (try ${this.handshakeAttempts + 1})`);
    this.peer.sendHandshakeInitiation(true);
  }

  private expiredSendKeepalive(): void {
    this.peer.sendKeepalive();
    if (this.needAnotherKeepalive) {
      this.needAnotherKeepalive = false;
      this.sendKeepalive.mod(KEEPALIVE_TIMEOUT_MS);
    }
  }

  private expiredNewHandshake(): void {
    this.peer.log(`retrying handshake because we stopped hearing back after ${(KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS) / 1000} seconds`);
    this.peer.sendHandshakeInitiation(false);
  }

  private expiredZeroKeyMaterial(): void {
    this.peer.log('removing all keys, since we have not received a new one in a while');
    this.peer.zeroKeyMaterial();
  }

  private expiredPersistentKeepalive(): void {
    if (this.peer.persistentKeepaliveMs > 0) this.peer.sendKeepalive();
  }
}
