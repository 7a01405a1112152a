// The `ip` entries of grants and the `selector:ports` destinations of legacy acls (policy.md, Grants):
// protocol names/numbers and port ranges, validated with messages that say what was expected.
import type { PortRange } from '../types/filter-rule.js';
import { IP_PROTO_SPELLINGS, IPPROTO_DCCP, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, parseIpProto } from '../types/ipproto.js';
import { ERR, type ErrCode } from './diagnostics.js';

/**
 * Protocols whose `ip` entries may name ports; any other protocol only accepts `*`. The policy language's
 * rule, kept apart from types/ipproto.ts ipProtoHasPorts, which also counts UDP-Lite (a protocol the
 * language does not name): `136:53` stays an error.
 */
const PORTED = new Set([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_DCCP]);

export const ALL_PORTS: PortRange = { First: 0, Last: 65535 };

/** One parsed `ip` entry: protocols (null = the default set, IPProto omitted) and port ranges. */
export interface IpSpec {
  protos: number[] | null;
  ports: PortRange[];
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; code: ErrCode; message: string };

function fail<T>(code: ErrCode, message: string): Parsed<T> {
  return { ok: false, code, message };
}

/** Parses `*`, `22`, `80-443` or a comma list of those. Port 0 and descending ranges are errors. */
export function parsePorts(text: string): Parsed<PortRange[]> {
  if (text === '*') return { ok: true, value: [{ ...ALL_PORTS }] };
  const out: PortRange[] = [];
  for (const part of text.split(',')) {
    const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(part);
    if (!m) return fail(ERR.BAD_PORT, `bad port ${JSON.stringify(part)}: expected a number 1-65535, a range like 80-443, or *`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (first === 0 || last === 0) return fail(ERR.BAD_PORT, `bad port ${JSON.stringify(part)}: port 0 is not allowed`);
    if (first > 65535 || last > 65535) return fail(ERR.BAD_PORT, `bad port ${JSON.stringify(part)}: ports go up to 65535`);
    if (last < first) return fail(ERR.BAD_PORT, `bad port range ${JSON.stringify(part)}: range must be ascending`);
    out.push({ First: first, Last: last });
  }
  return { ok: true, value: out };
}

/**
 * A protocol by name (types/ipproto.ts, case-insensitive) or number 1–255. The policy's own rule on top of
 * that table: the name `icmp` means ICMP for both families (1 and 58), as Tailscale's compiler emits it,
 * so `icmp:*` lets ping6 through too; `icmpv6` and the numbers 1 and 58 mean one protocol each.
 */
export function parseProtocol(text: string): Parsed<number[]> {
  const n = parseIpProto(text);
  if (n !== null && n !== 0) {
    if (n === IPPROTO_ICMP && text.toLowerCase() === 'icmp') return { ok: true, value: [IPPROTO_ICMP, IPPROTO_ICMPV6] };
    return { ok: true, value: [n] };
  }
  if (/^[0-9]+$/.test(text)) return fail(ERR.BAD_PROTO, `bad protocol number ${text}: expected 1-255`);
  return fail(ERR.BAD_PROTO, `unknown protocol ${JSON.stringify(text)}: expected one of ${IP_PROTO_SPELLINGS.join(', ')} or a number 1-255`);
}

/** Ports only make sense when every protocol of the rule has them. */
function checkPortsForProtos(protos: number[], ports: PortRange[], entry: string): Parsed<PortRange[]> {
  const all = ports.length === 1 && ports[0].First === 0 && ports[0].Last === 65535;
  if (!all && protos.some((p) => !PORTED.has(p))) {
    return fail(ERR.BAD_PORT, `${JSON.stringify(entry)}: this protocol has no ports; use *`);
  }
  return { ok: true, value: ports };
}

/** Parses one grant `ip` entry (policy.md: `*`, `22`, `80-443`, `tcp:22`, `icmp:*`, `47:*`). */
export function parseIpEntry(entry: string): Parsed<IpSpec> {
  if (entry === '*') return { ok: true, value: { protos: null, ports: [{ ...ALL_PORTS }] } };
  const colon = entry.indexOf(':');
  if (colon === -1) {
    if (/^[0-9]/.test(entry)) {
      const ports = parsePorts(entry);
      return ports.ok ? { ok: true, value: { protos: null, ports: ports.value } } : ports;
    }
    const proto = parseProtocol(entry);
    if (proto.ok) return fail(ERR.BAD_PROTO, `bare protocol ${JSON.stringify(entry)}: write ${entry}:* (or ${entry}:PORT)`);
    return proto;
  }
  const proto = parseProtocol(entry.slice(0, colon));
  if (!proto.ok) return proto;
  const ports = parsePorts(entry.slice(colon + 1));
  if (!ports.ok) return ports;
  const checked = checkPortsForProtos(proto.value, ports.value, entry);
  return checked.ok ? { ok: true, value: { protos: proto.value, ports: checked.value } } : checked;
}

/** Splits a legacy acl destination `selector:ports` at its last colon (`tag:web:80`, `fd7a::1:22`, `*:*`). */
export function splitAclDst(text: string): Parsed<{ selector: string; ports: string }> {
  const colon = text.lastIndexOf(':');
  if (colon <= 0 || colon === text.length - 1) {
    return fail(ERR.BAD_PORT, `acl dst ${JSON.stringify(text)}: expected selector:ports, like tag:server:22 or *:*`);
  }
  return { ok: true, value: { selector: text.slice(0, colon), ports: text.slice(colon + 1) } };
}

/** The ports of a legacy acl destination under the acl's optional `proto`. */
export function aclIpSpec(protos: number[] | null, portsText: string, entry: string): Parsed<IpSpec> {
  const ports = parsePorts(portsText);
  if (!ports.ok) return ports;
  if (protos === null) return { ok: true, value: { protos: null, ports: ports.value } };
  const checked = checkPortsForProtos(protos, ports.value, entry);
  return checked.ok ? { ok: true, value: { protos, ports: checked.value } } : checked;
}

/** Sorts and merges overlapping or adjacent port ranges. */
export function mergePorts(ports: PortRange[]): PortRange[] {
  if (ports.length <= 1) return ports.map((p) => ({ First: p.First, Last: p.Last }));
  const s = ports.slice().sort((a, b) => a.First - b.First || a.Last - b.Last);
  const out: PortRange[] = [{ First: s[0].First, Last: s[0].Last }];
  for (let i = 1; i < s.length; i++) {
    const last = out[out.length - 1];
    if (s[i].First <= last.Last + 1) {
      if (s[i].Last > last.Last) last.Last = s[i].Last;
    } else out.push({ First: s[i].First, Last: s[i].Last });
  }
  return out;
}

/** Canonical key for a protocol list (null = default set). */
export function protoKey(protos: number[] | null): string {
  return protos === null ? '*' : protos.slice().sort((a, b) => a - b).join(',');
}
