// The device's peer set and cryptokey-routing table, and the configuration operations the UAPI and
// the agent map onto (upsert/remove peers, list them). Kept apart from device.ts so the packet paths
// there stay readable. Local misuse (bad keys, prefixes, endpoints) throws GrantwireError.
import { GrantwireError } from '../types/errors.js';
import { AllowedIPs } from './allowed-ips.js';
import { formatEndpoint, parseEndpoint } from '../net/endpoint.js';
import type { PeerHandshake } from './handshake.js';
import { checkKeyLength, keysEqual } from '../crypto/key.js';
import { Peer } from './peer.js';
import type { Device } from './device.js';

export interface PeerConfig {
  publicKey: Uint8Array;
  /** undefined: unchanged; null: none (all zeros). */
  presharedKey?: Uint8Array | null;
  /** undefined: unchanged; null: cleared. A string is `ip:port` or `[v6]:port`. */
  endpoint?: { addr16: Uint8Array; port: number } | string | null;
  /** Prefixes to add (`10.0.0.1/32`, a bare address means a host route); `-prefix` removes one. */
  allowedIPs: string[];
  /** undefined: unchanged; 0 disables. */
  persistentKeepaliveSec?: number;
  /** Replace this peer's prefixes instead of adding to them. */
  replaceAllowedIPs?: boolean;
}

export interface PeerInfo {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: string | null;
  allowedIPs: string[];
  /** Wall-clock ms of the last completed handshake; 0 = never. */
  lastHandshakeMs: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepaliveSec: number;
}

const ZERO32 = new Uint8Array(32);

function keyId(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('latin1');
}

export class DeviceConfig {
  readonly allowedIPs = new AllowedIPs<Peer>();
  private readonly byKey = new Map<string, Peer>();
  private readonly byHandshake = new Map<PeerHandshake, Peer>();

  constructor(private readonly device: Device) {}

  peerByKey(pub: Uint8Array): Peer | null {
    return pub.length === 32 ? (this.byKey.get(keyId(pub)) ?? null) : null;
  }

  peerByHandshake(hs: PeerHandshake): Peer | null {
    return this.byHandshake.get(hs) ?? null;
  }

  allPeers(): IterableIterator<Peer> {
    return this.byKey.values();
  }

  upsertPeer(p: PeerConfig): void {
    const dev = this.device;
    checkKeyLength(p.publicKey, 'peer public key');
    if (p.presharedKey != null) checkKeyLength(p.presharedKey, 'preshared key');
    const ka = p.persistentKeepaliveSec;
    if (ka !== undefined && (!Number.isInteger(ka) || ka < 0 || ka > 65535)) {
      throw new GrantwireError('ERR_WG_BAD_KEEPALIVE', `invalid persistent keepalive ${ka}: expected 0..65535 seconds`);
    }
    // Validate everything before changing anything.
    const endpoint = typeof p.endpoint === 'string' ? parseEndpoint(p.endpoint) : p.endpoint;
    if (endpoint && (endpoint.addr16.length !== 16 || !(endpoint.port > 0 && endpoint.port < 65536))) {
      throw new GrantwireError('ERR_WG_BAD_ENDPOINT', 'invalid endpoint: expected a 16-byte address and a port 1..65535');
    }
    const adds = [];
    const removes = [];
    for (const s of p.allowedIPs ?? []) {
      if (s.startsWith('-')) removes.push(AllowedIPs.parse(s.slice(1)));
      else adds.push(AllowedIPs.parse(s));
    }
    if (keysEqual(p.publicKey, dev.engine.local.publicKey)) {
      dev.log('ignoring a peer with our own public key');
      return;
    }
    let peer = this.peerByKey(p.publicKey);
    if (!peer) {
      peer = new Peer(dev, p.publicKey);
      peer.handshake.precompute(dev.engine.local);
      this.byKey.set(keyId(p.publicKey), peer);
      this.byHandshake.set(peer.handshake, peer);
    }
    if (p.presharedKey !== undefined) {
      peer.handshake.setPresharedKey(p.presharedKey);
      if (p.presharedKey && dev.isStarted()) this.logPsk(p.presharedKey);
    }
    if (endpoint !== undefined) {
      if (endpoint === null) peer.clearEndpoint();
      else peer.setEndpoint(endpoint.addr16, 0, endpoint.port);
    }
    if (p.replaceAllowedIPs) this.allowedIPs.removeValue(peer);
    for (const r of removes) this.allowedIPs.remove(r, peer);
    for (const a of adds) this.allowedIPs.insert(a, peer);
    if (ka !== undefined) {
      const was = peer.persistentKeepaliveMs;
      peer.persistentKeepaliveMs = ka * 1000;
      // Like wireguard-go: turning persistent keepalive on sends one at once.
      if (was === 0 && ka > 0 && dev.isStarted()) {
        try {
          peer.sendKeepalive();
        } catch (e) {
          dev.reportError('keepalive', e);
        }
      }
    }
  }

  removePeer(pub: Uint8Array): void {
    const peer = this.peerByKey(pub);
    if (!peer) return;
    this.allowedIPs.removeValue(peer);
    this.byKey.delete(keyId(pub));
    this.byHandshake.delete(peer.handshake);
    peer.destroy();
  }

  removeAllPeers(): void {
    for (const peer of [...this.byKey.values()]) this.removePeer(peer.publicKey);
    this.allowedIPs.clear();
  }

  peerInfos(): PeerInfo[] {
    const out: PeerInfo[] = [];
    for (const peer of this.byKey.values()) {
      const psk = peer.handshake.presharedKey;
      out.push({
        publicKey: Uint8Array.from(peer.publicKey),
        presharedKey: keysEqual(psk, ZERO32) ? null : Uint8Array.from(psk),
        endpoint: peer.hasEndpoint ? formatEndpoint(peer.endpointAddr, peer.endpointPort) : null,
        allowedIPs: this.allowedIPs.formattedPrefixesOf(peer),
        lastHandshakeMs: peer.lastHandshakeMs,
        rxBytes: peer.rxBytes,
        txBytes: peer.txBytes,
        persistentKeepaliveSec: peer.persistentKeepaliveMs / 1000,
      });
    }
    return out;
  }

  logPresharedKeys(): void {
    for (const peer of this.byKey.values()) {
      if (!keysEqual(peer.handshake.presharedKey, ZERO32)) this.logPsk(peer.handshake.presharedKey);
    }
  }

  private logPsk(psk: Uint8Array): void {
    this.device.emitKeyLog(`PRESHARED_KEY = ${Buffer.from(psk).toString('base64')}`);
  }
}
