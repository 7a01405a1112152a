// The WireGuard device: ties peers, a UdpBind and a PacketDevice together (wireguard-go device.go,
// receive.go, send.go). Outbound: packet device → PacketHook.outbound → cryptokey routing (longest
// prefix on the destination) → peer send path. Inbound: datagram → classify → transport (decrypt,
// replay window, roaming, keypair confirmation, IP-length trim, cryptokey source check,
// PacketHook.inbound, packet device) or handshake (mac1 at once, then a bounded handshake queue drained
// a slice at a time, with cookie replies and per-source rate limits while under load).
//
// Everything runs on the event loop; batches from the bind and the packet device are processed
// synchronously, reusing one plaintext and one ciphertext buffer (nothing is retained per packet). With
// the native transport and aeadThreads 1 (GRANTWIRE_AEAD_THREADS=1), a datagram batch's transport messages
// are first decrypted in place as one native batch split over two threads (aead-batch.ts), and a packet
// batch's seals are deferred into one; the batch is then processed, and sent, in order as before.
// close() closes the bind and the packet device too.
import { checkKeyLength } from '../crypto/key.js';
import { readU16BE, readU32LE, readU64LE } from './bytes.js';
import {
  DEFAULT_MTU,
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_TYPE,
  MESSAGE_TRANSPORT_TYPE,
  REJECT_AFTER_MESSAGES,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME_MS,
  TRANSPORT_HEADER_SIZE,
} from './constants.js';
import { CookieChecker } from './cookie.js';
import { DeviceCounters } from './counters.js';
import { defaultCrypto, type CryptoBackend } from '../crypto/backend.js';
import { HandshakeEngine, LocalStatic, type PeerHandshake } from './handshake.js';
import type { Clock } from './clock.js';
import type { DatagramBatch, PacketBatch, PacketDevice, UdpBind } from '../net/io.js';
import type { PacketHook } from './packet-hook.js';
import { realClock } from './clock.js';
import type { Keypair } from './keypair.js';
import { classifyMessage } from './messages.js';
import { Peer, type PeerHost } from './peer.js';
import { HandshakeReceiver } from './handshake-receiver.js';
import { TransportCrypto, type TransportAead } from './transport.js';
import { NativeTransportCrypto, type NativeAeadKey } from './native-aead.js';
import { AeadBatch, aeadThreadsMode, type AeadBatchMode } from './aead-batch.js';
import { DeviceConfig, type PeerConfig, type PeerInfo } from './device-config.js';

export type { PeerConfig, PeerInfo } from './device-config.js';

export interface DeviceOptions {
  privateKey: Uint8Array;
  tun: PacketDevice;
  bind: UdpBind;
  clock?: Clock;
  hook?: PacketHook | null;
  /** Padding cap and plaintext limit; default tun.mtu, else 1420. */
  mtu?: number;
  /** Receives tshark key-log lines (LOCAL_STATIC_PRIVATE_KEY, LOCAL_EPHEMERAL_PRIVATE_KEY, PRESHARED_KEY). */
  keyLog?: ((line: string) => void) | null;
  logger?: ((msg: string) => void) | null;
  /** Forces cookie mode on/off (boolean) or decides it (function); default: handshake-queue depth like wireguard-go. */
  underLoad?: boolean | (() => boolean);
  /** Shortened REKEY_AFTER_TIME for tests and interop (default 120 s). */
  rekeyAfterTimeMs?: number;
  /** Shortened REKEY_AFTER_MESSAGES for tests (default 2^60). */
  rekeyAfterMessages?: number;
  crypto?: CryptoBackend;
  /** Wall clock (ms since epoch) for TAI64N and last-handshake times; default Date.now, or derived from an injected clock. */
  wallClock?: () => number;
  /**
   * Data-path AEAD: 'auto' (default) uses the native addon's in-place ChaCha20-Poly1305 when it is
   * built and node:crypto otherwise; 'node' forces node:crypto; or pass an implementation.
   */
  transport?: 'auto' | 'node' | TransportAead;
  /**
   * The native transport's AEAD: 0 one packet per call on the event loop (the default), 1 batches split
   * between the event loop and a worker thread, 2 batches on the worker only (tests). Default from
   * GRANTWIRE_AEAD_THREADS (=1 for mode 1). Without the native transport, always per packet.
   */
  aeadThreads?: AeadBatchMode;
}

/** Transport messages of one datagram batch decrypted together before the batch is processed in order. */
const OPEN_BATCH = 128;
/** Transport messages of one packet batch sealed together (into slots of SEAL_SLOT bytes) before they are sent in order. */
const SEAL_BATCH = 64;
const SEAL_SLOT = 2048;

interface IndexEntry {
  peer: Peer;
  keypair: Keypair | null;
}


export class Device implements PeerHost {
  readonly clock: Clock;
  readonly crypto: CryptoBackend;
  readonly engine: HandshakeEngine;
  readonly transport: TransportAead;
  readonly bind: UdpBind;
  readonly tun: PacketDevice;
  readonly stats = new DeviceCounters();
  readonly mtu: number;
  readonly rekeyAfterTimeMs: number;
  readonly rekeyAfterMessages: number;
  readonly sendBuf: Uint8Array;
  private readonly recvBuf: Uint8Array;
  /** Batch decryption (native transport only): job index per datagram (-1 none) and the keypair used. */
  private readonly openBatch: AeadBatch | null;
  private readonly openJob = new Int32Array(OPEN_BATCH);
  private readonly openKeypair: (Keypair | null)[] = new Array<Keypair | null>(OPEN_BATCH).fill(null);
  /** Batch sealing while a packet batch is processed (native transport only): output slots and their peers. */
  private readonly sealBatch: AeadBatch | null;
  private readonly sealOut: Uint8Array[];
  private readonly sealPeer: (Peer | null)[] = new Array<Peer | null>(SEAL_BATCH).fill(null);
  private sealing = false;
  private readonly config: DeviceConfig;
  private hook: PacketHook | null;
  private readonly logger: ((msg: string) => void) | null;
  private keyLog: ((line: string) => void) | null;
  private readonly handshakes: HandshakeReceiver;
  private readonly indices = new Map<number, IndexEntry>();
  private readonly indexRand = new Uint32Array(1);
  private readonly wall: () => number;
  private started = false;
  private closed = false;
  private lastErrorLog = -Infinity;

  constructor(opts: DeviceOptions) {
    this.clock = opts.clock ?? realClock;
    this.crypto = opts.crypto ?? defaultCrypto();
    this.tun = opts.tun;
    this.bind = opts.bind;
    this.hook = opts.hook ?? null;
    this.logger = opts.logger ?? null;
    this.keyLog = opts.keyLog ?? null;
    this.mtu = opts.mtu ?? opts.tun.mtu ?? DEFAULT_MTU;
    this.rekeyAfterTimeMs = opts.rekeyAfterTimeMs ?? REKEY_AFTER_TIME_MS;
    this.rekeyAfterMessages = opts.rekeyAfterMessages ?? REKEY_AFTER_MESSAGES;
    const t = opts.transport ?? 'auto';
    this.transport = t === 'node' ? new TransportCrypto() : t === 'auto' ? (NativeTransportCrypto.create() ?? new TransportCrypto()) : t;
    // Mode 0 is the per-packet path exactly (no batches); 1 and 2 batch the AEAD onto the worker thread.
    const mode = opts.aeadThreads ?? aeadThreadsMode();
    const batched = this.transport instanceof NativeTransportCrypto && mode !== 0;
    this.openBatch = batched ? AeadBatch.create(OPEN_BATCH, mode) : null;
    this.sealBatch = batched ? AeadBatch.create(SEAL_BATCH, mode) : null;
    this.sealOut = this.sealBatch ? Array.from({ length: SEAL_BATCH }, () => new Uint8Array(SEAL_SLOT)) : [];
    if (opts.wallClock) this.wall = opts.wallClock;
    else if (opts.clock) {
      const wall0 = Date.now();
      const mono0 = opts.clock.now();
      this.wall = () => wall0 + (this.clock.now() - mono0);
    } else this.wall = Date.now;
    this.sendBuf = new Uint8Array(65536 + 64);
    this.recvBuf = new Uint8Array(65536);
    checkKeyLength(opts.privateKey, 'private key');
    const local = new LocalStatic(this.crypto, opts.privateKey);
    this.config = new DeviceConfig(this);
    this.engine = new HandshakeEngine({
      crypto: this.crypto,
      local,
      lookupPeer: (pub) => this.config.peerByKey(pub)?.handshake ?? null,
      keyLog: this.keyLog,
    });
    this.handshakes = new HandshakeReceiver(this, new CookieChecker(this.crypto, local.publicKey), opts.underLoad);
  }

  // ---------------------------------------------------------------- public API

  get publicKey(): Uint8Array {
    return Uint8Array.from(this.engine.local.publicKey);
  }

  /** Replaces the static key: handshakes restart, current keypairs stop being used for sending. */
  setPrivateKey(k: Uint8Array): void {
    checkKeyLength(k, 'private key');
    const local = new LocalStatic(this.crypto, k);
    if (Buffer.compare(local.publicKey, this.engine.local.publicKey) === 0) return;
    this.engine.local = local;
    this.handshakes.setLocalPublicKey(local.publicKey);
    this.config.removePeer(local.publicKey); // we cannot be our own peer
    for (const p of this.config.allPeers()) {
      p.handshake.precompute(local);
      p.handshake.clear();
      p.handshake.forgetCrossed();
      p.handshake.lastSentHandshake = -Infinity;
      if (p.keypairs.current) p.keypairs.current.sendNonce = REJECT_AFTER_MESSAGES;
    }
    if (this.started) this.logStaticKey();
  }

  setHook(h: PacketHook | null): void {
    this.hook = h;
  }

  setKeyLog(f: ((line: string) => void) | null): void {
    this.keyLog = f;
    this.engine.keyLog = f;
  }

  upsertPeer(p: PeerConfig): void {
    this.config.upsertPeer(p);
  }

  removePeer(publicKey: Uint8Array): void {
    this.config.removePeer(publicKey);
  }

  /**
   * Forgets the session with a peer (its keypairs and any handshake in progress), so that the next packet
   * for it starts a new handshake at once. For a peer known to have restarted: its side of the session is
   * gone, and WireGuard alone notices only after KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s) of data that
   * gets no answer. False when there is no such peer.
   */
  resetPeerSession(publicKey: Uint8Array): boolean {
    const peer = this.config.peerByKey(publicKey);
    if (!peer) return false;
    peer.zeroKeyMaterial();
    peer.handshake.lastSentHandshake = -Infinity; // the new handshake must not wait out REKEY_TIMEOUT
    return true;
  }

  removeAllPeers(): void {
    this.config.removeAllPeers();
  }

  peers(): PeerInfo[] {
    return this.config.peerInfos();
  }

  /**
   * A peer's current endpoint: with roaming, the source of its last authenticated datagram (while the
   * packet hook handles a packet, the datagram that carried it). The arrays are live: read, do not keep.
   */
  peerEndpoint(publicKey: Uint8Array): { addr16: Uint8Array; port: number } | null {
    const peer = this.config.peerByKey(publicKey);
    return peer && peer.hasEndpoint ? { addr16: peer.endpointAddr, port: peer.endpointPort } : null;
  }

  /** Counters: traffic, handshakes, and drops by reason (drop_bad_mac1, drop_replay, ...). */
  counters(): Record<string, number> {
    return this.stats.toRecord();
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.logStaticKey();
    this.config.logPresharedKeys();
    this.tun.start(this.onPackets);
    this.bind.start(this.onDatagrams);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.config.removeAllPeers();
    this.handshakes.clear();
    await Promise.allSettled([this.bind.close(), this.tun.close()]);
  }

  // ---------------------------------------------------------------- PeerHost

  wallNow(): number {
    return this.wall();
  }

  newIndex(peer: Peer): number {
    for (;;) {
      globalThis.crypto.getRandomValues(this.indexRand);
      const idx = this.indexRand[0];
      if (idx !== 0 && !this.indices.has(idx)) {
        this.indices.set(idx, { peer, keypair: null });
        return idx;
      }
    }
  }

  freeIndex(index: number): void {
    this.indices.delete(index);
  }

  attachKeypair(index: number, kp: Keypair): void {
    const e = this.indices.get(index);
    if (e) e.keypair = kp;
  }

  log(msg: string): void {
    this.logger?.(msg);
  }

  deferSeal(peer: Peer, kp: Keypair, counter: number, buf: Uint8Array, off: number, len: number, paddedLen: number): boolean {
    const sb = this.sealBatch;
    if (!this.sealing || sb === null || paddedLen + 32 > SEAL_SLOT) return false;
    if (sb.full) this.flushSeals();
    const i = sb.count;
    sb.addSeal(kp.sendKey as NativeAeadKey, kp.remoteIndex, counter, buf, off, len, paddedLen, this.sealOut[i]);
    this.sealPeer[i] = peer;
    return true;
  }

  flushSeals(): void {
    const sb = this.sealBatch;
    if (sb === null || sb.count === 0) return;
    const n = sb.count;
    try {
      sb.run();
    } catch (e) {
      this.internalError('outbound', e);
      sb.clear();
      for (let i = 0; i < n; i++) this.sealPeer[i] = null;
      this.stats.drop_send_error += n;
      return;
    }
    sb.clear(); // before sending: a send cannot re-enter a batch being read
    for (let i = 0; i < n; i++) {
      const peer = this.sealPeer[i]!;
      this.sealPeer[i] = null;
      const r = sb.result(i);
      if (r > 0) peer.sendSealed(this.sealOut[i], r);
      else this.stats.drop_send_error++;
    }
  }

  /** @internal timers and peers report exceptions here. */
  reportError(where: string, e: unknown): void {
    this.internalError(where, e);
  }

  /** @internal used by DeviceConfig */
  emitKeyLog(line: string): void {
    this.keyLog?.(line);
  }

  /** @internal */
  isStarted(): boolean {
    return this.started && !this.closed;
  }

  /** wireguard-go's notion: handshake queue ≥ 1/8 full, and for 1 s after (or as forced by options). */
  isUnderLoad(): boolean {
    return this.handshakes.isUnderLoad();
  }

  /** @internal */
  isClosed(): boolean {
    return this.closed;
  }

  /** @internal the peer by static key, for the handshake receiver. */
  peerByHandshake(hs: PeerHandshake): Peer | null {
    return this.config.peerByHandshake(hs);
  }

  /** @internal the peer whose in-flight initiation owns `index` (no keypair yet). */
  pendingHandshakePeer(index: number): Peer | null {
    const e = this.indices.get(index);
    return e && !e.keypair ? e.peer : null;
  }

  /** @internal number of live indices (handshakes + keypairs), for tests. */
  get indexCount(): number {
    return this.indices.size;
  }

  // ---------------------------------------------------------------- outbound

  private readonly onPackets = (batch: PacketBatch): void => {
    if (this.closed) return;
    // Seals are deferred into one batch (both cores) and sent in order at the end, or earlier when
    // anything else must go out first; the packet device's buffers stay valid until this returns.
    this.sealing = this.sealBatch !== null && batch.count > 1;
    try {
      this.routePackets(batch);
    } finally {
      this.sealing = false;
      this.flushSeals();
    }
  };

  private routePackets(batch: PacketBatch): void {
    const hook = this.hook;
    const routes = this.config.allowedIPs;
    for (let i = 0; i < batch.count; i++) {
      const buf = batch.bufs[i];
      const len = batch.lens[i];
      try {
        if (hook && !hook.outbound(buf, 0, len)) {
          this.stats.drop_filtered_outbound++;
          continue;
        }
        const peer = routes.lookupDestination(buf, 0, len);
        if (!peer) {
          this.stats.drop_no_route++;
          continue;
        }
        peer.sendPacket(buf, 0, len);
      } catch (e) {
        this.internalError('outbound', e);
      }
    }
  }

  /** A throwing hook, packet device or bind must not take the device down: count, log (rate-limited), go on. */
  private internalError(where: string, e: unknown): void {
    this.stats.internal_errors++;
    const now = this.clock.now();
    if (now - this.lastErrorLog >= 1000) {
      this.lastErrorLog = now;
      this.log(`${where}: ${e instanceof Error ? e.message : String(e)} (${this.stats.internal_errors} so far)`);
    }
  }

  // ---------------------------------------------------------------- inbound

  private readonly onDatagrams = (batch: DatagramBatch): void => {
    if (this.closed) return;
    const now = this.clock.now();
    const opened = this.openBatch !== null && batch.count > 1 ? this.openTransports(batch, now) : 0;
    for (let i = 0; i < batch.count; i++) {
      const buf = batch.bufs[i];
      const len = batch.lens[i];
      try {
        const type = classifyMessage(buf, len);
        if (type === MESSAGE_TRANSPORT_TYPE) {
          if (i < opened && this.openJob[i] >= 0) this.receiveOpened(i, buf, len, batch.addrs, i * 16, batch.ports[i], now);
          else this.receiveTransport(buf, len, batch.addrs, i * 16, batch.ports[i], now);
        } else if (type === MESSAGE_INITIATION_TYPE || type === MESSAGE_RESPONSE_TYPE) this.handshakes.receive(buf, len, batch.addrs, i * 16, batch.ports[i]);
        else if (type === MESSAGE_COOKIE_REPLY_TYPE) this.receiveCookieReply(buf, now);
        else this.stats.drop_invalid_message++;
      } catch (e) {
        this.internalError('inbound', e);
      }
    }
    for (let i = 0; i < opened; i++) this.openKeypair[i] = null;
  };

  /**
   * Decrypts, in place and as one native batch (both cores), the transport messages of the first
   * OPEN_BATCH datagrams whose keypair can receive now. Nothing else happens here: the batch is then
   * processed in order, and each opened message goes through the same checks as receiveTransport
   * (keypair still the same and usable, replay window after authentication, source, filter). Returns
   * how many datagrams were looked at.
   */
  private openTransports(batch: DatagramBatch, now: number): number {
    const ob = this.openBatch!;
    const n = Math.min(batch.count, OPEN_BATCH);
    ob.clear();
    for (let i = 0; i < n; i++) {
      this.openJob[i] = -1;
      const buf = batch.bufs[i];
      const len = batch.lens[i];
      if (classifyMessage(buf, len) !== MESSAGE_TRANSPORT_TYPE) continue;
      const kp = this.indices.get(readU32LE(buf, 4))?.keypair;
      if (!kp || !kp.canReceive(now)) continue;
      this.openJob[i] = ob.addOpen(kp.recvKey as NativeAeadKey, buf, len, buf, TRANSPORT_HEADER_SIZE);
      this.openKeypair[i] = kp;
    }
    try {
      ob.run();
    } catch (e) {
      this.internalError('inbound', e);
      for (let i = 0; i < n; i++) this.openJob[i] = -1; // nothing was decrypted: every message inline
      ob.clear();
    }
    return n;
  }

  /** The index entry a transport message names, if its keypair may still receive; counts the drop if not. */
  private receivingEntry(buf: Uint8Array, now: number): IndexEntry | null {
    const entry = this.indices.get(readU32LE(buf, 4));
    const kp = entry?.keypair;
    if (!entry || !kp) {
      this.stats.drop_invalid_index++;
      return null;
    }
    if (!kp.canReceive(now)) {
      this.stats.drop_expired_keypair++;
      return null;
    }
    return entry;
  }

  /** A transport message openTransports decrypted in place (plaintext at buf[16]); the rest of receiveTransport. */
  private receiveOpened(i: number, buf: Uint8Array, len: number, addrs: Uint8Array, addrOff: number, port: number, now: number): void {
    const c = this.stats;
    const entry = this.receivingEntry(buf, now);
    if (!entry) return;
    const kp = entry.keypair as Keypair;
    // An earlier datagram of this batch replaced the index's keypair: the message was opened with
    // another key, which is what the per-packet path would have failed to do.
    const n = kp === this.openKeypair[i] ? this.openBatch!.result(this.openJob[i]) : -1;
    if (n < 0) {
      c.drop_decrypt_failed++;
      return;
    }
    this.deliverTransport(entry.peer, kp, buf, len, buf, TRANSPORT_HEADER_SIZE, n, addrs, addrOff, port);
  }

  private receiveTransport(buf: Uint8Array, len: number, addrs: Uint8Array, addrOff: number, port: number, now: number): void {
    const c = this.stats;
    const entry = this.receivingEntry(buf, now);
    if (!entry) return;
    const kp = entry.keypair as Keypair;
    const plain = this.recvBuf;
    const n = this.transport.open(kp.recvKey, buf, len, plain);
    if (n < 0) {
      c.drop_decrypt_failed++;
      return;
    }
    this.deliverTransport(entry.peer, kp, buf, len, plain, 0, n, addrs, addrOff, port);
  }

  /** An authenticated message, n plaintext bytes at plain[off]: replay window, roaming, timers, IP checks, filter, TUN. */
  private deliverTransport(peer: Peer, kp: Keypair, buf: Uint8Array, len: number, plain: Uint8Array, off: number, n: number, addrs: Uint8Array, addrOff: number, port: number): void {
    const c = this.stats;
    // Decrypt first, then the replay window: only authenticated counters may move it.
    const ooo = kp.replay.outOfOrder;
    if (!kp.replay.validateCounter(readU64LE(buf, 8), REJECT_AFTER_MESSAGES)) {
      c.drop_replay++;
      return;
    }
    c.rx_out_of_order += kp.replay.outOfOrder - ooo;
    peer.setEndpoint(addrs, addrOff, port);
    peer.rxBytes += len;
    c.rx_packets++;
    c.rx_bytes += len;
    if (peer.keypairs.receivedWith(kp)) {
      peer.handshakeComplete();
      peer.sendStagedPackets();
    }
    peer.keepKeyFreshReceiving();
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketReceived();
    if (n === 0) {
      c.keepalives_received++;
      return;
    }
    peer.timers.dataReceived();
    // Trim the padding using the IP header's own length; drop if it claims more than we decrypted.
    const v = plain[off] >> 4;
    let ipLen: number;
    if (v === 4 && n >= 20) ipLen = readU16BE(plain, off + 2);
    else if (v === 6 && n >= 40) ipLen = readU16BE(plain, off + 4) + 40;
    else {
      c.drop_invalid_ip++;
      return;
    }
    if (ipLen > n || ipLen < (v === 4 ? 20 : 40)) {
      c.drop_truncated++;
      return;
    }
    if (this.config.allowedIPs.lookupSource(plain, off, ipLen) !== peer) {
      c.drop_spoofed_source++;
      return;
    }
    const hook = this.hook;
    if (hook && !hook.inbound(plain, off, ipLen, peer.publicKey)) {
      c.drop_filtered_inbound++;
      return;
    }
    if (!this.tun.write(plain, off, ipLen)) c.drop_tun_write++;
  }

  private receiveCookieReply(buf: Uint8Array, now: number): void {
    const entry = this.indices.get(readU32LE(buf, 4));
    if (!entry || !entry.peer.cookieGen.consumeReply(buf.subarray(0, 64), now)) {
      this.stats.drop_bad_cookie_reply++;
      return;
    }
    this.stats.cookie_replies_received++;
  }

  private logStaticKey(): void {
    if (this.keyLog) this.keyLog(`LOCAL_STATIC_PRIVATE_KEY = ${Buffer.from(this.engine.local.key.raw).toString('base64')}`);
  }
}

export type { PeerHandshake };
