// `agent wg`: one WireGuard interface from a wg-quick style file, in the foreground, with no control
// server and no packet filter (every packet allowed). It creates the TUN, its addresses and a route per
// peer AllowedIPs prefix, serves the UAPI socket (so `wg show`/`wg set` work), and tears everything down
// on SIGINT/SIGTERM. This is the standalone mode the interop suite and the data-plane benchmark run.
import { readFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import path from 'node:path';
import { parseCommand, requireFlag, UsageError, parseDuration } from '../../cli/args.js';
import { GrantwireError, formatDiagnostic } from '../../types/errors.js';
import { parseWgConfig, splitEndpoint, type WgConfig } from '../../wireguard/config.js';
import { Device } from '../../wireguard/device.js';
import { TunDevice } from '../../net/tun-device.js';
import { NativeUdpBind } from '../../net/udp-native.js';
import { DgramUdpBind } from '../../net/udp-dgram.js';
import { loadNative } from '../../net/native-addon.js';
import { UapiServer } from '../../wireguard/uapi-server.js';
import { deviceUapiHost } from '../../wireguard/uapi-device.js';
import { keyToBase64, publicKeyFromPrivate } from '../../crypto/key.js';
import type { UdpBind } from '../../net/io.js';

export const usage = `usage: agent wg --config FILE [--tun NAME] [--key-log FILE] [--udp native|dgram] [--uapi-dir DIR]
                [--rekey-after DURATION] [--verbose]

Runs one WireGuard interface from a wg-quick style file in the foreground until SIGINT/SIGTERM:
  [Interface] PrivateKey, ListenPort, Address, MTU     [Peer] PublicKey, PresharedKey, AllowedIPs,
  Endpoint, PersistentKeepalive
Creates the TUN interface NAME (default: the file name without .conf, else gw0), adds the addresses and a
route for every AllowedIPs prefix (default routes 0.0.0.0/0 and ::/0 are not installed), and serves the
UAPI socket DIR/NAME.sock (default /var/run/wireguard) for \`wg show\` / \`wg set\`. No control server, no
packet filter. Needs root.

  --key-log FILE       append tshark key-log lines (static, ephemeral and preshared keys): SECRET material
  --udp native|dgram   UDP implementation (default native: recvmmsg/sendmmsg; dgram: node:dgram)
  --rekey-after D      shorten REKEY_AFTER_TIME (e.g. 10s) for tests; also GRANTWIRE_REKEY_AFTER_TIME_MS
  --verbose            log device events to stderr`;

export interface StandaloneOptions {
  config: WgConfig;
  tunName: string;
  keyLogFile?: string;
  udp?: 'native' | 'dgram';
  uapiDir?: string;
  rekeyAfterTimeMs?: number;
  log?: (line: string) => void;
}

export interface Standalone {
  device: Device;
  tun: TunDevice;
  bind: UdpBind;
  uapi: UapiServer;
  close(): Promise<void>;
}

/**
 * A key-log writer in the shape Wireshark's WireGuard dissector reads: it needs the peers' static public
 * keys (REMOTE_STATIC_PUBLIC_KEY) to match mac1 when we initiate; the handshake itself writes each
 * LOCAL_EPHEMERAL_PRIVATE_KEY followed by that peer's PRESHARED_KEY.
 */
function tsharkKeyLog(fd: number, cfg: WgConfig): (line: string) => void {
  for (const p of cfg.peers) writeSync(fd, `REMOTE_STATIC_PUBLIC_KEY = ${keyToBase64(p.publicKey)}\n`);
  return (line) => {
    writeSync(fd, line + '\n');
  };
}

function isDefaultRoute(prefix: string): boolean {
  return prefix === '0.0.0.0/0' || prefix === '::/0';
}

/** Resolves `host:port` endpoints (names via DNS, like wg-quick does once at start) to `ip:port`. */
async function resolveEndpoint(text: string): Promise<string> {
  const hp = splitEndpoint(text);
  if (hp === null) throw new GrantwireError('ERR_WG_BAD_ENDPOINT', `invalid endpoint ${text}`);
  if (text.startsWith('[') || /^[0-9.]+$/.test(hp.host)) return text;
  const { address, family } = await lookup(hp.host);
  return family === 6 ? `[${address}]:${hp.port}` : `${address}:${hp.port}`;
}

/** Brings the interface up; throws (after undoing what it did) on failure. */
export async function startStandalone(o: StandaloneOptions): Promise<Standalone> {
  const log = o.log ?? (() => {});
  const cfg = o.config;
  const endpoints = await Promise.all(cfg.peers.map((p) => (p.endpoint ? resolveEndpoint(p.endpoint) : Promise.resolve(undefined))));
  const undo: Array<() => Promise<void> | void> = [];
  try {
    const tun = TunDevice.open({ name: o.tunName, mtu: cfg.interface.mtu ?? 1420 });
    undo.push(() => tun.close());
    log(`tun ${tun.name}: offloads 0x${tun.offloads.toString(16)}${tun.offloads === 0 ? ' (off: plain TUN)' : ''}`);
    const useNative = (o.udp ?? 'native') === 'native' && loadNative() !== null;
    const bind: UdpBind = useNative
      ? NativeUdpBind.open({ port: cfg.interface.listenPort ?? 0 })
      : await DgramUdpBind.open({ port: cfg.interface.listenPort ?? 0 });
    undo.push(() => bind.close());

    let keyLog: ((line: string) => void) | null = null;
    let keyLogFd = -1;
    if (o.keyLogFile) {
      keyLogFd = openSync(o.keyLogFile, 'a', 0o600);
      keyLog = tsharkKeyLog(keyLogFd, cfg);
    }
    const closeKeyLog = (): void => {
      if (keyLogFd >= 0) closeSync(keyLogFd);
      keyLogFd = -1;
    };
    undo.push(closeKeyLog);
    let privateKey = cfg.interface.privateKey;
    const device = new Device({
      privateKey,
      tun,
      bind,
      keyLog,
      logger: o.log ? (m) => log(`wg: ${m}`) : null,
      rekeyAfterTimeMs: o.rekeyAfterTimeMs,
    });
    // From here Device.close() closes tun and bind too.
    undo.push(() => device.close());
    for (let i = 0; i < cfg.peers.length; i++) {
      const p = cfg.peers[i];
      device.upsertPeer({
        publicKey: p.publicKey,
        presharedKey: p.presharedKey,
        endpoint: endpoints[i],
        allowedIPs: p.allowedIPs,
        persistentKeepaliveSec: p.persistentKeepalive,
      });
    }

    for (const a of cfg.interface.addresses) tun.addAddress(a);
    tun.up();
    for (const p of cfg.peers) {
      for (const prefix of p.allowedIPs) {
        if (isDefaultRoute(prefix)) {
          log(`wg: not installing default route ${prefix} (it would capture the tunnel's own UDP traffic); route it yourself`);
          continue;
        }
        tun.addRoute(prefix);
      }
    }
    device.start();
    const uapi = await UapiServer.listen(
      tun.name,
      deviceUapiHost(device, { privateKey: () => privateKey, onPrivateKey: (k) => (privateKey = k), logger: o.log ? log : null }),
      { dir: o.uapiDir, logger: o.log ? log : null },
    );
    undo.push(() => uapi.close());
    let closed = false;
    return {
      device,
      tun,
      bind,
      uapi,
      async close(): Promise<void> {
        if (closed) return;
        closed = true;
        await uapi.close();
        await device.close();
        closeKeyLog();
      },
    };
  } catch (err) {
    for (const f of undo.reverse()) {
      try {
        await f();
      } catch {
        // best effort while unwinding
      }
    }
    throw err;
  }
}

function defaultTunName(configPath: string): string {
  const base = path.basename(configPath).replace(/\.conf$/, '');
  return /^[A-Za-z0-9_=+.-]{1,15}$/.test(base) ? base : 'gw0';
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {
    config: { type: 'string' },
    tun: { type: 'string' },
    'key-log': { type: 'string' },
    udp: { type: 'string' },
    'uapi-dir': { type: 'string' },
    'rekey-after': { type: 'string' },
    verbose: { type: 'boolean' },
  });
  const configPath = requireFlag(values.config, 'config');
  const tunName = values.tun ?? defaultTunName(configPath);
  if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(tunName)) throw new UsageError('--tun must be an interface name of at most 15 characters');
  const udp = values.udp ?? 'native';
  if (udp !== 'native' && udp !== 'dgram') throw new UsageError('--udp must be native or dgram');
  let rekeyAfterTimeMs: number | undefined;
  const rekeyText = values['rekey-after'] ?? process.env.GRANTWIRE_REKEY_AFTER_TIME_MS;
  if (rekeyText !== undefined) {
    const ms = values['rekey-after'] !== undefined ? parseDuration(rekeyText) : Number(rekeyText);
    if (ms === null || !Number.isFinite(ms) || ms < 1000) throw new UsageError('--rekey-after must be a duration of at least 1s');
    rekeyAfterTimeMs = ms;
  }

  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (err) {
    process.stderr.write(`agent wg: cannot read ${configPath}: ${(err as Error).message}\n`);
    return 1;
  }
  let config: WgConfig;
  try {
    config = parseWgConfig(text, configPath);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  for (const w of config.warnings) process.stderr.write(`warning: ${formatDiagnostic(w)}\n`);

  const stamp = (line: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  };
  let sa: Standalone;
  try {
    sa = await startStandalone({
      config,
      tunName,
      keyLogFile: values['key-log'],
      udp,
      uapiDir: values['uapi-dir'],
      rekeyAfterTimeMs,
      log: values.verbose ? stamp : (line) => (line.startsWith('wg: not installing') ? stamp(line) : undefined),
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EPERM' || e.code === 'EACCES' ? ' (agent wg needs root: CAP_NET_ADMIN)' : '';
    process.stderr.write(`agent wg: ${e.message}${hint}\n`);
    return 1;
  }
  const pub = keyToBase64(publicKeyFromPrivate(config.interface.privateKey));
  process.stdout.write(`interface ${sa.tun.name} up: listening on UDP ${sa.bind.port}, public key ${pub}, ${config.peers.length} peer(s), UAPI ${sa.uapi.path}\n`);

  // SIGUSR1 dumps the device and I/O counters (drops by reason) to stderr, for debugging and tests.
  const dumpCounters = (): void => {
    const io = sa.bind instanceof NativeUdpBind ? { udp: sa.bind.stats() } : {};
    stamp(`wg: counters ${JSON.stringify({ ...sa.device.counters(), tun: sa.tun.stats(), ...io })}`);
  };
  process.on('SIGUSR1', dumpCounters);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGUSR1', dumpCounters);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  if (values.verbose) dumpCounters();
  await sa.close();
  if (values.verbose) stamp(`wg: ${sa.tun.name} closed`);
  return 0;
}
