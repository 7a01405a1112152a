// Selector parsing (policy.md, "src selectors" / "dst selectors"): classifies one string and resolves it
// against the policy's own definitions. Unknown names are reported here, once, with their position, so
// the compiler only ever sees resolved selectors.
import { hasHostBits, formatPrefix, maskPrefix, parsePrefix } from '../types/ip.js';
import { DiagSink, ERR } from './diagnostics.js';
import { rangeSetOfPrefix, type RangeSet } from './ip-range.js';
import type { AutogroupName, Selector } from './model.js';

/** What the selector is for; decides which autogroups are allowed. */
export type SelectorRole = 'src' | 'dst' | 'target';

export const AUTOGROUPS: readonly AutogroupName[] = ['member', 'tagged', 'admin', 'self', 'internet', 'danger-all'];

/** The policy's own definitions that selectors refer to. */
export interface RefContext {
  sink: DiagSink;
  groups: Map<string, string[]>;
  tags: Set<string>;
  hosts: Map<string, RangeSet>;
  ipsets: Map<string, RangeSet>;
}

const ADDRESSISH = /^[0-9a-fA-F:.]+(\/[0-9]+)?$/;

/** Parses an IP or CIDR, reporting bad text and host bits at `offset`. Null after reporting. */
export function parseCidr(sink: DiagSink, text: string, offset: number, where: string): RangeSet | null {
  const p = parsePrefix(text);
  if (!p) {
    sink.at(offset, ERR.BAD_CIDR, `${where} ${JSON.stringify(text)}: not a valid IP address or CIDR`);
    return null;
  }
  if (hasHostBits(p)) {
    sink.at(offset, ERR.BAD_CIDR, `${where} ${JSON.stringify(text)}: CIDR has host bits set (did you mean ${formatPrefix(maskPrefix(p))}?)`);
    return null;
  }
  return rangeSetOfPrefix(p);
}

/** True when `text` looks like an address or CIDR rather than a name. */
export function looksLikeAddress(text: string): boolean {
  return ADDRESSISH.test(text) && (text.includes('.') || text.includes(':'));
}

/** Parses one selector. `where` prefixes messages (`grant src`, `acl dst`...). Null after reporting. */
export function parseSelector(ctx: RefContext, text: string, offset: number, where: string, role: SelectorRole): Selector | null {
  const { sink } = ctx;
  const quoted = JSON.stringify(text);
  if (text === '*') return { kind: 'all', text };
  if (text === '') {
    sink.at(offset, ERR.BAD_SELECTOR, `${where}: empty selector`);
    return null;
  }
  if (text.startsWith('autogroup:')) {
    const name = text.slice('autogroup:'.length) as AutogroupName;
    if (!AUTOGROUPS.includes(name)) {
      sink.at(offset, ERR.UNKNOWN_AUTOGROUP, `${where} ${quoted}: unknown autogroup (known: ${AUTOGROUPS.map((a) => 'autogroup:' + a).join(', ')})`);
      return null;
    }
    if (name === 'self' && role !== 'dst') {
      sink.at(offset, ERR.BAD_SELF, `${where} ${quoted}: autogroup:self can only be used as a dst`);
      return null;
    }
    if (name === 'danger-all' && role === 'dst') {
      sink.at(offset, ERR.BAD_DST, `${where} ${quoted}: cannot use autogroup:danger-all as a dst`);
      return null;
    }
    if (name === 'internet' && role !== 'dst') {
      sink.at(offset, ERR.BAD_SELECTOR, `${where} ${quoted}: autogroup:internet can only be used as a dst`);
      return null;
    }
    return { kind: 'autogroup', name, text };
  }
  if (text.startsWith('group:')) {
    if (!ctx.groups.has(text)) {
      sink.at(offset, ERR.UNKNOWN_GROUP, `${where} ${quoted}: group is not defined in groups`);
      return null;
    }
    return { kind: 'group', name: text, text };
  }
  if (text.startsWith('tag:')) {
    if (!ctx.tags.has(text)) {
      sink.at(offset, ERR.UNKNOWN_TAG, `${where} ${quoted}: tag is not defined in tagOwners`);
      return null;
    }
    return { kind: 'tag', name: text, text };
  }
  if (text.startsWith('ipset:')) {
    const set = ctx.ipsets.get(text);
    if (!set) {
      sink.at(offset, ERR.UNKNOWN_IPSET, `${where} ${quoted}: ipset is not defined in ipsets`);
      return null;
    }
    return { kind: 'prefix', ranges: set, text };
  }
  if (text.startsWith('host:')) {
    const set = ctx.hosts.get(text.slice(5));
    if (!set) {
      sink.at(offset, ERR.UNKNOWN_HOST, `${where} ${quoted}: host is not defined in hosts`);
      return null;
    }
    return { kind: 'prefix', ranges: set, text };
  }
  // `user:alice@example.com` is Tailscale's explicit spelling of a login; `*@domain` names every user of it.
  if (text.startsWith('user:') && text.includes('@')) return { kind: 'user', login: text.slice('user:'.length), text };
  if (text.includes('@')) return { kind: 'user', login: text, text };
  // A defined host name wins over address syntax: `cafe.bead` may be a host alias.
  const alias = ctx.hosts.get(text);
  if (alias) return { kind: 'prefix', ranges: alias, text };
  if (looksLikeAddress(text)) {
    // Tailscale refuses a literal default route as a destination: everything is `*`, the internet
    // (through exit nodes) is autogroup:internet.
    if (role === 'dst' && parsePrefix(text)?.bits === 0) {
      sink.at(offset, ERR.BAD_DST, `${where}: dst ${quoted}: to allow all IP addresses, use "*" or "autogroup:internet"`);
      return null;
    }
    const set = parseCidr(sink, text, offset, where);
    return set ? { kind: 'prefix', ranges: set, text } : null;
  }
  const hint = /^[a-z]+:/.test(text) ? ' (unknown selector prefix; expected group:, tag:, autogroup:, ipset:, host:)' : '';
  sink.at(offset, ERR.UNKNOWN_HOST, `${where} ${quoted}: host is not defined in hosts${hint}`);
  return null;
}
