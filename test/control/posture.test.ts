// Posture from what the agent reports (node:os, node:osVersion, node:tsVersion) gates srcPosture grants,
// and a hostinfo change re-evaluates it within 1 s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Netmap } from '../../types/netmap.js';
import { newAgent, startControl, type Harness, type TestAgent } from './helpers.js';

const POLICY = `{
  "groups": {"group:ops": ["alice@example.com"]},
  "tagOwners": {"tag:srv": ["group:ops"]},
  "postures": {"posture:modern": ["node:os == 'linux'", "node:tsVersion >= '1.10.0'"]},
  "grants": [{"src": ["autogroup:member"], "dst": ["tag:srv"], "ip": ["tcp:22"], "srcPosture": ["posture:modern"]}],
}`;

let h: Harness;
let srv: TestAgent;
let linux: TestAgent;
let mac: TestAgent;
const ip = (a: TestAgent) => a.latest()!.self.addresses[0].split('/')[0];
const admitted = (nm: Netmap) => nm.packetFilter.flatMap((r) => r.SrcIPs);

beforeAll(async () => {
  h = await startControl({ policy: POLICY });
  h.addUser('alice@example.com');
  const key = h.key({ user: 'alice@example.com', reusable: true });
  srv = newAgent(h.url);
  linux = newAgent(h.url);
  mac = newAgent(h.url);
  await srv.client.register({ authKey: key, hostname: 'srv', hostinfo: { os: 'linux', agentVersion: '1.10.0' }, requestTags: ['tag:srv'] });
  await linux.client.register({ authKey: key, hostname: 'linux', hostinfo: { os: 'linux', agentVersion: '1.9.3' } });
  await mac.client.register({ authKey: key, hostname: 'mac', hostinfo: { os: 'macos', agentVersion: '1.20.0' } });
  await srv.stream(['192.0.2.1:1'], { os: 'linux', agentVersion: '1.10.0' });
  await linux.stream(['192.0.2.2:1'], { os: 'linux', agentVersion: '1.9.3' });
  await mac.stream(['192.0.2.3:1'], { os: 'macos', agentVersion: '1.20.0' });
});
afterAll(async () => {
  for (const a of [srv, linux, mac]) await a.stop();
  await h.close();
});

describe('hostinfo posture', () => {
  it('an old agent version and a non-linux OS fail the posture (so srv is not even sent them as peers)', async () => {
    const nm = await srv.waitFor((m) => m.self !== undefined);
    expect(admitted(nm)).not.toContain(ip(linux));
    expect(admitted(nm)).not.toContain(ip(mac));
    expect(nm.peers.map((p) => p.name)).toEqual([]);
  });

  it('upgrading the agent (1.9.3 → 1.10.0, compared per component) opens access within 1 s', async () => {
    const t0 = Date.now();
    linux.client.updateHostinfo({ os: 'linux', agentVersion: '1.10.0' });
    const nm = await srv.waitFor((m) => admitted(m).includes(ip(linux)), 1000);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(admitted(nm)).not.toContain(ip(mac));
    expect(nm.peers.map((p) => p.name)).toEqual(['linux']);
    expect(h.store.nodeByHostname('linux')!.hostinfo.agentVersion).toBe('1.10.0');
  });

  it('downgrading closes it again', async () => {
    linux.client.updateHostinfo({ os: 'linux', agentVersion: '1.2.0' });
    const nm = await srv.waitFor((m) => !admitted(m).includes(ip(linux)), 1000);
    expect(nm.peers.map((p) => p.name)).toEqual([]);
  });
});
