// The daemon's packet device and UDP socket, by mode. TUN mode (root): a Linux TUN with netlink for
// addresses and routes, and the native addon's batched UDP. Userspace mode (`--tun userspace`, any user):
// a NetstackDevice (no /dev/net/tun, no netlink, no capabilities), inbound connections forwarded to the
// host's loopback (host-forward.ts), and UDP through the native addon when it loads, else node:dgram.
import { loadNative } from '../net/native-addon.js';
import type { PacketDevice, UdpBind } from '../net/io.js';
import { TunDevice } from '../net/tun-device.js';
import { DgramUdpBind } from '../net/udp-dgram.js';
import { NativeUdpBind } from '../net/udp-native.js';
import type { TunControl } from './dataplane.js';
import { HostForwarder } from './host-forward.js';
import { NetstackDevice, USERSPACE_DEVICE_NAME } from './netstack-device.js';

export const USERSPACE_TUN = USERSPACE_DEVICE_NAME;

export interface DaemonIO {
  tun: PacketDevice;
  tunControl: TunControl;
  bind: UdpBind;
  /** Userspace mode only. */
  userspace: { device: NetstackDevice; forwarder: HostForwarder } | null;
}

export async function openUserspaceIO(port: number, mtu: number): Promise<DaemonIO> {
  const device = new NetstackDevice({ mtu });
  const forwarder = new HostForwarder(device);
  forwarder.start();
  const bind = loadNative() ? NativeUdpBind.open({ port }) : await DgramUdpBind.open({ port });
  return { tun: device, tunControl: device, bind, userspace: { device, forwarder } };
}

export function openTunIO(name: string, port: number, mtu: number): DaemonIO {
  const tun = TunDevice.open({ name, mtu });
  try {
    tun.up();
    return { tun, tunControl: tun, bind: NativeUdpBind.open({ port }), userspace: null };
  } catch (err) {
    void tun.close();
    throw err;
  }
}
