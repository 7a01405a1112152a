// Admission for channels that have not yet proven anything (issue 10 item 5). From the HTTP Upgrade until
// the first request on the Noise channel, control holds a socket, a handshake state and a buffer for a
// peer it knows nothing about. So: at most `maxGlobal` such channels at once and `maxPerAddress` from one
// source address, each for at most `timeoutMs`; beyond that new upgrades are refused (503) and a slow one
// is cut. A channel leaves this state when its first request arrives (session.ts) or when it closes.
// Not a rate limiter for authenticated traffic (update-limiter.ts).

export interface PreAuthLimits {
  maxGlobal: number;
  maxPerAddress: number;
  timeoutMs: number;
}

/** Implementation limits, not protocol constants: 10,000 agents reconnecting at once pass in a few rounds. */
export const DEFAULT_PREAUTH_LIMITS: PreAuthLimits = { maxGlobal: 1024, maxPerAddress: 32, timeoutMs: 10_000 };

/** Ends the pre-auth state of one channel; idempotent. */
export type PreAuthRelease = () => void;

export class PreAuthGate {
  private global = 0;
  private readonly perAddress = new Map<string, number>();
  /** Upgrades refused because a limit was reached (for stats). */
  refused = 0;
  timedOut = 0;

  constructor(readonly limits: PreAuthLimits = DEFAULT_PREAUTH_LIMITS) {}

  get pending(): number {
    return this.global;
  }

  /**
   * Admits one channel from `address`, or returns null when a limit is reached. `onTimeout` runs if the
   * channel is still pending after timeoutMs (the caller destroys the socket).
   */
  admit(address: string, onTimeout: () => void): PreAuthRelease | null {
    const n = this.perAddress.get(address) ?? 0;
    if (this.global >= this.limits.maxGlobal || n >= this.limits.maxPerAddress) {
      this.refused++;
      return null;
    }
    this.global++;
    this.perAddress.set(address, n + 1);
    let open = true;
    const release = (): void => {
      if (!open) return;
      open = false;
      clearTimeout(timer);
      this.global--;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    };
    const timer = setTimeout(() => {
      if (!open) return;
      this.timedOut++;
      release();
      onTimeout();
    }, this.limits.timeoutMs);
    timer.unref();
    return release;
  }
}
