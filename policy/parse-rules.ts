// The rule sections of a policy: grants, legacy acls (converted to grants), ssh, nodeAttrs,
// autoApprovers and tests. Each reports every problem it finds and returns what was valid.
import { parseDuration } from './duration.js';
import { DiagSink, ERR } from './diagnostics.js';
import { isForbiddenTailscaleCap } from './known-caps.js';
import { entries, expectArray, expectObject, expectString, stringList, toValue, type Entry, type JsonNode } from './hujson.js';
import type { Grant, GrantLeg, NodeAttr, Selector, SshRule, TestCase, TestTarget } from './model.js';
import { aclIpSpec, parseIpEntry, parseProtocol, splitAclDst, type IpSpec } from './ports.js';
import type { PostureCondition } from './posture.js';
import type { PostureValue } from '../types/tailnet.js';
import { parseCidr, parseSelector, type RefContext, type SelectorRole } from './selector.js';
import type { RangeSet } from './ip-range.js';

export interface RulesContext extends RefContext {
  file: string;
  postures: Map<string, PostureCondition[]>;
  defaultSrcPosture: string[];
}

/** An object's fields by name; unknown fields are reported. */
function fields(sink: DiagSink, node: JsonNode, allowed: readonly string[], where: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (const e of entries(node, sink, where)) {
    if (!allowed.includes(e.key)) {
      sink.at(e.keyNode.offset, ERR.UNKNOWN_KEY, `${where}: unknown key ${JSON.stringify(e.key)} (known: ${allowed.join(', ')})`);
      continue;
    }
    out.set(e.key, e);
  }
  return out;
}

function required(sink: DiagSink, f: Map<string, Entry>, key: string, node: JsonNode, where: string): Entry | null {
  const e = f.get(key);
  if (!e) sink.at(node.offset, ERR.TYPE, `${where}: missing ${JSON.stringify(key)}`);
  return e ?? null;
}

function selectors(ctx: RulesContext, node: JsonNode, where: string, role: SelectorRole, nonEmpty = true): { list: Selector[]; offsets: number[]; ok: boolean } {
  const list: Selector[] = [];
  const offsets: number[] = [];
  const items = stringList(node, ctx.sink, where);
  if (!items) return { list, offsets, ok: false };
  if (nonEmpty && node.type === 'array' && (node.children ?? []).length === 0) {
    ctx.sink.at(node.offset, ERR.TYPE, `${where}: must not be empty`);
    return { list, offsets, ok: false };
  }
  let ok = true;
  for (const [s, sn] of items) {
    const sel = parseSelector(ctx, s, sn.offset, where, role);
    if (sel) {
      list.push(sel);
      offsets.push(sn.offset);
    } else ok = false;
  }
  return { list, offsets, ok };
}

/**
 * autogroup:self needs every src to be a person (user, group or autogroup:member). Legacy acls may also
 * name `*` (Tailscale accepts it there and narrows it to the destination owner's untagged devices);
 * grants may not (Tailscale rejects `*` with autogroup:self in grants).
 */
function checkSelf(ctx: RulesContext, src: Selector[], dst: Selector[], dstOffsets: number[], where: string, allowWildcard = false): void {
  const personal = src.every((s) => s.kind === 'user' || s.kind === 'group' || (s.kind === 'autogroup' && s.name === 'member') || (allowWildcard && s.kind === 'all'));
  if (personal) return;
  dst.forEach((d, i) => {
    if (d.kind === 'autogroup' && d.name === 'self') {
      ctx.sink.at(dstOffsets[i], ERR.BAD_SELF, `${where} "autogroup:self": autogroup:self can only be used with users, groups, or supported autogroups`);
    }
  });
}

/** Checks a list of `posture:x` references. */
export function parsePostureRefs(sink: DiagSink, node: JsonNode, postures: Map<string, PostureCondition[]>, where: string): string[] {
  const out: string[] = [];
  for (const [p, pn] of stringList(node, sink, where) ?? []) {
    if (!p.startsWith('posture:')) sink.at(pn.offset, ERR.UNKNOWN_POSTURE, `${where} ${JSON.stringify(p)}: expected a posture:name`);
    else if (!postures.has(p)) sink.at(pn.offset, ERR.UNKNOWN_POSTURE, `${where} ${JSON.stringify(p)}: posture is not defined in postures`);
    else if (!out.includes(p)) out.push(p);
  }
  return out;
}

const CAP_NAME_RE = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\/[^\s]+$/;

/** Parses an `app` object: capability name → array of JSON objects, passed through verbatim. */
function parseApp(ctx: RulesContext, node: JsonNode, where: string): Map<string, unknown[]> | null {
  const { sink } = ctx;
  if (!expectObject(node, sink, where)) return null;
  const out = new Map<string, unknown[]>();
  for (const e of entries(node, sink, where)) {
    const name = JSON.stringify(e.key);
    if (/^[a-z]+:\/\//i.test(e.key)) {
      sink.at(e.keyNode.offset, ERR.BAD_CAP_NAME, `${where}: capability name ${name} must be domain/path without a scheme (like example.com/cap/name)`);
      continue;
    }
    if (!CAP_NAME_RE.test(e.key)) {
      sink.at(e.keyNode.offset, ERR.BAD_CAP_NAME, `${where}: capability name ${name} must look like domain/path (like example.com/cap/name)`);
      continue;
    }
    if (e.value.type !== 'array') {
      sink.at(e.value.offset, ERR.BAD_CAP_VALUE, `${where}: capability ${name} must be an array of JSON objects`);
      continue;
    }
    let ok = true;
    for (const item of e.value.children ?? []) {
      if (item.type !== 'object') {
        sink.at(item.offset, ERR.BAD_CAP_VALUE, `${where}: capability ${name} must be an array of JSON objects, found ${item.type}`);
        ok = false;
      }
    }
    if (ok) out.set(e.key, (e.value.children ?? []).map(toValue));
  }
  return out;
}

/**
 * Tailscale's rules for a grant's `app` (issue 11): no capability names in the tailscale.com domain other
 * than Tailscale's grantable ones (known-caps.ts), and no app grants toward autogroup:internet.
 */
function checkGrantApp(ctx: RulesContext, app: Map<string, unknown[]>, node: JsonNode, dst: Selector[], where: string): void {
  for (const prop of node.children ?? []) {
    const keyNode = prop.children?.[0];
    const key = keyNode ? String(keyNode.value) : '';
    if (keyNode && app.has(key) && isForbiddenTailscaleCap(key)) {
      ctx.sink.at(keyNode.offset, ERR.BAD_CAP_NAME, `${where} app ${JSON.stringify(key)}: capability name must not be in the tailscale.com domain`);
    }
  }
  if (app.size > 0 && dst.some((d) => d.kind === 'autogroup' && d.name === 'internet')) {
    ctx.sink.at(node.offset, ERR.BAD_DST, `${where}: cannot use app grants with autogroup:internet`);
  }
}

const GRANT_KEYS = ['src', 'dst', 'ip', 'app', 'srcPosture', 'via'] as const;

export function parseGrants(ctx: RulesContext, node: JsonNode): Grant[] {
  const { sink } = ctx;
  const items = expectArray(node, sink, 'grants');
  const out: Grant[] = [];
  (items ?? []).forEach((g, index) => {
    const where = `grant ${index}`;
    if (!expectObject(g, sink, where)) return;
    const f = fields(sink, g, GRANT_KEYS, where);
    const srcE = required(sink, f, 'src', g, where);
    const dstE = required(sink, f, 'dst', g, where);
    // An empty src or dst list is accepted, as Tailscale does: the grant simply grants nothing.
    const src = srcE ? selectors(ctx, srcE.value, `${where} src`, 'src', false) : null;
    const dst = dstE ? selectors(ctx, dstE.value, `${where} dst`, 'dst', false) : null;
    if (src && dst) checkSelf(ctx, src.list, dst.list, dst.offsets, `${where} dst`);
    const ip: IpSpec[] = [];
    const ipE = f.get('ip');
    for (const [s, sn] of ipE ? (stringList(ipE.value, sink, `${where} ip`) ?? []) : []) {
      const r = parseIpEntry(s);
      if (r.ok) ip.push(r.value);
      else sink.at(sn.offset, r.code, `${where} ip: ${r.message}`);
    }
    const appE = f.get('app');
    const app = appE ? parseApp(ctx, appE.value, `${where} app`) : null;
    if (appE && app) checkGrantApp(ctx, app, appE.value, dst?.list ?? [], where);
    const ipEmpty = !ipE || (ipE.value.type === 'array' && (ipE.value.children ?? []).length === 0);
    const appEmpty = !appE || (appE.value.type === 'object' && (appE.value.children ?? []).length === 0);
    if (ipEmpty && appEmpty) sink.at(g.offset, ERR.EMPTY_GRANT, `${where}: ip and app can not both be empty`);
    const spE = f.get('srcPosture');
    const srcPosture = spE ? parsePostureRefs(sink, spE.value, ctx.postures, `${where} srcPosture`) : ctx.defaultSrcPosture;
    const via: string[] = [];
    const viaE = f.get('via');
    for (const [v, vn] of viaE ? (stringList(viaE.value, sink, `${where} via`) ?? []) : []) {
      if (!v.startsWith('tag:')) sink.at(vn.offset, ERR.BAD_VIA, `${where} via ${JSON.stringify(v)}: via can only be a tag`);
      else if (!ctx.tags.has(v)) sink.at(vn.offset, ERR.UNKNOWN_TAG, `${where} via ${JSON.stringify(v)}: tag is not defined in tagOwners`);
      else via.push(v);
    }
    const pos = sink.pos(g.offset);
    out.push({
      origin: { kind: 'grant', index, file: ctx.file, line: pos.line, col: pos.col },
      src: src?.list ?? [],
      legs: [{ dst: dst?.list ?? [], ip }],
      app: app && app.size > 0 ? app : null,
      srcPosture,
      via,
    });
  });
  return out;
}

const ACL_KEYS = ['action', 'src', 'dst', 'proto', 'srcPosture'] as const;

export function parseAcls(ctx: RulesContext, node: JsonNode): Grant[] {
  const { sink } = ctx;
  const items = expectArray(node, sink, 'acls');
  const out: Grant[] = [];
  (items ?? []).forEach((a, index) => {
    const where = `acl ${index}`;
    if (!expectObject(a, sink, where)) return;
    const f = fields(sink, a, ACL_KEYS, where);
    const actE = required(sink, f, 'action', a, where);
    const action = actE ? expectString(actE.value, sink, `${where} action`) : null;
    if (actE && action !== null && action !== 'accept') {
      sink.at(actE.value.offset, ERR.BAD_ACTION, `${where}: action ${JSON.stringify(action)} is not supported; only "accept" (policies are allow-only)`);
    }
    let protos: number[] | null = null;
    const protoE = f.get('proto');
    if (protoE) {
      const p = expectString(protoE.value, sink, `${where} proto`);
      if (p !== null) {
        const r = parseProtocol(p);
        if (r.ok) protos = r.value;
        else sink.at(protoE.value.offset, r.code, `${where} proto: ${r.message}`);
      }
    }
    const srcE = required(sink, f, 'src', a, where);
    const src = srcE ? selectors(ctx, srcE.value, `${where} src`, 'src') : null;
    const dstE = required(sink, f, 'dst', a, where);
    const legs = new Map<string, GrantLeg>();
    const dstSel: Selector[] = [];
    const dstOffsets: number[] = [];
    if (dstE && dstE.value.type === 'array' && (dstE.value.children ?? []).length === 0) sink.at(dstE.value.offset, ERR.TYPE, `${where} dst: must not be empty`);
    for (const [d, dn] of dstE ? (stringList(dstE.value, sink, `${where} dst`) ?? []) : []) {
      const split = splitAclDst(d);
      if (!split.ok) {
        sink.at(dn.offset, split.code, `${where} dst: ${split.message}`);
        continue;
      }
      const sel = parseSelector(ctx, split.value.selector, dn.offset, `${where} dst`, 'dst');
      const spec = aclIpSpec(protos, split.value.ports, d);
      if (!spec.ok) sink.at(dn.offset, spec.code, `${where} dst: ${spec.message}`);
      if (!sel || !spec.ok) continue;
      dstSel.push(sel);
      dstOffsets.push(dn.offset);
      const key = spec.value.ports.map((p) => `${p.First}-${p.Last}`).join(',');
      const leg = legs.get(key) ?? { dst: [], ip: [spec.value] };
      leg.dst.push(sel);
      legs.set(key, leg);
    }
    if (src) checkSelf(ctx, src.list, dstSel, dstOffsets, `${where} dst`, true);
    const spE = f.get('srcPosture');
    const srcPosture = spE ? parsePostureRefs(sink, spE.value, ctx.postures, `${where} srcPosture`) : ctx.defaultSrcPosture;
    const pos = sink.pos(a.offset);
    out.push({
      origin: { kind: 'acl', index, file: ctx.file, line: pos.line, col: pos.col },
      src: src?.list ?? [],
      legs: [...legs.values()],
      app: null,
      srcPosture,
      via: [],
    });
  });
  return out;
}

const SSH_KEYS = ['action', 'src', 'dst', 'users', 'checkPeriod', 'srcPosture', 'acceptEnv'] as const;

/**
 * Tailscale SSH reaches a user's device only from that same user (issue 11): a user in dst needs a src
 * of exactly that user, and tagged sources reach tags only, never autogroup:member devices. Tailscale's
 * message text.
 */
function checkSshUserDst(ctx: RulesContext, src: Selector[], dst: Selector[], dstOffsets: number[], where: string): void {
  const tagged = src.some((s) => s.kind === 'tag' || (s.kind === 'autogroup' && s.name === 'tagged'));
  dst.forEach((d, i) => {
    if (d.kind === 'user' && !src.every((s) => s.kind === 'user' && s.login === d.login)) {
      ctx.sink.at(dstOffsets[i], ERR.BAD_SSH, `${where} ${JSON.stringify(d.text)}: users in dst are only allowed from the same user`);
    } else if (tagged && d.kind === 'autogroup' && d.name === 'member') {
      ctx.sink.at(dstOffsets[i], ERR.BAD_SSH, `${where} ${JSON.stringify(d.text)}: tags in src can only reach tags in dst, not user devices`);
    }
  });
}

export function parseSsh(ctx: RulesContext, node: JsonNode): SshRule[] {
  const { sink } = ctx;
  const out: SshRule[] = [];
  (expectArray(node, sink, 'ssh') ?? []).forEach((r, index) => {
    const where = `ssh ${index}`;
    if (!expectObject(r, sink, where)) return;
    const f = fields(sink, r, SSH_KEYS, where);
    const actE = required(sink, f, 'action', r, where);
    const action = actE ? expectString(actE.value, sink, `${where} action`) : null;
    if (actE && action !== null && action !== 'accept' && action !== 'check') {
      sink.at(actE.value.offset, ERR.BAD_ACTION, `${where}: action ${JSON.stringify(action)} must be "accept" or "check"`);
    }
    const srcE = required(sink, f, 'src', r, where);
    const src = srcE ? selectors(ctx, srcE.value, `${where} src`, 'src') : null;
    const dstE = required(sink, f, 'dst', r, where);
    const dst = dstE ? selectors(ctx, dstE.value, `${where} dst`, 'dst') : null;
    if (dst) {
      dst.list.forEach((d, i) => {
        const ok = d.kind === 'tag' || d.kind === 'user' || (d.kind === 'autogroup' && (d.name === 'self' || d.name === 'member' || d.name === 'tagged'));
        if (!ok) sink.at(dst.offsets[i], ERR.BAD_SSH, `${where} dst ${JSON.stringify(d.text)}: ssh dst must be a tag, a user, autogroup:self, autogroup:member or autogroup:tagged`);
      });
      if (src) checkSelf(ctx, src.list, dst.list, dst.offsets, `${where} dst`);
      if (src) checkSshUserDst(ctx, src.list, dst.list, dst.offsets, `${where} dst`);
    }
    const usersE = required(sink, f, 'users', r, where);
    const users: string[] = [];
    for (const [u, un] of usersE ? (stringList(usersE.value, sink, `${where} users`) ?? []) : []) {
      if (u === '' || /\s/.test(u) || (u.startsWith('autogroup:') && u !== 'autogroup:nonroot')) {
        sink.at(un.offset, ERR.BAD_SSH, `${where} users ${JSON.stringify(u)}: expected a login name, "root", "autogroup:nonroot" or "localpart:*@domain"`);
      } else users.push(u);
    }
    if (usersE && usersE.value.type === 'array' && users.length === 0 && (usersE.value.children ?? []).length === 0) {
      sink.at(usersE.value.offset, ERR.BAD_SSH, `${where}: users must not be empty`);
    }
    let checkPeriodMs: number | null = null;
    const cpE = f.get('checkPeriod');
    if (cpE) {
      const cp = expectString(cpE.value, sink, `${where} checkPeriod`);
      if (cp !== null) {
        if (action !== 'check') sink.at(cpE.keyNode.offset, ERR.BAD_SSH, `${where}: checkPeriod is only valid with action "check"`);
        else if (cp === 'always') checkPeriodMs = 0;
        else {
          const ms = parseDuration(cp);
          if (ms === null || ms <= 0) sink.at(cpE.value.offset, ERR.BAD_SSH, `${where} checkPeriod ${JSON.stringify(cp)}: expected a duration like 12h or "always"`);
          else checkPeriodMs = ms;
        }
      }
    }
    const aeE = f.get('acceptEnv');
    if (aeE) stringList(aeE.value, sink, `${where} acceptEnv`);
    const spE = f.get('srcPosture');
    const srcPosture = spE ? parsePostureRefs(sink, spE.value, ctx.postures, `${where} srcPosture`) : ctx.defaultSrcPosture;
    out.push({
      pos: sink.pos(r.offset),
      action: action === 'check' ? 'check' : 'accept',
      src: src?.list ?? [],
      dst: dst?.list ?? [],
      users,
      checkPeriodMs,
      srcPosture,
    });
  });
  return out;
}

export function parseNodeAttrs(ctx: RulesContext, node: JsonNode): NodeAttr[] {
  const { sink } = ctx;
  const out: NodeAttr[] = [];
  (expectArray(node, sink, 'nodeAttrs') ?? []).forEach((r, index) => {
    const where = `nodeAttrs ${index}`;
    if (!expectObject(r, sink, where)) return;
    const f = fields(sink, r, ['target', 'attr', 'app'], where);
    const tE = required(sink, f, 'target', r, where);
    const target = tE ? selectors(ctx, tE.value, `${where} target`, 'target') : null;
    const attr: string[] = [];
    const aE = f.get('attr');
    for (const [a, an] of aE ? (stringList(aE.value, sink, `${where} attr`) ?? []) : []) {
      if (a === '' || /\s/.test(a)) sink.at(an.offset, ERR.BAD_CAP_NAME, `${where} attr ${JSON.stringify(a)}: must be a non-empty name without spaces`);
      else attr.push(a);
    }
    const appE = f.get('app');
    const app = appE ? parseApp(ctx, appE.value, `${where} app`) : null;
    if (!aE && !appE) sink.at(r.offset, ERR.TYPE, `${where}: needs "attr" or "app"`);
    out.push({ pos: sink.pos(r.offset), target: target?.list ?? [], attr, app: app && app.size > 0 ? app : null });
  });
  return out;
}

export function parseAutoApprovers(ctx: RulesContext, node: JsonNode): { routes: Map<string, Selector[]>; exitNode: Selector[] } {
  const { sink } = ctx;
  const routes = new Map<string, Selector[]>();
  let exitNode: Selector[] = [];
  if (!expectObject(node, sink, 'autoApprovers')) return { routes, exitNode };
  const f = fields(sink, node, ['routes', 'exitNode'], 'autoApprovers');
  const check = (list: Selector[], offsets: number[], where: string): Selector[] =>
    list.filter((s, i) => {
      const ok = s.kind === 'user' || s.kind === 'group' || s.kind === 'tag' || (s.kind === 'autogroup' && (s.name === 'member' || s.name === 'admin'));
      if (!ok) sink.at(offsets[i], ERR.BAD_SELECTOR, `${where} ${JSON.stringify(s.text)}: approvers must be users, groups, tags, autogroup:member or autogroup:admin`);
      return ok;
    });
  const rE = f.get('routes');
  if (rE && expectObject(rE.value, sink, 'autoApprovers routes')) {
    for (const e of entries(rE.value, sink, 'autoApprovers routes')) {
      const ok = parseCidr(sink, e.key, e.keyNode.offset, 'autoApprovers route') !== null;
      const s = selectors(ctx, e.value, `autoApprovers route ${JSON.stringify(e.key)}`, 'target', false);
      const list = check(s.list, s.offsets, `autoApprovers route ${JSON.stringify(e.key)}`);
      if (ok) routes.set(e.key, list);
    }
  }
  const xE = f.get('exitNode');
  if (xE) {
    const s = selectors(ctx, xE.value, 'autoApprovers exitNode', 'target', false);
    exitNode = check(s.list, s.offsets, 'autoApprovers exitNode');
  }
  return { routes, exitNode };
}

function singleAddress(r: RangeSet): boolean {
  const all = [...r.v4, ...r.v6];
  return all.length === 1 && all[0].start === all[0].end;
}

function testTargets(ctx: RulesContext, node: JsonNode, where: string): TestTarget[] {
  const out: TestTarget[] = [];
  for (const [t, tn] of stringList(node, ctx.sink, where) ?? []) {
    const split = splitAclDst(t);
    if (!split.ok) {
      ctx.sink.at(tn.offset, ERR.BAD_TEST, `${where} ${JSON.stringify(t)}: expected target:port, like tag:server:22`);
      continue;
    }
    const port = /^[0-9]{1,5}$/.test(split.value.ports) ? Number(split.value.ports) : NaN;
    if (!(port >= 1 && port <= 65535)) {
      ctx.sink.at(tn.offset, ERR.BAD_PORT, `${where} ${JSON.stringify(t)}: a test names exactly one port 1-65535`);
      continue;
    }
    const target = parseSelector(ctx, split.value.selector, tn.offset, where, 'target');
    if (!target) continue;
    if (target.kind === 'all' || target.kind === 'autogroup') {
      ctx.sink.at(tn.offset, ERR.BAD_TEST, `${where} ${JSON.stringify(t)}: a test target must be a user, group, tag, host or IP`);
      continue;
    }
    // Tailscale evaluates a test destination as one address: a prefix literal (even a /32) or a host
    // alias or ipset naming several addresses never passes there, in an accept or a deny list.
    if (target.kind === 'prefix' && (split.value.selector.includes('/') || !singleAddress(target.ranges))) {
      ctx.sink.at(tn.offset, ERR.TEST_FAILED, `${where} ${JSON.stringify(t)}: test(s) failed: a test destination must be a single address, not the prefix ${JSON.stringify(split.value.selector)}`);
      continue;
    }
    out.push({ text: t, pos: ctx.sink.pos(tn.offset), target, port });
  }
  return out;
}

export function parseTests(ctx: RulesContext, node: JsonNode): TestCase[] {
  const { sink } = ctx;
  const out: TestCase[] = [];
  (expectArray(node, sink, 'tests') ?? []).forEach((t, index) => {
    const where = `test ${index}`;
    if (!expectObject(t, sink, where)) return;
    const f = fields(sink, t, ['src', 'proto', 'accept', 'deny', 'srcPostureAttrs'], where);
    const srcE = required(sink, f, 'src', t, where);
    const srcText = srcE ? expectString(srcE.value, sink, `${where} src`) : null;
    let src: Selector | null = null;
    if (srcE && srcText !== null) {
      src = parseSelector(ctx, srcText, srcE.value.offset, `${where} src`, 'target');
      if (src && (src.kind === 'all' || src.kind === 'autogroup')) {
        sink.at(srcE.value.offset, ERR.BAD_TEST, `${where} src ${JSON.stringify(srcText)}: a test src must be a user, group, tag, host or IP`);
        src = null;
      }
    }
    let protos = [6];
    let protoName = 'tcp';
    const pE = f.get('proto');
    if (pE) {
      const p = expectString(pE.value, sink, `${where} proto`);
      if (p !== null) {
        const r = parseProtocol(p);
        if (r.ok) {
          protos = r.value;
          protoName = p.toLowerCase();
        } else sink.at(pE.value.offset, r.code, `${where} proto: ${r.message}`);
      }
    }
    let srcPosture: Record<string, PostureValue> | null = null;
    const spaE = f.get('srcPostureAttrs');
    if (spaE && expectObject(spaE.value, sink, `${where} srcPostureAttrs`)) {
      srcPosture = {};
      if (src && src.kind === 'prefix') sink.at(spaE.keyNode.offset, ERR.BAD_TEST, `${where}: srcPostureAttrs needs a src that is a device identity (user, group or tag), not an address`);
      for (const e of entries(spaE.value, sink, `${where} srcPostureAttrs`)) {
        if (!/^(node|custom):[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(e.key)) sink.at(e.keyNode.offset, ERR.BAD_TEST, `${where} srcPostureAttrs: attribute ${JSON.stringify(e.key)} must look like node:name or custom:name`);
        else if (e.value.type !== 'string' && e.value.type !== 'number' && e.value.type !== 'boolean') sink.at(e.value.offset, ERR.BAD_TEST, `${where} srcPostureAttrs ${e.key}: value must be a string, number or boolean`);
        else Object.defineProperty(srcPosture, e.key, { value: e.value.value as PostureValue, enumerable: true, writable: true, configurable: true });
      }
    }
    const aE = f.get('accept');
    const dE = f.get('deny');
    const accept = aE ? testTargets(ctx, aE.value, `${where} accept`) : [];
    const deny = dE ? testTargets(ctx, dE.value, `${where} deny`) : [];
    if (!aE && !dE) sink.at(t.offset, ERR.BAD_TEST, `${where}: needs "accept" or "deny"`);
    if (src && srcText !== null) out.push({ pos: sink.pos(t.offset), index, srcText, src, protos, protoName, srcPosture, accept, deny });
  });
  return out;
}
