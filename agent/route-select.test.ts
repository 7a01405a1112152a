// What a node does with the routes in a netmap, by its prefs: subnet routes only with --accept-routes,
// exit routes only on the chosen exit node (found by name or IP), the OS routes that follow, and the
// fail-closed cases. The result is then fed to the sanitizer, which must not refuse it.
import { describe, expect, it } from 'vitest';
import { syntheticNetmap } from '../localapi/fake-backend.js';
import type { RoutePrefs } from '../localapi/route-prefs.js';
import type { Netmap } from '../types/netmap.js';
import { sanitizeNetmap } from './netmap-sanitize.js';
import { EXIT_ROUTE_HALVES, osRoutesOf, selectRoutes } from './route-select.js';

const LAN = '203.0.113.0/24';
const EXIT = ['0.0.0.0/0', '::/0'];

/** Self 1; peer 2 routes the LAN, peers 3 and 4 are exit nodes. */
function netmap(): Netmap {
  const nm = syntheticNetmap(3);
  const [r, e1, e2] = nm.peers;
  r.routes = [LAN];
  r.allowedIPs.push(LAN);
  for (const e of [e1, e2]) {
    e.routes = [...EXIT];
    e.allowedIPs.push(...EXIT);
  }
  return nm;
}

const extra = (nm: Netmap, id: number) => nm.peers.find((p) => p.id === id)!.allowedIPs.filter((a) => !a.startsWith('100.') && !a.startsWith('fd7a:'));

describe('selectRoutes', () => {
  it.each<{ name: string; prefs: RoutePrefs; want: Record<number, string[]>; os: string[]; exit: number | null; problem?: RegExp }>([
    { name: 'defaults: no subnet routes, no exit routes', prefs: {}, want: { 2: [], 3: [], 4: [] }, os: [], exit: null },
    { name: 'accept-routes', prefs: { RouteAll: true }, want: { 2: [LAN], 3: [], 4: [] }, os: [LAN], exit: null },
    { name: 'exit node by name', prefs: { ExitNode: 'node-4' }, want: { 2: [], 3: [], 4: EXIT }, os: [...EXIT_ROUTE_HALVES].sort(), exit: 4 },
    { name: 'exit node by FQDN', prefs: { ExitNode: 'node-3.example.grantwire.' }, want: { 3: EXIT, 4: [] }, os: [...EXIT_ROUTE_HALVES].sort(), exit: 3 },
    { name: 'exit node by IP, with routes', prefs: { ExitNode: '100.64.0.3', RouteAll: true }, want: { 2: [LAN], 3: EXIT, 4: [] }, os: [...EXIT_ROUTE_HALVES, LAN].sort(), exit: 3 },
    { name: 'unknown exit node: fail closed', prefs: { ExitNode: 'nope' }, want: { 3: [], 4: [] }, os: [...EXIT_ROUTE_HALVES].sort(), exit: null, problem: /not a peer/ },
    { name: 'a peer that is no exit node: fail closed', prefs: { ExitNode: 'node-2' }, want: { 2: [] }, os: [...EXIT_ROUTE_HALVES].sort(), exit: 2, problem: /not an approved exit node/ },
  ])('$name', ({ prefs, want, os, exit, problem }) => {
    const sel = selectRoutes(netmap(), prefs);
    const { netmap: clean, rejections } = sanitizeNetmap(sel.netmap);
    expect(rejections).toEqual([]);
    for (const [id, routes] of Object.entries(want)) expect(extra(clean, Number(id))).toEqual(routes);
    expect(osRoutesOf(clean, prefs)).toEqual(os);
    expect(sel.exitNode?.id ?? null).toBe(exit);
    if (problem) expect(sel.problem).toMatch(problem);
    else expect(sel.problem).toBeNull();
  });

  it('without selection two exit nodes claim 0.0.0.0/0 and the sanitizer refuses both (why selection comes first)', () => {
    const { rejections } = sanitizeNetmap(netmap());
    expect(rejections.filter((r) => r.reason === 'duplicate_address').map((r) => r.value)).toEqual(['0.0.0.0/0', '::/0', '0.0.0.0/0', '::/0']);
  });
});
