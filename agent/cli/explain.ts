// `agent explain`: what this node's filter would do with an inbound packet, and why.
import { parseCommand, requireFlag, UsageError } from '../../cli/args.js';
import { parseIP } from '../../types/ip.js';
import { parseIpProto } from '../../types/ipproto.js';
import { printJSON, withClient } from './common.js';

export const usage = `usage: agent [--socket PATH] explain --src IP --dst IP --proto P [--dport N] [--sport N] [--json]

Asks the filter for its verdict on an inbound packet from --src to --dst (P is tcp, udp, icmp, icmpv6,
sctp, dccp, gre, another protocol name or a number) and prints the verdict, the reason and the matching
(or nearest) rules. The packet is the same probe \`control policy eval\` builds: a TCP
SYN, UDP datagram, SCTP INIT, DCCP-Request, ICMP/ICMPv6 echo request (either name means the addresses'
family), or a bare packet of the protocol.`;

function port(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`--${flag} must be a port number 0-65535`);
  return Number(text);
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {
    src: { type: 'string' },
    dst: { type: 'string' },
    proto: { type: 'string' },
    dport: { type: 'string' },
    sport: { type: 'string' },
    json: { type: 'boolean' },
  });
  const src = requireFlag(values.src, 'src');
  const dst = requireFlag(values.dst, 'dst');
  if (!parseIP(src)) throw new UsageError(`--src ${JSON.stringify(src)} is not an IP address`);
  if (!parseIP(dst)) throw new UsageError(`--dst ${JSON.stringify(dst)} is not an IP address`);
  const proto = parseIpProto(requireFlag(values.proto, 'proto'));
  if (proto === null) throw new UsageError(`--proto ${JSON.stringify(values.proto)}: use tcp, udp, icmp, icmpv6, sctp, dccp, gre, another protocol name or a number 0-255`);
  const dport = port(values.dport, 'dport');
  const sport = port(values.sport, 'sport');
  return withClient('explain', async (c) => {
    const r = await c.explain({ src, dst, proto, ...(dport !== undefined ? { dport } : {}), ...(sport !== undefined ? { sport } : {}) });
    if (values.json) {
      printJSON(r);
      return 0;
    }
    const what = `${r.Query.src} → ${r.Query.dst}${r.Query.dport !== undefined ? `:${r.Query.dport}` : ''} proto ${r.Query.proto}`;
    process.stdout.write(`${r.Verdict.toUpperCase()} (${r.Reason}): ${what}\n`);
    if (r.Detail !== null && r.Detail !== undefined) process.stdout.write(JSON.stringify(r.Detail, null, 2) + '\n');
    return 0;
  });
}
