// 200 simulated nodes registering and streaming at once against a real server on 127.0.0.1 (issue 5).
// Each is a real ControlClient with its own machine and node keys and its own Noise channel.
import { afterAll, describe, expect, it } from 'vitest';
import { parsePolicy, PolicyCompiler } from '../../policy/index.js';
import { tailnetFromStore } from '../../control/policy-store.js';
import { POLICY } from './fixtures.js';
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
    await Promise.all(agents.map((a) => a.waitFor((nm) => nm.peers.length === N - 1 && nm.peers.every((p) => p.online), 90_000)));

    const p = parsePolicy(POLICY, 'policy.hujson').policy!;
    const ref = new PolicyCompiler(p, tailnetFromStore(h.store));
    for (const a of agents) {
      const nm = a.latest()!;
      expect(nm.packetFilter).toEqual(ref.compileNode(nm.self.name).rules);
      const ep = nm.peers.find((x) => x.id !== nm.self.id && x.endpoints.length === 1);
      expect(ep).toBeDefined();
    }
    // a web node admits every alice (group:eng) device on 443 and nobody else
    const web = agents[0].latest()!;
    const srcs = web.packetFilter.flatMap((r) => r.SrcIPs);
    const aliceUntagged = h.store.listNodes().filter((n) => n.tags.length === 0 && n.userId === h.store.userByLogin('alice@example.com')!.id);
    expect(aliceUntagged.length).toBe(0); // every alice device here is tagged (owned by tag:web, not alice)
    expect(srcs).toEqual([]);
    const stats = h.server.coordinator.stats;
    // incremental: filters are recompiled per affected node, not for every node on every change
    expect(stats.filterCompiles).toBeLessThan(N * 10);
  }, 240_000);
});
