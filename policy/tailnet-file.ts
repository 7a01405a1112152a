// parseTailnet: the tailnet file (issue 2's contract, types/tailnet.ts) validated with positions, so
// `policy check --tailnet` and `policy compile` point at the bad line instead of compiling nonsense.
import type { Diagnostic } from '../types/errors.js';
import { hasHostBits, parseIP, parsePrefix, formatIP } from '../types/ip.js';
import type { PostureValue, Tailnet, TailnetNode, TailnetUser } from '../types/tailnet.js';
import { DiagSink, ERR, sortDiagnostics } from './diagnostics.js';
import { entries, expectArray, expectObject, expectString, parseHuJSON, stringList, toValue, type JsonNode } from './hujson.js';

function obj(sink: DiagSink, node: JsonNode, allowed: string[], where: string): Map<string, JsonNode> {
  const out = new Map<string, JsonNode>();
  for (const e of entries(node, sink, where)) {
    if (!allowed.includes(e.key)) sink.at(e.keyNode.offset, ERR.BAD_TAILNET, `${where}: unknown key ${JSON.stringify(e.key)} (known: ${allowed.join(', ')})`);
    else out.set(e.key, e.value);
  }
  return out;
}

function bad(sink: DiagSink, node: JsonNode, message: string): void {
  sink.at(node.offset, ERR.BAD_TAILNET, message);
}

/** Parses and validates a tailnet file; `tailnet` is null iff there is any error. Never throws on input. */
export function parseTailnet(text: string, file: string): { tailnet: Tailnet | null; diagnostics: Diagnostic[] } {
  const sink = new DiagSink(file, typeof text === 'string' ? text : '');
  try {
    const tailnet = parseInner(typeof text === 'string' ? text : '', sink);
    const diagnostics = sortDiagnostics(sink.diagnostics);
    return { tailnet: diagnostics.length === 0 ? tailnet : null, diagnostics };
  } catch (err) {
    sink.at(0, ERR.BAD_TAILNET, `internal error while reading the tailnet: ${(err as Error).message}`);
    return { tailnet: null, diagnostics: sortDiagnostics(sink.diagnostics) };
  }
}

function parseInner(text: string, sink: DiagSink): Tailnet | null {
  const root = parseHuJSON(text, sink);
  if (!root || !expectObject(root, sink, 'tailnet')) return null;
  const top = obj(sink, root, ['users', 'nodes'], 'tailnet');
  const users: TailnetUser[] = [];
  const logins = new Set<string>();
  const usersNode = top.get('users');
  for (const u of usersNode ? (expectArray(usersNode, sink, 'users') ?? []) : []) {
    if (!expectObject(u, sink, 'user')) continue;
    const f = obj(sink, u, ['login', 'name', 'role'], 'user');
    const loginNode = f.get('login');
    if (!loginNode) {
      bad(sink, u, 'user: missing "login"');
      continue;
    }
    const login = expectString(loginNode, sink, 'user login');
    if (login === null) continue;
    if (!login.includes('@') || login.includes(':')) bad(sink, loginNode, `user login ${JSON.stringify(login)}: expected a login like alice@example.com`);
    if (logins.has(login)) bad(sink, loginNode, `user login ${JSON.stringify(login)}: duplicate user`);
    logins.add(login);
    const user: TailnetUser = { login };
    const nameNode = f.get('name');
    if (nameNode) {
      const name = expectString(nameNode, sink, 'user name');
      if (name !== null) user.name = name;
    }
    const roleNode = f.get('role');
    if (roleNode) {
      const role = expectString(roleNode, sink, 'user role');
      if (role !== null && role !== 'admin' && role !== 'member') bad(sink, roleNode, `user role ${JSON.stringify(role)}: expected "admin" or "member"`);
      else if (role !== null) user.role = role;
    }
    users.push(user);
  }
  const nodes: TailnetNode[] = [];
  const names = new Set<string>();
  const ips = new Set<string>();
  const nodesNode = top.get('nodes');
  for (const n of nodesNode ? (expectArray(nodesNode, sink, 'nodes') ?? []) : []) {
    if (!expectObject(n, sink, 'node')) continue;
    const f = obj(sink, n, ['name', 'user', 'tags', 'ips', 'posture', 'postureExpiry', 'routes'], 'node');
    const nameNode = f.get('name');
    const name = nameNode ? expectString(nameNode, sink, 'node name') : null;
    if (!nameNode) bad(sink, n, 'node: missing "name"');
    if (name === null || !nameNode) continue;
    if (name === '' || /\s/.test(name)) bad(sink, nameNode, `node name ${JSON.stringify(name)}: must be non-empty without spaces`);
    if (names.has(name)) bad(sink, nameNode, `node name ${JSON.stringify(name)}: duplicate node`);
    names.add(name);
    const where = `node ${JSON.stringify(name)}`;
    const node: TailnetNode = { name, tags: [], ips: [] };
    const userNode = f.get('user');
    if (userNode) {
      const user = expectString(userNode, sink, `${where} user`);
      if (user !== null && !logins.has(user)) bad(sink, userNode, `${where}: user ${JSON.stringify(user)} is not in users`);
      if (user !== null) node.user = user;
    }
    const tagsNode = f.get('tags');
    const tagList = tagsNode ? (stringList(tagsNode, sink, `${where} tags`) ?? []) : [];
    for (const [t, tn] of tagList) {
      if (!/^tag:[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(t)) bad(sink, tn, `${where}: tag ${JSON.stringify(t)} must look like tag:name`);
      else if (!node.tags.includes(t)) node.tags.push(t);
    }
    if (!node.user && tagList.length === 0) bad(sink, n, `${where}: needs a "user" or at least one tag`);
    const ipsNode = f.get('ips');
    if (!ipsNode) bad(sink, n, `${where}: missing "ips"`);
    for (const [ip, ipn] of ipsNode ? (stringList(ipsNode, sink, `${where} ips`) ?? []) : []) {
      const p = parseIP(ip);
      if (!p) {
        bad(sink, ipn, `${where}: ${JSON.stringify(ip)} is not an IP address`);
        continue;
      }
      const canon = formatIP(p.bytes);
      if (ips.has(canon)) bad(sink, ipn, `${where}: address ${canon} is already used by another node`);
      ips.add(canon);
      node.ips.push(ip);
    }
    const postureNode = f.get('posture');
    if (postureNode && expectObject(postureNode, sink, `${where} posture`)) {
      const posture: Record<string, PostureValue> = {};
      for (const e of entries(postureNode, sink, `${where} posture`)) {
        if (!/^(node|custom):[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(e.key)) bad(sink, e.keyNode, `${where} posture: attribute ${JSON.stringify(e.key)} must look like node:name or custom:name`);
        else if (e.value.type !== 'string' && e.value.type !== 'number' && e.value.type !== 'boolean') bad(sink, e.value, `${where} posture ${e.key}: value must be a string, number or boolean`);
        else Object.defineProperty(posture, e.key, { value: toValue(e.value) as PostureValue, enumerable: true, writable: true, configurable: true });
      }
      node.posture = posture;
    }
    const expNode = f.get('postureExpiry');
    if (expNode && expectObject(expNode, sink, `${where} postureExpiry`)) {
      const exp: Record<string, number> = {};
      for (const e of entries(expNode, sink, `${where} postureExpiry`)) {
        if (e.value.type !== 'number' || !Number.isFinite(e.value.value as number)) bad(sink, e.value, `${where} postureExpiry ${e.key}: expected a time in ms since the epoch`);
        else Object.defineProperty(exp, e.key, { value: e.value.value as number, enumerable: true, writable: true, configurable: true });
      }
      node.postureExpiry = exp;
    }
    const routesNode = f.get('routes');
    if (routesNode) {
      node.routes = [];
      for (const [r, rn] of stringList(routesNode, sink, `${where} routes`) ?? []) {
        const p = parsePrefix(r);
        if (!p || !r.includes('/')) bad(sink, rn, `${where}: route ${JSON.stringify(r)} is not a CIDR`);
        else if (hasHostBits(p)) bad(sink, rn, `${where}: route ${JSON.stringify(r)} has host bits set`);
        else node.routes.push(r);
      }
    }
    nodes.push(node);
  }
  return { users, nodes };
}
