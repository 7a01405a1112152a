// 200 simulated nodes registering and streaming at once against a real server on 127.0.0.1 (issue 5).
// Each is a real ControlClient with its own machine and node keys and its own Noise channel.
import { afterAll, describe, expect, it } from 'vitest';
import { parsePolicy, PolicyCompiler } from '../../policy/index.js';
import { tailnetFromStore } from '../../control/policy-store.js';
import { rangeSetOfStrings } from '../../policy/ip-range.js';
import { MESH_POLICY as POLICY } from './fixtures.js';
import { LINUX, newAgent, startControl, type Harness, type TestAgent } from './helpers.js';

const N = process.env.GRANTWIRE_LONG ? 500 : 200;
let h: Harness;
const agents: TestAgent[] = [];

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await h?.close();
});

describe(`${N} nodes at once`, () => {
  it('all register concurrently, stream, and converge on a full, correct netmap', async () => {
    h = await startControl({ policy: POLICY, keepAliveMs: 5000 });
    h.addUser('alice@example.com');
    h.addUser('bob@example.com');
    const aliceKey = h.key({ user: 'alice@example.com', reusable: true });
    const bobKey = h.key({ user: 'bob@example.com', reusable: true });
    // Generous limits: every agent shares this one process (and CI's cores) with the server.
    for (let i = 0; i < N; i++) agents.push(newAgent(h.url, { connectTimeoutMs: 90_000 }));
    const regs = await Promise.all(
      agents.map((a, i) =>
        a.client.register({
          authKey: i % 4 === 0 ? aliceKey : bobKey,
          hostname: `n${i}`,
          hostinfo: LINUX,
          requestTags: i % 4 === 0 ? ['tag:web'] : [],
        }),
      ),
    );
    expect(new Set(regs.map((r) => r.node.addresses[0])).size).toBe(N);
    expect(new Set(regs.map((r) => r.node.name)).size).toBe(N);

    await Promise.all(agents.map((a, i) => a.stream([`192.0.2.${1 + (i % 250)}:${40000 + i}`], LINUX, 90_000)));
    // Peers by policy: a member device sees every other node (it reaches members and web servers); a web
    // server sees the member devices only (web servers do not reach each other).
    const webCount = agents.filter((_, i) => i % 4 === 0).length;
    const want = (i: number) => (i % 4 === 0 ? N - webCount : N - 1);
    await Promise.all(agents.map((a, i) => a.waitFor((nm) => nm.peers.length === want(i) && nm.peers.every((p) => p.online), 90_000)));
    for (const [i, a] of agents.entries()) if (i % 4 === 0) expect(a.latest()!.peers.every((p) => p.tags.length === 0)).toBe(true);

    const p = parsePolicy(POLICY, 'policy.hujson').policy!;
    const ref = new PolicyCompiler(p, tailnetFromStore(h.store));
    for (const a of agents) {
      const nm = a.latest()!;
      expect(nm.packetFilter).toEqual(ref.compileNode(nm.self.name).rules);
      const ep = nm.peers.find((x) => x.id !== nm.self.id && x.endpoints.length === 1);
      expect(ep).toBeDefined();
    }
    // a web node admits every member device (on 22) and nobody else: no alice (group:eng) device is
    // untagged here, so the 443 grant admits nobody
    const web = agents[0].latest()!;
    const srcs = rangeSetOfStrings(web.packetFilter.flatMap((r) => r.SrcIPs));
    const aliceUntagged = h.store.listNodes().filter((n) => n.tags.length === 0 && n.userId === h.store.userByLogin('alice@example.com')!.id);
    expect(aliceUntagged.length).toBe(0); // every alice device here is tagged (owned by tag:web, not alice)
    const v4 = (ip: string) => ip.split('.').reduce((acc, x) => acc * 256n + BigInt(x), 0n);
    const admittedNodes = h.store.listNodes().filter((n) => srcs.v4.some((r) => r.start <= v4(n.v4) && v4(n.v4) <= r.end));
    expect(admittedNodes.every((n) => n.tags.length === 0)).toBe(true);
    expect(admittedNodes.length).toBe(N - webCount);
    const stats = h.server.coordinator.stats;
    // incremental: filters are recompiled per affected node, not for every node on every change
    expect(stats.filterCompiles).toBeLessThan(N * 10);
  }, 240_000);
});
