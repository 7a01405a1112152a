// The robustness suite's random source: types/seeded-rng.ts plus the few shapes the generators need
// (integers, picks, bytes, mutations). One instance per generator, each from its own seed, so a failure
// names the seed and the stream that produced the input and the run reproduces.
import { seededRng } from '../../types/seeded-rng.js';

export class Fuzz {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = seededRng(seed);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  /** Sizes skewed toward small (most parsers fail early) with a tail up to `max`. */
  size(max: number): number {
    return this.chance(0.7) ? this.int(Math.min(max, 64) + 1) : this.int(max + 1);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** `n` characters from `alphabet` (default: printable ASCII). */
  text(n: number, alphabet = PRINTABLE): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }

  /**
   * A mutated copy of `src`: bit flips, byte overwrites, a truncation, an extension, or a splice of random
   * bytes; never the identical bytes unless `src` is empty.
   */
  mutate(src: Uint8Array): Uint8Array {
    switch (this.int(5)) {
      case 0: {
        const out = Uint8Array.from(src);
        for (let k = 0, m = 1 + this.int(4); k < m && out.length > 0; k++) out[this.int(out.length)] ^= 1 << this.int(8);
        return out;
      }
      case 1: {
        const out = Uint8Array.from(src);
        for (let k = 0, m = 1 + this.int(8); k < m && out.length > 0; k++) {
          const i = this.int(out.length);
          out[i] = (out[i] + 1 + this.int(255)) & 0xff;
        }
        return out;
      }
      case 2:
        return src.slice(0, src.length === 0 ? 0 : this.int(src.length));
      case 3: {
        const extra = this.bytes(1 + this.size(256));
        const out = new Uint8Array(src.length + extra.length);
        out.set(src);
        out.set(extra, src.length);
        return out;
      }
      default: {
        const at = this.int(src.length + 1);
        const mid = this.bytes(1 + this.int(32));
        const out = new Uint8Array(src.length + mid.length);
        out.set(src.subarray(0, at));
        out.set(mid, at);
        out.set(src.subarray(at), at + mid.length);
        return out;
      }
    }
  }
}

export const PRINTABLE = ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~';
