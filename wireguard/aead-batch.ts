// Transport seals and opens collected into one native call that splits them between the event loop
// and a worker thread (native/aead-batch.cc), so the data path's crypto uses both cores. The call is
// synchronous and results come back by job index: the caller assigns counters before and runs the
// replay check, the filter and the writes after, in its own order, exactly as with one packet per call.
//
//   const b = AeadBatch.create(64)       // null without the addon
//   b.addOpen(key, msg, len, out, outOff)   → job index (ciphertext from msg[16, len))
//   b.addSeal(key, receiver, counter, src, off, len, padded, out)  → job index (header written at out[0])
//   b.run()                               → then b.result(i): message / plaintext length or -1
//
// GRANTWIRE_AEAD_THREADS=1 turns the worker on (off by default: see aeadThreadsMode).
// Nothing is allocated per packet: the arrays are sized once and cleared after each run so that no key
// or buffer is kept alive.
import { writeU32LE } from './bytes.js';
import { AEAD_TAG_SIZE, MESSAGE_TRANSPORT_TYPE, TRANSPORT_HEADER_SIZE, TRANSPORT_OFF_COUNTER, TRANSPORT_OFF_RECEIVER } from './constants.js';
import { loadNative, type NativeAddon, type NativeHandle } from '../net/native-addon.js';

/** int32 fields per job in the native descriptor. */
const STRIDE = 8;
const F_LO = 0;
const F_HI = 1;
const F_SRC_OFF = 2;
const F_LEN = 3;
const F_PADDED = 4;
const F_OUT_OFF = 5;
const F_RESULT = 6;

/** 0 = event loop only, 1 = split with the worker thread (default), 2 = worker only (tests). */
export type AeadBatchMode = 0 | 1 | 2;

/**
 * The mode the environment asks for: GRANTWIRE_AEAD_THREADS=1 → 1 (both cores), else 0. Off by default:
 * on this 2-core machine bench:dataplane measured no steady gain (paired on/off 1.37× in one run, 0.89× in
 * the next) and ~7-10% more CPU per Gbit/s (the event loop waits for the worker's last job).
 */
export function aeadThreadsMode(env: NodeJS.ProcessEnv = process.env): AeadBatchMode {
  return env.GRANTWIRE_AEAD_THREADS === '1' ? 1 : 0;
}

export class AeadBatch {
  readonly capacity: number;
  private readonly keys: NativeHandle[];
  private readonly srcs: Uint8Array[];
  private readonly outs: Uint8Array[];
  private readonly desc: Int32Array;
  private readonly empty = new Uint8Array(0);
  private open = false;
  private n = 0;
  /** Jobs the worker thread ran, over the batch's life. */
  workerJobs = 0;
  jobs = 0;

  private constructor(private readonly addon: NativeAddon, capacity: number, public mode: AeadBatchMode) {
    this.capacity = capacity;
    this.keys = new Array<NativeHandle>(capacity).fill(null as unknown as NativeHandle);
    this.srcs = new Array<Uint8Array>(capacity).fill(this.empty);
    this.outs = new Array<Uint8Array>(capacity).fill(this.empty);
    this.desc = new Int32Array(capacity * STRIDE);
  }

  /** A batch of up to `capacity` jobs, or null when the addon (or its aeadBatch) is missing. */
  static create(capacity: number, mode: AeadBatchMode = aeadThreadsMode()): AeadBatch | null {
    const addon = loadNative();
    if (addon === null || typeof addon.aeadBatch !== 'function') return null;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 4096) throw new RangeError(`AeadBatch capacity must be 1..4096, got ${capacity}`);
    return new AeadBatch(addon, capacity, mode);
  }

  get count(): number {
    return this.n;
  }

  get full(): boolean {
    return this.n === this.capacity;
  }

  /** Queues opening transport message msg[0, len) into out[outOff, ...); the job index. Batches are all opens or all seals. */
  addOpen(key: NativeHandle, msg: Uint8Array, len: number, out: Uint8Array, outOff: number): number {
    if (this.n === 0) this.open = true;
    else if (!this.open) throw new Error('AeadBatch: cannot mix opens into a batch of seals');
    const o = TRANSPORT_OFF_COUNTER;
    const i = this.n++;
    const d = i * STRIDE;
    this.desc[d + F_LO] = msg[o] | (msg[o + 1] << 8) | (msg[o + 2] << 16) | (msg[o + 3] << 24);
    this.desc[d + F_HI] = msg[o + 4] | (msg[o + 5] << 8) | (msg[o + 6] << 16) | (msg[o + 7] << 24);
    this.desc[d + F_SRC_OFF] = TRANSPORT_HEADER_SIZE;
    this.desc[d + F_LEN] = len - TRANSPORT_HEADER_SIZE;
    this.desc[d + F_PADDED] = 0;
    this.desc[d + F_OUT_OFF] = outOff;
    this.desc[d + F_RESULT] = -1;
    this.keys[i] = key;
    this.srcs[i] = msg;
    this.outs[i] = out;
    return i;
  }

  /** Queues sealing src[srcOff, +len) padded to paddedLen into out at 0 with the transport header; the job index. */
  addSeal(key: NativeHandle, receiver: number, counter: number, src: Uint8Array, srcOff: number, len: number, paddedLen: number, out: Uint8Array): number {
    if (this.n === 0) this.open = false;
    else if (this.open) throw new Error('AeadBatch: cannot mix seals into a batch of opens');
    const lo = counter % 4294967296;
    const hi = (counter - lo) / 4294967296;
    writeU32LE(out, 0, MESSAGE_TRANSPORT_TYPE);
    writeU32LE(out, TRANSPORT_OFF_RECEIVER, receiver);
    writeU32LE(out, TRANSPORT_OFF_COUNTER, lo);
    writeU32LE(out, TRANSPORT_OFF_COUNTER + 4, hi);
    const i = this.n++;
    const d = i * STRIDE;
    this.desc[d + F_LO] = lo | 0;
    this.desc[d + F_HI] = hi | 0;
    this.desc[d + F_SRC_OFF] = srcOff;
    this.desc[d + F_LEN] = len;
    this.desc[d + F_PADDED] = paddedLen;
    this.desc[d + F_OUT_OFF] = TRANSPORT_HEADER_SIZE;
    this.desc[d + F_RESULT] = -1;
    this.keys[i] = key;
    this.srcs[i] = src;
    this.outs[i] = out;
    return i;
  }

  /** Runs every queued job; afterwards result(i) holds each outcome until the next add after clear(). */
  run(): void {
    const n = this.n;
    if (n === 0) return;
    const tooShort = this.open ? this.markTooShort(n) : 0;
    if (tooShort < n) this.workerJobs += this.addon.aeadBatch(this.open, n > 1 ? this.mode : 0, n, this.keys, this.srcs, this.outs, this.desc);
    this.jobs += n;
    for (let i = 0; i < n; i++) {
      this.keys[i] = null as unknown as NativeHandle;
      this.srcs[i] = this.empty;
      this.outs[i] = this.empty;
    }
  }

  /** Seal: the whole message's length (header included). Open: the plaintext length, or -1 (bad tag, too short). */
  result(i: number): number {
    const r = this.desc[i * STRIDE + F_RESULT];
    return r < 0 || this.open ? r : r + TRANSPORT_HEADER_SIZE;
  }

  /** Forgets the results; the next add starts a new batch. */
  clear(): void {
    this.n = 0;
  }

  /** Messages too short for a tag are failed here (native would too) with an in-range empty job. */
  private markTooShort(n: number): number {
    let c = 0;
    for (let i = 0; i < n; i++) {
      const d = i * STRIDE;
      if (this.desc[d + F_LEN] < AEAD_TAG_SIZE) {
        this.desc[d + F_SRC_OFF] = 0;
        this.desc[d + F_LEN] = 0;
        this.desc[d + F_OUT_OFF] = 0;
        c++;
      }
    }
    return c;
  }
}
