// Primary router election: one primary per subnet route, sticky while online, the lowest online id takes
// over, exit routes never elected; update() names exactly the nodes whose primary routes changed.
import { describe, expect, it } from 'vitest';
import { PrimaryRoutes, type RouterState } from './route-primary.js';

const LAN = '203.0.113.0/24';
const r = (id: number, online: boolean, routes: string[] = [LAN]): RouterState => ({ id, online, routes });

describe('PrimaryRoutes', () => {
  it.each([
    { name: 'one router', steps: [[r(1, true)]], want: { 1: [LAN] }, changed: [1] },
    { name: 'lowest online id first', steps: [[r(3, true), r(2, true)]], want: { 2: [LAN], 3: [] }, changed: [2] },
    { name: 'sticky: a lower id coming online does not steal', steps: [[r(5, true)], [r(1, true), r(5, true)]], want: { 1: [], 5: [LAN] }, changed: [] },
    { name: 'failover when the primary goes offline', steps: [[r(1, true), r(2, true)], [r(1, false), r(2, true)]], want: { 1: [], 2: [LAN] }, changed: [1, 2] },
    { name: 'no router online: the last primary keeps it', steps: [[r(1, true), r(2, false)], [r(1, false), r(2, false)]], want: { 1: [LAN], 2: [] }, changed: [] },
    { name: 'offline primary, nobody else: kept; a router coming online takes over', steps: [[r(1, true), r(2, false)], [r(1, false), r(2, true)]], want: { 1: [], 2: [LAN] }, changed: [1, 2] },
    { name: 'route withdrawn from the primary', steps: [[r(1, true), r(2, true)], [r(1, true, []), r(2, true)]], want: { 1: [], 2: [LAN] }, changed: [1, 2] },
    { name: 'exit routes are not elected', steps: [[r(1, true, ['0.0.0.0/0', '::/0']), r(2, true, ['0.0.0.0/0', '::/0'])]], want: { 1: [], 2: [] }, changed: [] },
    {
      name: 'different routes, different primaries',
      steps: [[r(1, true, [LAN, '10.0.0.0/8']), r(2, true, ['10.0.0.0/8', '2001:db8::/32'])], [r(1, false, [LAN, '10.0.0.0/8']), r(2, true, ['10.0.0.0/8', '2001:db8::/32'])]],
      want: { 1: [LAN], 2: ['10.0.0.0/8', '2001:db8::/32'] },
      changed: [1, 2],
    },
  ])('$name', ({ steps, want, changed }) => {
    const p = new PrimaryRoutes();
    let last: number[] = [];
    for (const s of steps) last = p.update(s);
    for (const [id, routes] of Object.entries(want)) expect(p.routesOf(Number(id))).toEqual(routes);
    expect(last).toEqual(changed);
  });

  it('snapshot names the primary of each route', () => {
    const p = new PrimaryRoutes();
    p.update([r(4, true, [LAN, '10.0.0.0/8']), r(2, true, ['10.0.0.0/8'])]);
    expect(p.snapshot()).toEqual({ '10.0.0.0/8': 2, [LAN]: 4 });
    expect(p.primaryOf(LAN)).toBe(4);
  });
});
