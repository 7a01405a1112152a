// Disco: the path-probing messages peers exchange on the WireGuard socket (and through relays), sealed
// with a per-node disco key so nobody else can forge or read them.
//
//   magic "GWdsc\x01" (6) | sender disco public key (32) | nonce (24) | XChaCha20-Poly1305 box
//   box key = BLAKE2s(X25519(own disco private, peer disco public)), AD = magic ‖ sender key
//
//   plaintext ping: 0x01 | txid (12) | sent-at wall ms u64 BE | sender node key (32)
//   plaintext pong: 0x02 | txid (12) | the ping's source: addr (16, v4-mapped) | port u16 BE
//
// The magic's first byte (0x47) has its top bits 01, so no disco message looks like STUN (top bits 00)
// or WireGuard (types 1..4 followed by three zero bytes). Parsers return null on anything malformed.
import { defaultCrypto, type CryptoBackend, type DhPrivateKey } from '../crypto/backend.js';
import { wipe } from '../crypto/bytes.js';

export const DISCO_MAGIC = Uint8Array.of(0x47, 0x57, 0x64, 0x73, 0x63, 0x01);
export const DISCO_KEY_SIZE = 32;
export const DISCO_NONCE_SIZE = 24;
export const DISCO_TAG_SIZE = 16;
export const DISCO_TXID_SIZE = 12;
export const DISCO_HEADER_SIZE = DISCO_MAGIC.length + DISCO_KEY_SIZE + DISCO_NONCE_SIZE;
export const DISCO_PING = 1;
export const DISCO_PONG = 2;
const PING_SIZE = 1 + DISCO_TXID_SIZE + 8 + 32;
const PONG_SIZE = 1 + DISCO_TXID_SIZE + 16 + 2;

export type DiscoMessage =
  | { type: typeof DISCO_PING; txid: Uint8Array; sentAtMs: number; nodeKey: Uint8Array }
  | { type: typeof DISCO_PONG; txid: Uint8Array; addr16: Uint8Array; port: number };

/** The magic prefix: a disco datagram (still to be authenticated). */
export function isDiscoMessage(b: Uint8Array, len: number): boolean {
  if (len < DISCO_HEADER_SIZE + DISCO_TAG_SIZE) return false;
  for (let i = 0; i < DISCO_MAGIC.length; i++) if (b[i] !== DISCO_MAGIC[i]) return false;
  return true;
}

/** The sender's disco public key of a disco datagram (a view), for the lookup before any crypto. */
export function discoSender(b: Uint8Array): Uint8Array {
  return b.subarray(DISCO_MAGIC.length, DISCO_MAGIC.length + DISCO_KEY_SIZE);
}

export function encodeDiscoPlaintext(m: DiscoMessage): Uint8Array {
  if (m.txid.length !== DISCO_TXID_SIZE) throw new RangeError('disco txid must be 12 bytes');
  if (m.type === DISCO_PING) {
    const out = new Uint8Array(PING_SIZE);
    out[0] = DISCO_PING;
    out.set(m.txid, 1);
    new DataView(out.buffer).setBigUint64(13, BigInt(Math.max(0, Math.floor(m.sentAtMs))));
    out.set(m.nodeKey.subarray(0, 32), 21);
    return out;
  }
  const out = new Uint8Array(PONG_SIZE);
  out[0] = DISCO_PONG;
  out.set(m.txid, 1);
  out.set(m.addr16.subarray(0, 16), 13);
  out[29] = m.port >> 8;
  out[30] = m.port & 0xff;
  return out;
}

export function parseDiscoPlaintext(p: Uint8Array): DiscoMessage | null {
  if (p.length === PING_SIZE && p[0] === DISCO_PING) {
    const sent = new DataView(p.buffer, p.byteOffset, p.length).getBigUint64(13);
    if (sent > BigInt(Number.MAX_SAFE_INTEGER)) return null;
    return { type: DISCO_PING, txid: p.slice(1, 13), sentAtMs: Number(sent), nodeKey: p.slice(21, 53) };
  }
  if (p.length === PONG_SIZE && p[0] === DISCO_PONG) {
    return { type: DISCO_PONG, txid: p.slice(1, 13), addr16: p.slice(13, 29), port: (p[29] << 8) | p[30] };
  }
  return null;
}

/**
 * Seals and opens disco messages for one node. Shared keys are cached per peer disco key; open() is
 * asked only for senders the caller already knows (a peer in the netmap), so an unknown key costs no DH.
 */
export class DiscoBox {
  readonly publicKey: Uint8Array;
  private readonly crypto: CryptoBackend;
  private readonly priv: DhPrivateKey;
  private readonly shared = new Map<string, Uint8Array>();

  constructor(privateKey?: Uint8Array, crypto: CryptoBackend = defaultCrypto()) {
    this.crypto = crypto;
    this.priv = privateKey ? crypto.importPrivateKey(privateKey) : crypto.generatePrivateKey();
    this.publicKey = Uint8Array.from(this.priv.publicKey);
  }

  private keyFor(peer: Uint8Array): Uint8Array | null {
    const id = Buffer.from(peer).toString('hex');
    let k = this.shared.get(id);
    if (k === undefined) {
      const dh = this.crypto.dh(this.priv, peer);
      if (!dh) return null;
      k = this.crypto.hash(dh);
      wipe(dh);
      if (this.shared.size > 4096) this.shared.clear();
      this.shared.set(id, k);
    }
    return k;
  }

  /** A fresh random transaction id (pings, STUN). */
  randomTxid(): Uint8Array {
    return this.crypto.randomBytes(DISCO_TXID_SIZE);
  }

  /** Forgets a peer's cached key (it left the netmap). */
  forget(peer: Uint8Array): void {
    const id = Buffer.from(peer).toString('hex');
    const k = this.shared.get(id);
    if (k) wipe(k);
    this.shared.delete(id);
  }

  /** A whole disco datagram for `peer`; null if the peer's key is unusable. */
  seal(peer: Uint8Array, m: DiscoMessage): Uint8Array | null {
    const key = this.keyFor(peer);
    if (!key) return null;
    const nonce = this.crypto.randomBytes(DISCO_NONCE_SIZE);
    const ad = new Uint8Array(DISCO_MAGIC.length + DISCO_KEY_SIZE);
    ad.set(DISCO_MAGIC, 0);
    ad.set(this.publicKey, DISCO_MAGIC.length);
    const box = this.crypto.xseal(key, nonce, encodeDiscoPlaintext(m), ad);
    const out = new Uint8Array(DISCO_HEADER_SIZE + box.length);
    out.set(ad, 0);
    out.set(nonce, ad.length);
    out.set(box, DISCO_HEADER_SIZE);
    return out;
  }

  /** Opens a datagram from `sender` (already looked up by discoSender); null if forged or malformed. */
  open(b: Uint8Array, len: number): DiscoMessage | null {
    if (!isDiscoMessage(b, len)) return null;
    const key = this.keyFor(discoSender(b));
    if (!key) return null;
    const ad = b.subarray(0, DISCO_MAGIC.length + DISCO_KEY_SIZE);
    const nonce = b.subarray(ad.length, DISCO_HEADER_SIZE);
    const plain = this.crypto.xopen(key, nonce, b.subarray(DISCO_HEADER_SIZE, len), ad);
    return plain ? parseDiscoPlaintext(plain) : null;
  }
}
