// parsePolicy: HuJSON text → validated Policy, with every problem reported (policy.md, "Errors we must
// produce"). Sections may come in any order, so definitions (groups, tagOwners, hosts, ipsets, postures)
// are read first and the rule sections (parse-rules.ts) resolve against them.
import type { Diagnostic } from '../types/errors.js';
import { DiagSink, ERR, sortDiagnostics } from './diagnostics.js';
import { entries, expectObject, expectString, parseHuJSON, stringList, type Entry, type JsonNode } from './hujson.js';
import { emptyRangeSet, subtract, union, type RangeSet } from './ip-range.js';
import type { Policy } from './model.js';
import { parseAcls, parseAutoApprovers, parseGrants, parseNodeAttrs, parsePostureRefs, parseSsh, parseTests, type RulesContext } from './parse-rules.js';
import { parsePostureCondition, type PostureCondition } from './posture.js';
import { looksLikeAddress, parseCidr, type RefContext } from './selector.js';
import { tagNameProblem } from './tag-name.js';

export const TOP_LEVEL_KEYS = [
  'groups',
  'tagOwners',
  'hosts',
  'ipsets',
  'postures',
  'defaultSrcPosture',
  'grants',
  'acls',
  'ssh',
  'nodeAttrs',
  'autoApprovers',
  'tests',
] as const;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function checkPrefixedName(sink: DiagSink, e: Entry, prefix: string, where: string): boolean {
  if (!e.key.startsWith(prefix) || !NAME_RE.test(e.key.slice(prefix.length))) {
    sink.at(e.keyNode.offset, ERR.BAD_NAME, `${where} ${JSON.stringify(e.key)}: name must look like ${prefix}name (letters, digits, '-', '_', '.')`);
    return false;
  }
  return true;
}

function parseGroups(sink: DiagSink, node: JsonNode | undefined): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  if (!node || !expectObject(node, sink, 'groups')) return groups;
  for (const e of entries(node, sink, 'groups')) {
    const nameOk = checkPrefixedName(sink, e, 'group:', 'groups');
    const members: string[] = [];
    for (const [m, mn] of stringList(e.value, sink, `group ${JSON.stringify(e.key)}`) ?? []) {
      if (m.startsWith('group:')) {
        sink.at(mn.offset, ERR.NESTED_GROUP, `group ${JSON.stringify(e.key)}: member ${JSON.stringify(m)} is a group; groups do not nest`);
      } else if (!m.includes('@') || m.includes(':')) {
        sink.at(mn.offset, ERR.BAD_SELECTOR, `group ${JSON.stringify(e.key)}: member ${JSON.stringify(m)} must be a user login like alice@example.com`);
      } else if (!members.includes(m)) members.push(m);
    }
    if (nameOk) groups.set(e.key, members);
  }
  return groups;
}

function parseTagOwners(sink: DiagSink, node: JsonNode | undefined, groups: Map<string, string[]>): Map<string, string[]> {
  const owners = new Map<string, string[]>();
  if (!node || !expectObject(node, sink, 'tagOwners')) return owners;
  const list = entries(node, sink, 'tagOwners');
  const declared = new Set(list.filter((e) => e.key.startsWith('tag:')).map((e) => e.key));
  for (const e of list) {
    const problem = tagNameProblem(e.key);
    if (problem) sink.at(e.keyNode.offset, ERR.BAD_NAME, `tagOwners ${JSON.stringify(e.key)}: ${problem}`);
    const nameOk = problem === null;
    const out: string[] = [];
    for (const [o, on] of stringList(e.value, sink, `tagOwners ${JSON.stringify(e.key)}`) ?? []) {
      const where = `tagOwners ${JSON.stringify(e.key)}: owner ${JSON.stringify(o)}`;
      if (o.startsWith('group:')) {
        if (!groups.has(o)) sink.at(on.offset, ERR.UNKNOWN_GROUP, `${where}: group is not defined in groups`);
        else out.push(o);
      } else if (o.startsWith('tag:')) {
        if (!declared.has(o)) sink.at(on.offset, ERR.UNKNOWN_TAG, `${where}: tag is not defined in tagOwners`);
        else out.push(o);
      } else if (o === 'autogroup:admin' || o === 'autogroup:member') {
        out.push(o);
      } else if (o.includes('@') && !o.includes(':')) {
        out.push(o);
      } else {
        sink.at(on.offset, ERR.BAD_SELECTOR, `${where}: expected a user login, group:, tag: or autogroup:admin`);
      }
    }
    if (nameOk) owners.set(e.key, out);
  }
  return owners;
}

function parseHosts(sink: DiagSink, node: JsonNode | undefined): Map<string, RangeSet> {
  const hosts = new Map<string, RangeSet>();
  if (!node || !expectObject(node, sink, 'hosts')) return hosts;
  for (const e of entries(node, sink, 'hosts')) {
    let ok = true;
    if (e.key === '' || e.key.includes('@') || e.key.includes(':') || e.key === '*' || /\s/.test(e.key)) {
      sink.at(e.keyNode.offset, ERR.BAD_NAME, `hosts ${JSON.stringify(e.key)}: a host name must not be empty or contain '@', ':' or spaces`);
      ok = false;
    } else if (looksLikeAddress(e.key) && !/[a-zA-Z]/.test(e.key)) {
      sink.at(e.keyNode.offset, ERR.BAD_NAME, `hosts ${JSON.stringify(e.key)}: a host name must not look like an IP address`);
      ok = false;
    }
    const v = expectString(e.value, sink, `hosts ${JSON.stringify(e.key)}`);
    if (v === null) continue;
    const set = parseCidr(sink, v, e.value.offset, `hosts ${JSON.stringify(e.key)}:`);
    if (set && ok) hosts.set(e.key, set);
  }
  return hosts;
}

interface IpsetEntry {
  op: 'add' | 'remove';
  ref: string;
  offset: number;
}

function parseIpsets(sink: DiagSink, node: JsonNode | undefined, hosts: Map<string, RangeSet>): Map<string, RangeSet> {
  const result = new Map<string, RangeSet>();
  if (!node || !expectObject(node, sink, 'ipsets')) return result;
  const defs = new Map<string, IpsetEntry[]>();
  for (const e of entries(node, sink, 'ipsets')) {
    if (!checkPrefixedName(sink, e, 'ipset:', 'ipsets')) continue;
    const list: IpsetEntry[] = [];
    for (const [s, sn] of stringList(e.value, sink, `ipset ${JSON.stringify(e.key)}`) ?? []) {
      const m = /^(?:(add|remove)\s+)?(\S+)$/.exec(s.trim());
      if (!m) {
        sink.at(sn.offset, ERR.BAD_SELECTOR, `ipset ${JSON.stringify(e.key)}: entry ${JSON.stringify(s)}: expected "add X", "remove X" or X (an IP, CIDR, host:name or ipset:name)`);
        continue;
      }
      list.push({ op: (m[1] as 'add' | 'remove' | undefined) ?? 'add', ref: m[2], offset: sn.offset });
    }
    defs.set(e.key, list);
  }
  const failed = new Set<string>();
  const resolve = (name: string, stack: string[]): RangeSet | null => {
    const done = result.get(name);
    if (done) return done;
    if (failed.has(name)) return null;
    const list = defs.get(name);
    if (!list) return null;
    let acc = emptyRangeSet();
    let ok = true;
    for (const it of list) {
      const where = `ipset ${JSON.stringify(name)}: entry ${JSON.stringify(it.ref)}`;
      let set: RangeSet | null = null;
      if (it.ref.startsWith('ipset:')) {
        if (!defs.has(it.ref)) {
          sink.at(it.offset, ERR.UNKNOWN_IPSET, `${where}: ipset is not defined in ipsets`);
        } else if (stack.includes(it.ref) || it.ref === name) {
          sink.at(it.offset, ERR.IPSET_CYCLE, `${where}: ipsets refer to each other in a cycle (${[...stack, name, it.ref].join(' → ')})`);
        } else set = resolve(it.ref, [...stack, name]);
      } else if (it.ref.startsWith('host:') || hosts.has(it.ref) || !looksLikeAddress(it.ref)) {
        const h = it.ref.startsWith('host:') ? it.ref.slice(5) : it.ref;
        set = hosts.get(h) ?? null;
        if (!set) sink.at(it.offset, ERR.UNKNOWN_HOST, `${where}: host is not defined in hosts`);
      } else {
        set = parseCidr(sink, it.ref, it.offset, `${where}:`);
      }
      if (!set) {
        ok = false;
        continue;
      }
      acc = it.op === 'add' ? union(acc, set) : subtract(acc, set);
    }
    if (!ok) {
      failed.add(name);
      return null;
    }
    result.set(name, acc);
    return acc;
  };
  for (const name of defs.keys()) resolve(name, []);
  return result;
}

function parsePostures(sink: DiagSink, node: JsonNode | undefined): Map<string, PostureCondition[]> {
  const postures = new Map<string, PostureCondition[]>();
  if (!node || !expectObject(node, sink, 'postures')) return postures;
  for (const e of entries(node, sink, 'postures')) {
    const nameOk = checkPrefixedName(sink, e, 'posture:', 'postures');
    const conds: PostureCondition[] = [];
    const list = stringList(e.value, sink, `posture ${JSON.stringify(e.key)}`);
    if (list && list.length === 0) sink.at(e.value.offset, ERR.BAD_POSTURE, `posture ${JSON.stringify(e.key)}: needs at least one condition`);
    for (const [s, sn] of list ?? []) {
      const c = parsePostureCondition(s);
      if (c.ok) conds.push(c.value);
      else sink.at(sn.offset, ERR.BAD_POSTURE, `posture ${JSON.stringify(e.key)}: ${c.message}`);
    }
    if (nameOk) postures.set(e.key, conds);
  }
  return postures;
}

/** Parses and validates a policy file. `policy` is null iff there is any error. Never throws on input. */
export function parsePolicy(text: string, file: string): { policy: Policy | null; diagnostics: Diagnostic[] } {
  const sink = new DiagSink(file, typeof text === 'string' ? text : '');
  try {
    return parsePolicyInner(typeof text === 'string' ? text : '', file, sink);
  } catch (err) {
    // A bug of ours, not the user's: still report it as a diagnostic rather than crash the caller.
    sink.at(0, ERR.SYNTAX, `internal error while parsing the policy: ${(err as Error).message}`);
    return { policy: null, diagnostics: sortDiagnostics(sink.diagnostics) };
  }
}

function parsePolicyInner(text: string, file: string, sink: DiagSink): { policy: Policy | null; diagnostics: Diagnostic[] } {
  const root = parseHuJSON(text, sink);
  if (!root) return { policy: null, diagnostics: sortDiagnostics(sink.diagnostics) };
  if (!expectObject(root, sink, 'policy')) return { policy: null, diagnostics: sortDiagnostics(sink.diagnostics) };
  const sections = new Map<string, JsonNode>();
  for (const e of entries(root, sink, 'policy')) {
    if (!(TOP_LEVEL_KEYS as readonly string[]).includes(e.key)) {
      sink.at(e.keyNode.offset, ERR.UNKNOWN_KEY, `unknown top-level key ${JSON.stringify(e.key)} (known: ${TOP_LEVEL_KEYS.join(', ')})`);
      continue;
    }
    sections.set(e.key, e.value);
  }
  const groups = parseGroups(sink, sections.get('groups'));
  const tagOwners = parseTagOwners(sink, sections.get('tagOwners'), groups);
  const hosts = parseHosts(sink, sections.get('hosts'));
  const ipsets = parseIpsets(sink, sections.get('ipsets'), hosts);
  const postures = parsePostures(sink, sections.get('postures'));
  const dsp = sections.get('defaultSrcPosture');
  const defaultSrcPosture = dsp ? parsePostureRefs(sink, dsp, postures, 'defaultSrcPosture') : [];
  const refs: RefContext = { sink, groups, tags: new Set(tagOwners.keys()), hosts, ipsets };
  const ctx: RulesContext = { ...refs, file, postures, defaultSrcPosture };
  const grantsNode = sections.get('grants');
  const aclsNode = sections.get('acls');
  const grants = [...(grantsNode ? parseGrants(ctx, grantsNode) : []), ...(aclsNode ? parseAcls(ctx, aclsNode) : [])];
  const sshNode = sections.get('ssh');
  const naNode = sections.get('nodeAttrs');
  const aaNode = sections.get('autoApprovers');
  const testsNode = sections.get('tests');
  const policy: Policy = {
    file,
    groups,
    tagOwners,
    hosts,
    ipsets,
    postures,
    defaultSrcPosture,
    grants,
    ssh: sshNode ? parseSsh(ctx, sshNode) : [],
    nodeAttrs: naNode ? parseNodeAttrs(ctx, naNode) : [],
    autoApprovers: aaNode ? parseAutoApprovers(ctx, aaNode) : { routes: new Map(), exitNode: [] },
    tests: testsNode ? parseTests(ctx, testsNode) : [],
    allowAll: !grantsNode && !aclsNode,
  };
  const diagnostics = sortDiagnostics(sink.diagnostics);
  return { policy: diagnostics.length === 0 ? policy : null, diagnostics };
}
