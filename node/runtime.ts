// An embedded node's machinery, loaded by Node.up() on first use (so `import { Node } from 'grantwire'`
// stays light): the agent's own backend (login state machine, netmap, whois), its data plane (WireGuard
// device, filter engine, revocation RSTs) over a NetstackDevice, a UDP socket, and control through the
// agent's control session. The UDP socket is the native batched bind (recvmmsg/sendmmsg, 4 MiB socket
// buffers) as in TUN mode when the addon loads, node:dgram otherwise: over node:dgram's default ~200 KiB
// receive buffer one TCP stream's window of datagrams overflowed the socket (≈100 drops per 32 MiB,
// 216 retransmissions, 19 Mbit/s embedded ↔ embedded; see scripts/bench/netstack.ts). Nothing here is privileged; several runtimes share a process.
import type { HostAddress } from '../agent/dataplane.js';
import { AgentBackend } from '../agent/backend.js';
import { createControlSession } from '../agent/control-session.js';
import { AgentDataplane } from '../agent/dataplane.js';
import type { NetstackDevice } from '../agent/netstack-device.js';
import { NetstackDialer } from '../agent/proxy/netstack-dialer.js';
import { StateStore } from '../agent/state-store.js';
import { loadNative } from '../net/native-addon.js';
import { DgramUdpBind } from '../net/udp-dgram.js';
import { NativeUdpBind } from '../net/udp-native.js';

export interface RuntimeOptions {
  dir: string;
  hostname: string;
  authKey?: string | undefined;
  controlURL: string;
  tags?: string[] | undefined;
  port?: number | undefined;
  upTimeoutMs?: number | undefined;
  hostAddresses?: (() => HostAddress[]) | undefined;
  insecureStatePerms?: boolean | undefined;
}

export interface NodeRuntime {
  backend: AgentBackend;
  dataplane: AgentDataplane;
  dialer: NetstackDialer;
  udpPort: number;
  close(): Promise<void>;
}

export async function startRuntime(o: RuntimeOptions, device: NetstackDevice): Promise<NodeRuntime> {
  const store = new StateStore(o.dir, { insecurePerms: o.insecureStatePerms === true });
  const keys = await store.loadKeys();
  const bind = loadNative() ? NativeUdpBind.open({ port: o.port ?? 0 }) : await DgramUdpBind.open({ port: o.port ?? 0, rcvbuf: 4 << 20 });
  const dataplane = new AgentDataplane({
    privateKey: keys.nodePrivateKey,
    tun: device,
    tunControl: device,
    bind,
    ...(o.hostAddresses ? { hostAddresses: o.hostAddresses } : {}),
  });
  dataplane.start();
  const backend = new AgentBackend({
    store,
    dataplane,
    defaultHostname: o.hostname,
    control: (controlURL, pinnedKey) => createControlSession({ controlURL, pinnedKey, machinePrivateKey: keys.machinePrivateKey, nodePrivateKey: keys.nodePrivateKey }),
    rotateNodeKey: async () => {
      keys.nodePrivateKey = await store.rotateNodeKey();
      dataplane.setPrivateKey(keys.nodePrivateKey);
    },
  });
  try {
    await backend.start();
    const registered = backend.backendState() !== 'NeedsLogin';
    await backend.up({
      ControlURL: o.controlURL,
      Hostname: o.hostname,
      ...(o.tags ? { AdvertiseTags: o.tags } : {}),
      ...(!registered && o.authKey ? { AuthKey: o.authKey } : {}),
      TimeoutMs: o.upTimeoutMs ?? 30_000,
    });
    await device.whenReady();
  } catch (err) {
    await backend.stop();
    await dataplane.close();
    throw err;
  }
  const dialer = new NetstackDialer(device, () => backend.status({ peers: true }));
  return {
    backend,
    dataplane,
    dialer,
    udpPort: bind.port,
    async close() {
      await backend.stop();
      await dataplane.close();
    },
  };
}
