// `agent netcheck`: the NAT report from the daemon's WireGuard socket: the reflexive address each STUN
// server saw, whether the mapping varies by destination (an endpoint-dependent, "symmetric" NAT, where
// direct paths rarely work and traffic stays on a relay), and each relay's latency.
import { parseCommand } from '../../cli/args.js';
import { printJSON, withClient } from './common.js';

export const usage = `usage: agent [--socket PATH] netcheck [--json]

Reports this node's reflexive UDP addresses (STUN from the WireGuard socket), whether the NAT mapping
varies by destination, the relays' latencies and the home relay.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { json: { type: 'boolean' } });
  return withClient('netcheck', async (c) => {
    const r = await c.netcheck();
    if (values.json) {
      printJSON(r);
      return 0;
    }
    const lines = ['Report:'];
    for (const x of r.reflexive) lines.push(`  * STUN ${x.server}: ${x.endpoint ?? `no answer (${x.error ?? 'timeout'})`}`);
    if (r.reflexive.length === 0) lines.push('  * STUN: no STUN servers in the relay map');
    const varies = r.mappingVariesByDest === null ? 'unknown (fewer than two STUN answers)' : r.mappingVariesByDest ? 'yes (endpoint-dependent NAT: expect relayed paths)' : 'no';
    lines.push(`  * MappingVariesByDestIP: ${varies}`);
    lines.push(`  * Home relay: ${r.homeRelay ?? 'none'}`);
    lines.push('  * Relay latency:');
    for (const x of r.relays) lines.push(`    - ${x.name}: ${x.latencyMs !== null ? `${x.latencyMs.toFixed(1)}ms${x.error ? `, REFUSED: ${x.error}` : ''}` : `unreachable (${x.error ?? ''})`} (${x.url})`);
    process.stdout.write(lines.join('\n') + '\n');
    return r.reflexive.some((x) => x.endpoint !== null) || r.relays.some((x) => x.latencyMs !== null) ? 0 : 1;
  });
}
