// A seeded synthetic tailnet + policy for the benchmark and the large-scale property tests: users with
// groups, tagged servers, grants mixing identities, autogroups, hosts, postures and app capabilities.
// Deterministic for a given seed (types/seeded-rng.ts), so figures and failures reproduce.
import type { Tailnet, TailnetNode } from '../../types/tailnet.js';
import { seededRng } from '../../types/seeded-rng.js';

export interface WorkloadSize {
  nodes: number;
  users: number;
  tags: number;
  grants: number;
  groups?: number;
}

/** The tree's one seeded PRNG, under the name policy's tests import from here. */
export const rng = seededRng;

function v4(i: number): string {
  const n = 0x64400000 + 1 + i; // 100.64.0.1 upward
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function v6(i: number): string {
  const n = 1 + i;
  return `fd7a:115c:a1e0::${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
}

export function workload(size: WorkloadSize, seed = 1): { policyText: string; tailnet: Tailnet } {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const users = Array.from({ length: size.users }, (_, i) => `user${i}@example.com`);
  const tags = Array.from({ length: size.tags }, (_, i) => `tag:t${i}`);
  const groupCount = size.groups ?? Math.max(1, Math.floor(size.users / 10));
  const groups: Record<string, string[]> = {};
  for (let g = 0; g < groupCount; g++) {
    const members = new Set<string>();
    const n = 5 + Math.floor(r() * 20);
    for (let k = 0; k < n; k++) members.add(pick(users));
    groups[`group:g${g}`] = [...members];
  }
  const tagOwners: Record<string, string[]> = {};
  for (const t of tags) tagOwners[t] = [pick(Object.keys(groups))];
  const hosts: Record<string, string> = { 'corp-net': '10.0.0.0/16', 'db-net': '10.1.0.0/24', 'jump': v4(7) };
  const nodes: TailnetNode[] = [];
  for (let i = 0; i < size.nodes; i++) {
    const tagged = r() < 0.3;
    const node: TailnetNode = {
      name: `node-${i}`,
      user: pick(users),
      tags: tagged ? [pick(tags)] : [],
      ips: [v4(i), v6(i)],
      posture: { 'node:os': pick(['linux', 'macos', 'windows']), 'node:tsVersion': pick(['1.38.0', '1.40.2', '1.62.1']) },
    };
    if (r() < 0.05) node.posture!['custom:jit'] = true;
    if (i % 1000 === 0) node.routes = [`10.${i / 1000}.0.0/16`];
    nodes.push(node);
  }
  const srcChoices = (): string[] => {
    const x = r();
    if (x < 0.35) return [pick(Object.keys(groups))];
    if (x < 0.55) return [pick(users), pick(users)];
    if (x < 0.8) return [pick(tags)];
    if (x < 0.9) return ['autogroup:member'];
    if (x < 0.95) return [pick(Object.keys(groups)), pick(tags)];
    return ['*'];
  };
  const dstChoices = (src: string[]): string[] => {
    const x = r();
    if (x < 0.6) return [pick(tags)];
    if (x < 0.75) return [pick(tags), pick(tags)];
    if (x < 0.85) return [pick(users)];
    if (x < 0.9 && src.every((s) => s.startsWith('group:') || s.includes('@') || s === 'autogroup:member')) return ['autogroup:self'];
    if (x < 0.95) return [pick(['corp-net', 'db-net', 'jump'])];
    return [pick(Object.keys(groups))];
  };
  const grants: unknown[] = [];
  for (let g = 0; g < size.grants; g++) {
    const src = srcChoices();
    const grant: Record<string, unknown> = { src, dst: dstChoices(src) };
    const y = r();
    grant.ip = y < 0.3 ? ['tcp:22'] : y < 0.5 ? ['tcp:443', 'udp:53'] : y < 0.6 ? ['*'] : y < 0.8 ? [`tcp:${1000 + Math.floor(r() * 1000)}-${2000 + Math.floor(r() * 1000)}`] : ['80', 'icmp:*'];
    if (r() < 0.15) grant.app = { 'example.com/cap/app': [{ role: pick(['reader', 'writer']) }] };
    if (r() < 0.05) grant.srcPosture = ['posture:jit'];
    grants.push(grant);
  }
  const policy = {
    groups,
    tagOwners,
    hosts,
    postures: { 'posture:jit': ['custom:jit == true'], 'posture:linux': ["node:os == 'linux'", "node:tsVersion >= '1.40'"] },
    grants,
    nodeAttrs: [{ target: ['autogroup:member'], attr: ['funnel'] }],
  };
  return { policyText: JSON.stringify(policy, null, 1), tailnet: { users: users.map((login, i) => ({ login, role: i % 50 === 0 ? 'admin' : 'member' })), nodes } };
}
