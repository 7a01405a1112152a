// ShieldsUp end to end inside one process (issue 10, item 11): the LocalAPI server over a real unix
// socket, the real AgentBackend, and the real data plane (WireGuard Device + FilterEngine over in-memory
// fakes). PATCH prefs turns shields on; status, explain and metrics show it; it survives a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { syntheticNetmap } from '../localapi/fake-backend.js';
import { LocalClient } from '../localapi/client.js';
import { LocalApiServer } from '../localapi/server.js';
import type { Netmap } from '../types/netmap.js';
import { FakePacketDevice } from '../net/fake-packet-device.js';
import { FakeNetwork } from '../net/fake-udp-bind.js';
import { NodePublic, generatePrivateKey, publicKeyFromPrivate } from '../crypto/key.js';
import { AgentBackend, type ControlSession } from './backend.js';
import { AgentDataplane } from './dataplane.js';
import { formatStatus } from './format.js';
import { StateStore } from './state-store.js';

const root = mkdtempSync(join(tmpdir(), 'gw-shields-'));
const net = new FakeNetwork();
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  rmSync(root, { recursive: true, force: true });
});

function netmapFor(priv: Uint8Array): Netmap {
  const nm = syntheticNetmap(2);
  nm.self.nodeKey = NodePublic.text(publicKeyFromPrivate(priv));
  nm.packetFilter = [{ SrcIPs: ['100.64.0.2'], DstPorts: [{ IP: '100.64.0.1', Ports: { First: 22, Last: 22 } }], IPProto: [6] }];
  return nm;
}

function session(nm: Netmap): ControlSession {
  return {
    register: async () => ({ nodeId: 1, controlKey: 'cd'.repeat(32) }),
    streamMap: (_req, onNetmap, signal) => {
      setTimeout(() => onNetmap(nm), 1);
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    },
    logout: async () => undefined,
  };
}

/** A node: data plane, backend and LocalAPI on a socket in `dir`; the caller is always root. */
async function node(dir: string, port: number) {
  const priv = generatePrivateKey();
  const dp = new AgentDataplane({ privateKey: priv, tun: new FakePacketDevice(`gws${port}`), tunControl: null, bind: net.bind(`192.0.2.1:${port}`), hostAddresses: () => [] });
  dp.start();
  const backend = new AgentBackend({ store: new StateStore(join(root, dir)), control: () => session(netmapFor(priv)), dataplane: dp, defaultHostname: 'node-1' });
  await backend.start();
  const socketPath = join(root, dir, 'agentd.sock');
  const server = new LocalApiServer({ socketPath, backend, peerUid: () => 0, daemonUid: 0 });
  await server.listen();
  const client = new LocalClient({ socketPath, connections: 1 });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await client.close();
    await server.close();
    await backend.stop();
    await dp.close();
  };
  closers.push(close);
  return { client, dp, close };
}

const SSH = { src: '100.64.0.2', dst: '100.64.0.1', proto: 6, dport: 22 };

describe('ShieldsUp through the LocalAPI', () => {
  it('PATCH prefs raises the shields: status, explain and metrics say so; a restart keeps them up', async () => {
    const n = await node('a', 50001);
    await n.client.up({ ControlURL: 'http://control.test', AuthKey: 'k' });
    expect((await n.client.explain(SSH)).Reason).toBe('rule');
    let st = await n.client.status();
    expect(st.ShieldsUp).toBe(false);
    expect(formatStatus(st)).not.toMatch(/shields up/i);

    expect((await n.client.patchPrefs({ ShieldsUp: true })).ShieldsUp).toBe(true);
    st = await n.client.status();
    expect(st.ShieldsUp).toBe(true);
    expect(formatStatus(st)).toMatch(/^# Shields up: .*incoming connections/im);
    const x = await n.client.explain(SSH);
    expect([x.Verdict, x.Reason]).toEqual(['drop', 'shields_up']);
    expect(await n.client.metrics()).toMatch(/grantwire_filter_drops_total\{reason="shields_up"\} 0/);
    await n.close();

    const again = await node('a', 50002);
    await new Promise((r) => setTimeout(r, 30));
    expect((await again.client.status()).ShieldsUp).toBe(true);
    expect((await again.client.explain(SSH)).Reason).toBe('shields_up');
    await again.client.patchPrefs({ ShieldsUp: false });
    expect((await again.client.explain(SSH)).Reason).toBe('rule');
  });
});
