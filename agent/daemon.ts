// The node daemon: wires the state dir, the data plane (TUN + native UDP + WireGuard Device + filter),
// the backend state machine, control and the LocalAPI server together, then runs until SIGINT/SIGTERM.
// With --tun userspace the packet device is a netstack and nothing privileged is touched (daemon-io.ts).
// Decisions live in backend.ts, netmap-apply.ts and localapi/; this file only opens things in the right
// order (the socket first, so a second daemon fails before touching the TUN) and closes them again.
import { readFileSync } from 'node:fs';
import { GrantwireError, LocalApiFailure } from '../types/errors.js';
import { LocalApiServer } from '../localapi/server.js';
import { LOCALAPI_STARTING } from '../localapi/types.js';
import { peerCredentials } from '../net/native-peercred.js';
import { nativeLoadError, loadNative } from '../net/native-addon.js';
import type { PacketDevice } from '../net/io.js';
import { NodePrivate, NodePublic } from '../crypto/key.js';
import { AgentBackend } from './backend.js';
import { createControlSession } from './control-session.js';
import { AgentDataplane } from './dataplane.js';
import { natTimingsFromEnv } from './nat.js';
import { StateStore } from './state-store.js';
import { openTunIO, openUserspaceIO, USERSPACE_TUN } from './daemon-io.js';
import { HostDialer } from './proxy/host-dialer.js';
import { NetstackDialer } from './proxy/netstack-dialer.js';
import { startProxies, type ProxyFlags, type RunningProxies } from './proxy/start-proxies.js';

export const DEFAULT_TUN_NAME = 'grantwire0';
export const DEFAULT_WG_PORT = 41641;
export const DEFAULT_TUN_MTU = 1280;

export interface DaemonOptions {
  stateDir: string;
  socketPath: string;
  tunName: string;
  port: number;
  operatorUid: number | null;
  log: (line: string) => void;
  /** Accept a state dir or key file others can read (see StateStore). */
  insecureStatePerms?: boolean;
  /** `--socks5-server` and `--outbound-http-proxy-listen`. */
  proxies?: ProxyFlags;
}

/** `--operator` as a uid or a user name from /etc/passwd. */
export function resolveOperator(text: string): number {
  if (/^[0-9]+$/.test(text)) return Number(text);
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    // fall through to the error below
  }
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === text && /^[0-9]+$/.test(f[2] ?? '')) return Number(f[2]);
  }
  throw new GrantwireError('ERR_OPERATOR', `--operator ${text}: no such user`);
}

export interface RunningDaemon {
  close(): Promise<void>;
}

export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  const userspace = o.tunName === USERSPACE_TUN;
  if (!userspace && process.getuid?.() !== 0) throw new GrantwireError('ERR_NOT_ROOT', 'the daemon must run as root (it creates a TUN interface and routes); --tun userspace runs without');
  if (!userspace && !loadNative()) throw new GrantwireError('ERR_NATIVE', `${nativeLoadError() ?? 'native addon unavailable'}`);
  const store = new StateStore(o.stateDir, { insecurePerms: o.insecureStatePerms });
  const keys = await store.loadKeys();

  // Late-bound: the server needs the backend, the backend needs the data plane, which needs the TUN, and
  // the socket must be claimed before the TUN is created.
  let backend: AgentBackend | null = null;
  let starting: AgentBackend | null = null;
  const server = new LocalApiServer({
    socketPath: o.socketPath,
    backend: new Proxy({} as AgentBackend, {
      get(_t, prop) {
        if (!backend) throw new LocalApiFailure(503, LOCALAPI_STARTING, 'the daemon is starting; try again');
        const v = (backend as unknown as Record<string | symbol, unknown>)[prop];
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(backend) : v;
      },
    }),
    peerUid: (s) => peerCredentials(s)?.uid ?? null,
    operatorUid: o.operatorUid,
  });
  await server.listen();

  let tun: PacketDevice | null = null;
  let dataplane: AgentDataplane | null = null;
  let proxies: RunningProxies | null = null;
  try {
    const io = userspace ? await openUserspaceIO(o.port, DEFAULT_TUN_MTU) : openTunIO(o.tunName, o.port, DEFAULT_TUN_MTU);
    tun = io.tun;
    const bind = io.bind;
    const timings = natTimingsFromEnv(process.env);
    const dp = new AgentDataplane({ privateKey: keys.nodePrivateKey, tun, tunControl: io.tunControl, bind, nat: timings });
    dataplane = dp;
    dp.start();
    // The LocalAPI sees the backend only once start() has loaded the saved state: a call in between gets
    // ERR_STARTING (retryable) rather than a TypeError from half-loaded prefs.
    starting = new AgentBackend({
      store,
      dataplane,
      ...(timings.endpointRefreshMs !== undefined ? { endpointRefreshMs: timings.endpointRefreshMs } : {}),
      control: (controlURL, pinnedKey) => createControlSession({ controlURL, pinnedKey, machinePrivateKey: keys.machinePrivateKey, nodePrivateKey: keys.nodePrivateKey }),
      rotateNodeKey: async () => {
        keys.nodePrivateKey = await store.rotateNodeKey();
        dp.setPrivateKey(keys.nodePrivateKey);
        o.log(`agent daemon: logged out; new node key ${NodePublic.text(NodePrivate.publicKey(keys.nodePrivateKey))}`);
      },
      ...(io.userspace ? { forwardedPeer: (ip: string, port: number) => io.userspace!.forwarder.lookup(ip, port)?.remoteAddress ?? null } : {}),
    });
    await starting.start();
    const be = starting;
    backend = be;
    const status = () => be.status({ peers: true });
    proxies = await startProxies(o.proxies ?? {}, io.userspace ? new NetstackDialer(io.userspace.device, status) : new HostDialer(status));
    if (proxies.socks5) o.log(`agent daemon: SOCKS5 proxy on ${proxies.socks5}`);
    if (proxies.http) o.log(`agent daemon: HTTP proxy on ${proxies.http}`);
    o.log(
      `agent daemon: LocalAPI on ${o.socketPath}; ${NodePublic.text(NodePrivate.publicKey(keys.nodePrivateKey))}; tun ${userspace ? 'userspace (netstack)' : tun.name}; udp port ${bind.port}; state ${be.backendState()}`,
    );
  } catch (err) {
    await (backend ?? starting)?.stop();
    await server.close();
    await dataplane?.close();
    if (!dataplane) await tun?.close();
    throw err;
  }
  const b = backend;
  const d = dataplane;
  const px = proxies;
  return {
    async close() {
      await px.close();
      await b.stop();
      await server.close();
      await d.close();
    },
  };
}
