// Two (or more) Devices wired through a FakeNetwork and FakePacketDevices, for tests and benchmarks:
// `makeFakePair()` gives A (10.0.0.1, 192.0.2.1:51820) and B (10.0.0.2, 192.0.2.2:51821), each the
// other's peer with its tunnel address as allowed IP, endpoints set on both sides unless told otherwise.
// `FakePairs` is the per-test-file fixture: it makes pairs (optionally on a shared FakeClock, with a
// `run(ms)` that advances the clock and lets the network settle) and closes them all in afterEach.
import { FakeClock } from './clock.js';
import { Device, type DeviceOptions } from './device.js';
import { FakePacketDevice } from '../net/fake-packet-device.js';
import { FakeNetwork, type FakeUdpBind } from '../net/fake-udp-bind.js';
import { generatePrivateKey, publicKeyFromPrivate } from '../crypto/key.js';

export interface FakeNode {
  device: Device;
  tun: FakePacketDevice;
  bind: FakeUdpBind;
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  tunnelIP: string;
  endpoint: string;
  keyLog: string[];
  logs: string[];
}

export interface FakePairOptions {
  psk?: Uint8Array | null;
  /** Which sides know the other's endpoint (default both). */
  endpoints?: 'both' | 'a' | 'b';
  common?: Partial<DeviceOptions>;
  a?: Partial<DeviceOptions>;
  b?: Partial<DeviceOptions>;
  net?: FakeNetwork;
  start?: boolean;
}

export function makeFakeNode(net: FakeNetwork, endpoint: string, tunnelIP: string, opts: Partial<DeviceOptions> = {}): FakeNode {
  const privateKey = opts.privateKey ?? generatePrivateKey();
  const tun = new FakePacketDevice(`fake-${tunnelIP}`, opts.mtu ?? 1420);
  const bind = net.bind(endpoint);
  const keyLog: string[] = [];
  const logs: string[] = [];
  const device = new Device({
    keyLog: (l) => keyLog.push(l),
    logger: (m) => {
      if (logs.length < 1000) logs.push(m);
    },
    ...opts,
    privateKey,
    tun,
    bind,
  });
  return { device, tun, bind, privateKey, publicKey: publicKeyFromPrivate(privateKey), tunnelIP, endpoint, keyLog, logs };
}

export function makeFakePair(o: FakePairOptions = {}): { net: FakeNetwork; a: FakeNode; b: FakeNode } {
  const net = o.net ?? new FakeNetwork();
  const a = makeFakeNode(net, '192.0.2.1:51820', '10.0.0.1', { ...o.common, ...o.a });
  const b = makeFakeNode(net, '192.0.2.2:51821', '10.0.0.2', { ...o.common, ...o.b });
  const eps = o.endpoints ?? 'both';
  a.device.upsertPeer({
    publicKey: b.publicKey,
    presharedKey: o.psk ?? null,
    endpoint: eps === 'both' || eps === 'a' ? b.endpoint : null,
    allowedIPs: [`${b.tunnelIP}/32`],
  });
  b.device.upsertPeer({
    publicKey: a.publicKey,
    presharedKey: o.psk ?? null,
    endpoint: eps === 'both' || eps === 'b' ? a.endpoint : null,
    allowedIPs: [`${a.tunnelIP}/32`],
  });
  if (o.start !== false) {
    a.device.start();
    b.device.start();
  }
  return { net, a, b };
}

export type FakePair = ReturnType<typeof makeFakePair>;

/** A pair on a FakeClock; `run(ms, step)` advances time in steps, letting the fake network settle after each. */
export interface ClockedPair extends FakePair {
  clock: FakeClock;
  run(ms: number, step?: number): Promise<void>;
}

/** Makes pairs for one test file and closes every device they hold: `afterEach(() => pairs.closeAll())`. */
export class FakePairs {
  private readonly open: Device[] = [];

  pair(o: FakePairOptions = {}): FakePair {
    const p = makeFakePair(o);
    this.open.push(p.a.device, p.b.device);
    return p;
  }

  clocked(o: FakePairOptions = {}): ClockedPair {
    const clock = new FakeClock();
    const p = this.pair({ ...o, common: { clock, ...o.common } });
    const run = async (ms: number, step = 250): Promise<void> => {
      for (let t = 0; t < ms; t += step) {
        clock.advance(Math.min(step, ms - t));
        await p.net.settle(20);
      }
    };
    return { ...p, clock, run };
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.open.splice(0).map((d) => d.close()));
  }
}
