// `control policy eval --policy FILE --tailnet FILE`: answers access questions about a policy by running
// real packets through the real filter. Reads JSON lines on stdin, writes one JSON line per query on
// stdout, in order (issue 3 contract):
//   {"from":"A","to":"B","proto":"tcp"|"udp"|"sctp"|"icmp"|<number>,"dport"?:N,"family"?:4|6,"dstIP"?:"…"}
//     → {"verdict":"accept"|"drop","reason":"…"}
//   {"whois":{"at":"B","peer":"A"}} → {"capMap":{…}}   ({} when A has no capabilities at B)
// The packet (packet/probe.ts, the same one `agent explain` builds: TCP SYN, UDP datagram, SCTP INIT,
// DCCP-Request, ICMP/ICMPv6 echo request, or a bare IP packet) goes from A's address of that family to
// B's (or dstIP) through a FilterEngine built from B's compiled filter, exactly as on B. A policy or tailnet that does not load → one line {"error":"…"} and exit 1. A bad
// query line → {"error":"…"} for that line, and the rest are still answered (exit 0).
// This is the only place that joins policy/ and filter/.
import { createInterface } from 'node:readline';
import { parseCommand, requireFlag } from '../../cli/args.js';
import { compileFilter, FilterEngine, isAccept, verdictReason } from '../../filter/index.js';
import { buildProbe } from '../../packet/probe.js';
import { checkPolicy, PolicyCompiler } from '../../policy/index.js';
import { formatDiagnostic, PolicyQueryError as QueryError, type Diagnostic } from '../../types/errors.js';
import { parseIP } from '../../types/ip.js';
import { parseIpProto } from '../../types/ipproto.js';
import type { Tailnet, TailnetNode } from '../../types/tailnet.js';
import { loadTailnet, readInput } from './policy-check.js';

export const usage = `usage: control policy eval --policy FILE --tailnet FILE < queries.jsonl

Reads one JSON query per line on stdin and prints one JSON answer per line, in order:
  {"from":"A","to":"B","proto":"tcp"|"udp"|"sctp"|"icmp"|N,"dport"?:N,"family"?:4|6,"dstIP"?:"IP"}
      → {"verdict":"accept"|"drop","reason":"rule|flow|no_rule|not_local|…"}
  {"whois":{"at":"B","peer":"A"}}  → {"capMap":{…}}
A and B are node names from the tailnet (A may also be an IP address); proto is a protocol name (tcp,
udp, sctp, dccp, gre, icmp, icmpv6, …) or number. The probe is a real packet, the same one \`agent
explain\` builds (TCP SYN, UDP datagram, SCTP INIT, DCCP-Request, ICMP/ICMPv6 echo request of the
family for either name, or a bare IP packet of that protocol) run through B's compiled packet filter;
family defaults to 4 (or dstIP's family); dport defaults to 0.

  --policy FILE   the policy (HuJSON)
  --tailnet FILE  the tailnet file (users, nodes)

A bad query line is answered with {"error":"…"} and the rest continue. If the policy or tailnet does not
load, a single {"error":"…"} line is printed and the exit status is 1. Exit status 2: bad usage.`;

interface NodeView {
  node: TailnetNode;
  engine: FilterEngine | null;
}


function addrOf(node: TailnetNode, family: 4 | 6): string | null {
  for (const ip of node.ips) if (parseIP(ip)?.family === family) return ip;
  return null;
}

function errorLine(diagnostics: Diagnostic[]): string {
  return JSON.stringify({ error: diagnostics.map(formatDiagnostic).join('\n') || 'cannot load' });
}

export class PolicyEvaluator {
  private readonly compiler: PolicyCompiler;
  private readonly nodes = new Map<string, NodeView>();

  constructor(compiler: PolicyCompiler, tailnet: Tailnet) {
    this.compiler = compiler;
    for (const n of tailnet.nodes) this.nodes.set(n.name, { node: n, engine: null });
  }

  private view(name: unknown, role: string): NodeView {
    if (typeof name !== 'string' || name === '') throw new QueryError(`"${role}" must be a node name`);
    const v = this.nodes.get(name);
    if (!v) throw new QueryError(`unknown node ${JSON.stringify(name)}`);
    return v;
  }

  /** B's engine: its compiled filter, local prefixes = its addresses and the routes it serves. */
  private engine(v: NodeView): FilterEngine {
    if (!v.engine) {
      const nf = this.compiler.compileNode(v.node.name);
      const local = [...v.node.ips, ...(v.node.routes ?? [])];
      v.engine = new FilterEngine(compileFilter(nf.rules, { localPrefixes: local, origins: nf.origins }), { maxFlows: 64, now: () => 0 });
    }
    v.engine.clearState(); // every query is judged on its own, as a first packet
    return v.engine;
  }

  answer(q: unknown): Record<string, unknown> {
    if (q === null || typeof q !== 'object' || Array.isArray(q)) throw new QueryError('a query must be a JSON object');
    const o = q as Record<string, unknown>;
    if ('whois' in o) {
      const w = o.whois as Record<string, unknown> | null;
      if (w === null || typeof w !== 'object') throw new QueryError('"whois" must be {"at": B, "peer": A}');
      const at = this.view(w.at, 'whois.at');
      const peer = this.view(w.peer, 'whois.peer');
      for (const fam of [4, 6] as const) {
        const src = addrOf(peer.node, fam);
        const dst = addrOf(at.node, fam);
        if (src && dst) return { capMap: this.engine(at).capsFor(src, dst) ?? {} };
      }
      return { capMap: {} };
    }
    const to = this.view(o.to, 'to');
    if (o.family !== undefined && o.family !== 4 && o.family !== 6) throw new QueryError('"family" must be 4 or 6');
    let dst: string | null = null;
    let family: 4 | 6 = (o.family as 4 | 6 | undefined) ?? 4;
    if (o.dstIP !== undefined) {
      const d = typeof o.dstIP === 'string' ? parseIP(o.dstIP) : null;
      if (!d) throw new QueryError(`"dstIP" ${JSON.stringify(o.dstIP)} is not an IP address`);
      if (o.family !== undefined && d.family !== o.family) throw new QueryError(`"dstIP" is not an IPv${String(o.family)} address`);
      family = d.family;
      dst = o.dstIP as string;
    }
    let src: string | null;
    const fromIP = typeof o.from === 'string' ? parseIP(o.from) : null;
    if (fromIP) {
      if (fromIP.family !== family) throw new QueryError(`"from" ${o.from as string} is not an IPv${family} address`);
      src = o.from as string;
    } else {
      const from = this.view(o.from, 'from');
      src = addrOf(from.node, family);
      if (!src) throw new QueryError(`node ${from.node.name} has no IPv${family} address`);
    }
    dst ??= addrOf(to.node, family);
    if (!dst) throw new QueryError(`node ${to.node.name} has no IPv${family} address`);
    const proto = typeof o.proto === 'string' || typeof o.proto === 'number' ? parseIpProto(o.proto) : null;
    if (proto === null) {
      throw new QueryError(`"proto" must be a protocol name (tcp, udp, sctp, dccp, icmp, …) or number 0-255, got ${JSON.stringify(o.proto)}`);
    }
    const dport = o.dport;
    if (dport !== undefined && (typeof dport !== 'number' || !Number.isInteger(dport) || dport < 0 || dport > 65535)) {
      throw new QueryError(`"dport" must be a port number 0-65535, got ${JSON.stringify(dport)}`);
    }
    // The same probe `agent explain` builds (icmp and icmpv6 both mean the echo request of the family).
    const pkt = buildProbe({ src, dst, proto, dport: dport as number | undefined });
    const v = this.engine(to).inbound(pkt, 0, pkt.length);
    return { verdict: isAccept(v) ? 'accept' : 'drop', reason: verdictReason(v) };
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { policy: { type: 'string' }, tailnet: { type: 'string' } });
  const policyPath = requireFlag(values.policy, 'policy');
  const tailnetPath = requireFlag(values.tailnet, 'tailnet');
  const t = loadTailnet(tailnetPath);
  if (!t.tailnet) {
    process.stdout.write(errorLine(t.diagnostics) + '\n');
    return 1;
  }
  const input = readInput(policyPath);
  if (input.text === null) {
    process.stdout.write(errorLine(input.diagnostic ? [input.diagnostic] : []) + '\n');
    return 1;
  }
  const { policy, diagnostics } = checkPolicy(input.text, policyPath, t.tailnet);
  if (!policy) {
    process.stdout.write(errorLine(diagnostics) + '\n');
    return 1;
  }
  const evaluator = new PolicyEvaluator(new PolicyCompiler(policy, t.tailnet), t.tailnet);
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let out: Record<string, unknown>;
    try {
      out = evaluator.answer(JSON.parse(line));
    } catch (err) {
      if (err instanceof SyntaxError) out = { error: `line ${n}: not JSON: ${err.message}` };
      else if (err instanceof QueryError || (err as { code?: string }).code?.startsWith('ERR_')) out = { error: `line ${n}: ${(err as Error).message}` };
      else throw err;
    }
    if (!process.stdout.write(JSON.stringify(out) + '\n')) await new Promise((r) => process.stdout.once('drain', r));
  }
  return 0;
}
