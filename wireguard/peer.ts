// One WireGuard peer: its handshake state, keypairs, cookie generator, timers, endpoint, staged packets
// and the send path (wireguard-go peer.go + send.go). The device owns the peers and does the receive
// dispatch; a peer asks it for indices, buffers and the socket through PeerHost.
// Not concurrency-safe; everything runs on the event loop.
import { AEAD_TAG_SIZE, KEY_SIZE, MAX_STAGED_PACKETS, TRANSPORT_HEADER_SIZE, REKEY_ON_RECEIVE_AGE_MS, REKEY_TIMEOUT_MS } from './constants.js';
import { CookieGenerator } from './cookie.js';
import type { CryptoBackend } from '../crypto/backend.js';
import { type HandshakeEngine, PeerHandshake } from './handshake.js';
import type { Clock } from './clock.js';
import type { UdpBind } from '../net/io.js';
import { Keypair, Keypairs } from './keypair.js';
import { PeerTimers, type TimerTarget } from './timers.js';
import { paddedLength, type TransportAead } from './transport.js';
import type { DeviceCounters } from './counters.js';


/** What a peer needs from its device. */
export interface PeerHost {
  readonly clock: Clock;
  readonly crypto: CryptoBackend;
  readonly engine: HandshakeEngine;
  readonly transport: TransportAead;
  readonly bind: UdpBind;
  readonly stats: DeviceCounters;
  readonly mtu: number;
  readonly rekeyAfterTimeMs: number;
  readonly rekeyAfterMessages: number;
  /** Output buffer for one transport message; valid until the next send. */
  readonly sendBuf: Uint8Array;
  wallNow(): number;
  /** Registers a fresh random local index for this peer's handshake (keypair attached later). */
  newIndex(peer: Peer): number;
  freeIndex(index: number): void;
  attachKeypair(index: number, kp: Keypair): void;
  /**
   * Takes a transport message to seal later, in one batch on both cores, and to hand back through
   * Peer.sendSealed in the order taken; false = seal and send it now. The counter is already assigned.
   */
  deferSeal(peer: Peer, kp: Keypair, counter: number, buf: Uint8Array, off: number, len: number, paddedLen: number): boolean;
  /** Seals and sends every deferred message, in order (before anything else goes out). */
  flushSeals(): void;
  log(msg: string): void;
  reportError(where: string, e: unknown): void;
}

export class Peer implements TimerTarget {
  readonly publicKey: Uint8Array;
  readonly handshake: PeerHandshake;
  readonly keypairs: Keypairs;
  readonly cookieGen: CookieGenerator;
  readonly timers: PeerTimers;
  /** Current endpoint: 16-byte (v4-mapped) address and port; port 0 = none. */
  readonly endpointAddr = new Uint8Array(16);
  endpointPort = 0;
  persistentKeepaliveMs = 0;
  rxBytes = 0;
  txBytes = 0;
  /** Wall-clock ms of the last completed handshake (0 = never). */
  lastHandshakeMs = 0;
  /** Index of an in-flight handshake that no keypair owns yet (0 = none). */
  handshakeIndex = 0;
  private readonly staged: Uint8Array[] = [];
  private readonly stagedLens: number[] = [];
  private stagedCount = 0;
  private stagedHead = 0;
  private readonly host: PeerHost;
  private readonly name: string;

  constructor(host: PeerHost, publicKey: Uint8Array) {
    if (publicKey.length !== KEY_SIZE) throw new RangeError('peer public key must be 32 bytes');
    this.host = host;
    this.publicKey = Uint8Array.from(publicKey);
    this.name = `peer(${Buffer.from(publicKey).toString('base64').slice(0, 4)}…${Buffer.from(publicKey).toString('base64').slice(39, 43)})`;
    this.handshake = new PeerHandshake(publicKey);
    this.keypairs = new Keypairs((kp) => host.freeIndex(kp.localIndex));
    this.cookieGen = new CookieGenerator(host.crypto, publicKey);
    this.timers = new PeerTimers(host.clock, this);
  }

  get hasEndpoint(): boolean {
    return this.endpointPort !== 0;
  }

  log(msg: string): void {
    this.host.log(`${this.name}: ${msg}`);
  }

  timerError(e: unknown): void {
    this.host.reportError(`${this.name} timer`, e);
  }

  /** Roaming: the endpoint becomes the source of the last authenticated packet. */
  setEndpoint(addr16: Uint8Array, off: number, port: number): void {
    if (port === this.endpointPort) {
      let same = true;
      for (let i = 0; i < 16; i++) {
        if (this.endpointAddr[i] !== addr16[off + i]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    for (let i = 0; i < 16; i++) this.endpointAddr[i] = addr16[off + i];
    this.endpointPort = port;
  }

  clearEndpoint(): void {
    this.endpointAddr.fill(0);
    this.endpointPort = 0;
  }

  // --- send path ---

  /**
   * Sends one IP packet (or a keepalive when len = 0) to this peer: straight out if there is a usable
   * keypair and nothing is queued ahead of it, otherwise staged and a handshake is started.
   */
  sendPacket(buf: Uint8Array, off: number, len: number): void {
    const now = this.host.clock.now();
    const kp = this.keypairs.current;
    if (this.stagedCount === 0 && kp && kp.canSend(now) && this.hasEndpoint) {
      this.sealAndSend(kp, buf, off, len);
      this.keepKeyFreshSending(kp, now);
      return;
    }
    this.stage(buf, off, len);
    this.sendStagedPackets();
  }

  /** Sends an empty transport packet (or whatever is staged, which confirms the keys just as well). */
  sendKeepalive(): void {
    if (this.stagedCount === 0) this.stage(EMPTY, 0, 0);
    this.sendStagedPackets();
  }

  /** Sends every staged packet if a usable keypair exists; otherwise starts a handshake. */
  sendStagedPackets(): void {
    if (this.stagedCount === 0) return;
    const now = this.host.clock.now();
    const kp = this.keypairs.current;
    if (!kp || !kp.canSend(now) || !this.hasEndpoint) {
      this.sendHandshakeInitiation(false);
      return;
    }
    while (this.stagedCount > 0) {
      const i = this.stagedHead;
      this.stagedHead = (i + 1) % MAX_STAGED_PACKETS;
      this.stagedCount--;
      this.sealAndSend(kp, this.staged[i], 0, this.stagedLens[i]);
    }
    this.stagedHead = 0;
    this.keepKeyFreshSending(kp, now);
  }

  dropStagedPackets(): void {
    this.host.stats.drop_staged_expired += this.stagedCount;
    this.stagedCount = 0;
    this.stagedHead = 0;
  }

  get stagedPackets(): number {
    return this.stagedCount;
  }

  /** Starts a handshake unless one was sent less than REKEY_TIMEOUT ago. */
  sendHandshakeInitiation(isRetry: boolean): void {
    if (!isRetry) this.timers.handshakeAttempts = 0;
    const host = this.host;
    const now = host.clock.now();
    if (now - this.handshake.lastSentHandshake < REKEY_TIMEOUT_MS) return;
    this.handshake.lastSentHandshake = now;
    if (this.handshakeIndex !== 0) host.freeIndex(this.handshakeIndex);
    this.handshakeIndex = host.newIndex(this);
    const msg = host.engine.createInitiation(this.handshake, this.handshakeIndex, host.wallNow());
    if (!msg) {
      this.log(`failed to create initiation: ${host.engine.lastReason}`);
      host.freeIndex(this.handshakeIndex);
      this.handshakeIndex = 0;
      return;
    }
    this.cookieGen.addMacs(msg, now);
    this.timers.anyAuthenticatedPacketTraversal();
    this.timers.anyAuthenticatedPacketSent();
    this.log(`sending handshake initiation${isRetry ? ` (retry ${this.timers.handshakeAttempts})` : ''}`);
    if (this.hasEndpoint) {
      this.send(msg, 0, msg.length);
      this.txBytes += msg.length;
      host.stats.handshake_initiations_sent++;
    } else {
      host.stats.drop_no_endpoint++;
    }
    this.timers.handshakeInitiated();
  }

  /** Answers a consumed initiation: response + a new responder keypair (goes into `next`). */
  sendHandshakeResponse(): void {
    const host = this.host;
    const now = host.clock.now();
    this.handshake.lastSentHandshake = now;
    // Our in-flight initiation keeps its index if it crossed this one (PeerHandshake.crossed): the
    // peer's response to it can still complete a session.
    if (this.handshakeIndex !== 0 && this.handshake.crossed?.localIndex !== this.handshakeIndex) {
      host.freeIndex(this.handshakeIndex);
      this.handshakeIndex = 0;
    }
    const index = host.newIndex(this);
    const msg = host.engine.createResponse(this.handshake, index);
    if (!msg) {
      host.freeIndex(index);
      this.log(`failed to create response: ${host.engine.lastReason}`);
      return;
    }
    this.cookieGen.addMacs(msg, now);
    const keys = host.engine.beginSymmetricSession(this.handshake);
    if (!keys) {
      host.freeIndex(index);
      return;
    }
    const kp = new Keypair(keys, now, host.transport);
    host.attachKeypair(index, kp);
    this.keypairs.install(kp);
    this.timers.sessionDerived();
    this.timers.anyAuthenticatedPacketTraversal();
    this.timers.anyAuthenticatedPacketSent();
    this.log('sending handshake response');
    this.send(msg, 0, msg.length);
    this.txBytes += msg.length;
    host.stats.handshake_responses_sent++;
  }

  /** After a response was consumed: derive the initiator keypair (becomes current) and confirm it. */
  completeAsInitiator(): boolean {
    const host = this.host;
    const keys = host.engine.beginSymmetricSession(this.handshake);
    if (!keys) return false;
    const now = host.clock.now();
    const kp = new Keypair(keys, now, host.transport);
    host.attachKeypair(keys.localIndex, kp);
    this.handshakeIndex = 0;
    this.keypairs.install(kp);
    this.timers.sessionDerived();
    this.handshakeComplete();
    this.sendKeepalive();
    return true;
  }

  handshakeComplete(): void {
    this.log('handshake complete, keypair confirmed');
    this.timers.handshakeComplete();
    this.lastHandshakeMs = this.host.wallNow();
    this.host.stats.handshakes_completed++;
  }

  /** Initiator: rekey when the keypair is old or has sent many messages (checked after sending). */
  private keepKeyFreshSending(kp: Keypair, now: number): void {
    if (kp.sendNonce > this.host.rekeyAfterMessages || (kp.isInitiator && now - kp.created > this.host.rekeyAfterTimeMs)) {
      this.sendHandshakeInitiation(false);
    }
  }

  /** Initiator: one last-minute rekey when receiving on a keypair about to expire. */
  keepKeyFreshReceiving(): void {
    if (this.timers.sentLastMinuteHandshake) return;
    const kp = this.keypairs.current;
    if (kp && kp.isInitiator && this.host.clock.now() - kp.created > REKEY_ON_RECEIVE_AGE_MS) {
      this.timers.sentLastMinuteHandshake = true;
      this.sendHandshakeInitiation(false);
    }
  }

  zeroKeyMaterial(): void {
    this.keypairs.clear();
    if (this.handshakeIndex !== 0) this.host.freeIndex(this.handshakeIndex);
    this.handshakeIndex = 0;
    this.handshake.clear();
    this.handshake.forgetCrossed();
  }

  /** Removes everything this peer holds (on removal from the device). */
  destroy(): void {
    this.timers.stop();
    this.dropStagedPackets();
    this.zeroKeyMaterial();
  }

  private sealAndSend(kp: Keypair, buf: Uint8Array, off: number, len: number): void {
    const host = this.host;
    const counter = kp.sendNonce++;
    const padded = paddedLength(len, host.mtu);
    let n = TRANSPORT_HEADER_SIZE + padded + AEAD_TAG_SIZE;
    if (!host.deferSeal(this, kp, counter, buf, off, len, padded)) {
      n = host.transport.seal(kp.sendKey, kp.remoteIndex, counter, buf, off, len, padded, host.sendBuf);
      this.send(host.sendBuf, 0, n);
    }
    this.txBytes += n;
    const c = host.stats;
    c.tx_packets++;
    c.tx_bytes += n;
    this.timers.anyAuthenticatedPacketTraversal();
    this.timers.anyAuthenticatedPacketSent();
    if (len > 0) this.timers.dataSent();
    else c.keepalives_sent++;
  }

  /** A message sealed by the host's batch (deferSeal), sent in the order it was deferred. */
  sendSealed(buf: Uint8Array, len: number): void {
    this.sendNow(buf, 0, len);
  }

  /** Anything sent directly goes out after the deferred seals, so the peer's datagrams keep their order. */
  private send(buf: Uint8Array, off: number, len: number): void {
    this.host.flushSeals();
    this.sendNow(buf, off, len);
  }

  /** A failing socket send is a lost datagram (as UDP would be), never an exception for the caller. */
  private sendNow(buf: Uint8Array, off: number, len: number): void {
    try {
      this.host.bind.send(buf, off, len, this.endpointAddr, this.endpointPort);
    } catch (e) {
      this.host.stats.drop_send_error++;
      this.host.reportError('send', e);
    }
  }

  /** Copies a packet into the staged ring (reusing slot buffers); the oldest is dropped when full. */
  private stage(buf: Uint8Array, off: number, len: number): void {
    this.host.flushSeals(); // a deferred seal may still read a staged slot about to be reused
    if (this.stagedCount === MAX_STAGED_PACKETS) {
      this.stagedHead = (this.stagedHead + 1) % MAX_STAGED_PACKETS;
      this.stagedCount--;
      this.host.stats.drop_staged_overflow++;
    }
    const slot = (this.stagedHead + this.stagedCount) % MAX_STAGED_PACKETS;
    let b = this.staged[slot];
    if (!b || b.length < len) {
      b = new Uint8Array(Math.max(len, this.host.mtu));
      this.staged[slot] = b;
    }
    b.set(buf.subarray(off, off + len), 0);
    this.stagedLens[slot] = len;
    this.stagedCount++;
  }
}

const EMPTY = new Uint8Array(0);
