// Maps UAPI requests onto a Device: `get` reads Device.peers(), `set` becomes setPrivateKey /
// removeAllPeers / removePeer / upsertPeer. The device's UDP bind is fixed for its lifetime, so
// `listen_port` is accepted only when it names the port already bound (what `wg setconf` re-sends);
// the socket mark (fwmark) is not supported and only 0 is accepted.
import type { Device } from './device.js';
import { UAPI_EINVAL, UAPI_OK, type UapiDeviceState, type UapiSetRequest } from './uapi-protocol.js';
import type { UapiHost } from './uapi-server.js';

export interface DeviceUapiOptions {
  /** The private key currently configured (the device does not hand it back out). */
  privateKey: () => Uint8Array;
  /** Called after a successful private_key set, so the owner can keep its copy. */
  onPrivateKey?: (k: Uint8Array) => void;
  logger?: ((msg: string) => void) | null;
}

function isZero(k: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < k.length; i++) acc |= k[i];
  return acc === 0;
}

export function deviceUapiHost(device: Device, opts: DeviceUapiOptions): UapiHost {
  const log = opts.logger ?? null;
  return {
    get(): UapiDeviceState {
      return {
        privateKey: opts.privateKey(),
        listenPort: device.bind.port,
        peers: device.peers().map((p) => ({
          publicKey: p.publicKey,
          presharedKey: p.presharedKey ?? undefined,
          endpoint: p.endpoint ?? undefined,
          lastHandshakeUnixMs: p.lastHandshakeMs,
          txBytes: p.txBytes,
          rxBytes: p.rxBytes,
          persistentKeepaliveSec: p.persistentKeepaliveSec,
          allowedIPs: p.allowedIPs,
        })),
      };
    },

    set(req: UapiSetRequest): number {
      // Validate what the device cannot do before changing anything.
      if (req.listenPort !== undefined && req.listenPort !== device.bind.port) {
        log?.(`uapi: listen_port ${req.listenPort} refused: the device is bound to ${device.bind.port} for its lifetime`);
        return UAPI_EINVAL;
      }
      if (req.fwmark !== undefined && req.fwmark !== 0) {
        log?.('uapi: fwmark is not supported');
        return UAPI_EINVAL;
      }
      if (req.privateKey !== undefined && isZero(req.privateKey)) {
        log?.('uapi: clearing the private key is not supported');
        return UAPI_EINVAL;
      }
      if (req.privateKey !== undefined) {
        device.setPrivateKey(req.privateKey);
        opts.onPrivateKey?.(req.privateKey);
      }
      if (req.replacePeers) device.removeAllPeers();
      const existing = new Set(device.peers().map((p) => Buffer.from(p.publicKey).toString('hex')));
      for (const p of req.peers) {
        const id = Buffer.from(p.publicKey).toString('hex');
        if (p.remove) {
          device.removePeer(p.publicKey);
          existing.delete(id);
          continue;
        }
        if (p.updateOnly && !existing.has(id)) continue;
        device.upsertPeer({
          publicKey: p.publicKey,
          presharedKey: p.presharedKey === undefined ? undefined : isZero(p.presharedKey) ? null : p.presharedKey,
          endpoint: p.endpoint,
          persistentKeepaliveSec: p.persistentKeepaliveSec,
          replaceAllowedIPs: p.replaceAllowedIPs,
          allowedIPs: [...p.allowedIPs, ...p.removeAllowedIPs.map((r) => `-${r}`)],
        });
        existing.add(id);
      }
      return UAPI_OK;
    },
  };
}
