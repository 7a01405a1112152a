// Session keypairs and their rotation (wireguard-go keypair.go, noise-protocol.go beginSymmetricSession,
// peer.go ReceivedWithKeypair). A peer holds up to three: `current` (used to send), `previous` (still
// accepted for a while after a rekey) and `next` (a responder's fresh keypair, unused for sending until
// the initiator proves it has it by sending with it). Receiving accepts any of the three; the device
// finds them by local index. Not concurrency-safe; one Keypairs per peer.
import { REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME_MS } from './constants.js';
import { ReplayWindow } from './replay-window.js';
import type { TransportAead } from './transport.js';
import type { SessionKeys } from './handshake.js';
import { wipe } from '../crypto/bytes.js';

export class Keypair {
  /** Opaque AEAD key handles from the device's TransportAead. */
  readonly sendKey: unknown;
  readonly recvKey: unknown;
  /** Next counter to send with. */
  sendNonce = 0;
  readonly replay = new ReplayWindow();
  readonly created: number;
  readonly isInitiator: boolean;
  readonly localIndex: number;
  readonly remoteIndex: number;

  constructor(keys: SessionKeys, now: number, aead: Pick<TransportAead, 'importKey'>) {
    this.sendKey = aead.importKey(keys.sendKey);
    this.recvKey = aead.importKey(keys.recvKey);
    wipe(keys.sendKey);
    wipe(keys.recvKey);
    this.created = now;
    this.isInitiator = keys.isInitiator;
    this.localIndex = keys.localIndex;
    this.remoteIndex = keys.remoteIndex;
  }

  /** Usable for sending: under the message and age limits. */
  canSend(now: number): boolean {
    return this.sendNonce < REJECT_AFTER_MESSAGES && now - this.created < REJECT_AFTER_TIME_MS;
  }

  /** Usable for receiving: under the age limit (the counter limit is checked per packet). */
  canReceive(now: number): boolean {
    return now - this.created < REJECT_AFTER_TIME_MS;
  }
}

export class Keypairs {
  current: Keypair | null = null;
  previous: Keypair | null = null;
  next: Keypair | null = null;

  /** @param onDelete called for every keypair that is dropped (to free its index). */
  constructor(private readonly onDelete: (kp: Keypair) => void) {}

  /**
   * Installs a fresh keypair. Initiator: it becomes current at once (the response proved the responder
   * has it); the old current becomes previous — unless an unconfirmed `next` exists, which then becomes
   * previous instead and the old current is dropped (wireguard-go). Responder: it goes into next, and
   * previous is dropped, so that at most three keypairs ever exist.
   */
  install(kp: Keypair): void {
    const { previous, next, current } = this;
    if (kp.isInitiator) {
      if (next) {
        this.next = null;
        this.previous = next;
        this.drop(current);
      } else {
        this.previous = current;
      }
      this.drop(previous);
      this.current = kp;
    } else {
      this.next = kp;
      this.drop(next);
      this.previous = null;
      this.drop(previous);
    }
  }

  /**
   * Called when a transport packet authenticated with `kp`. If kp is `next`, it is promoted to current
   * (current → previous) and true is returned: the handshake is then complete for the responder.
   */
  receivedWith(kp: Keypair): boolean {
    if (this.next !== kp) return false;
    const old = this.previous;
    this.previous = this.current;
    this.drop(old);
    this.current = kp;
    this.next = null;
    return true;
  }

  clear(): void {
    this.drop(this.current);
    this.drop(this.previous);
    this.drop(this.next);
    this.current = this.previous = this.next = null;
  }

  private drop(kp: Keypair | null): void {
    if (kp) this.onDelete(kp);
  }
}
