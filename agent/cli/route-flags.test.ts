// The route flags of `agent up` / `agent set`: what each sets, how the subnet and exit parts of the
// advertised routes combine with what the node already advertises, and the usage errors.
import { describe, expect, it } from 'vitest';
import { normalizeBoolFlags, routePrefsFromFlags, type RouteFlagValues } from './route-flags.js';

describe('route flags', () => {
  it.each<{ name: string; v: RouteFlagValues; current?: string[]; want: object }>([
    { name: 'subnets', v: { 'advertise-routes': '203.0.113.0/24, 10.0.0.0/8' }, want: { AdvertiseRoutes: ['10.0.0.0/8', '203.0.113.0/24'] } },
    { name: 'exit node', v: { 'advertise-exit-node': 'true' }, want: { AdvertiseRoutes: ['0.0.0.0/0', '::/0'] } },
    { name: 'exit node keeps current subnets', v: { 'advertise-exit-node': 'true' }, current: ['10.0.0.0/8'], want: { AdvertiseRoutes: ['0.0.0.0/0', '10.0.0.0/8', '::/0'] } },
    { name: 'subnets keep a current exit node', v: { 'advertise-routes': '192.0.2.0/24' }, current: ['0.0.0.0/0', '::/0'], want: { AdvertiseRoutes: ['0.0.0.0/0', '192.0.2.0/24', '::/0'] } },
    { name: 'stop advertising everything', v: { 'advertise-routes': '', 'advertise-exit-node': 'false' }, current: ['0.0.0.0/0', '10.0.0.0/8', '::/0'], want: { AdvertiseRoutes: [] } },
    { name: 'client flags', v: { 'accept-routes': 'true', 'exit-node': ' exit ', 'exit-node-allow-lan-access': 'false', 'snat-subnet-routes': 'false' }, want: { RouteAll: true, ExitNode: 'exit', ExitNodeAllowLANAccess: false, NoSNAT: true } },
    { name: 'clear the exit node', v: { 'exit-node': '' }, want: { ExitNode: '' } },
  ])('$name', ({ v, current, want }) => {
    expect(routePrefsFromFlags(v, current ?? [])).toEqual(want);
  });

  it.each([
    { v: { 'advertise-routes': '10.0.0.1/8' }, err: /host bits set/ },
    { v: { 'advertise-routes': '100.64.0.0/24' }, err: /overlaps the tailnet range/ },
    { v: { 'advertise-routes': '0.0.0.0/0' }, err: /use --advertise-exit-node/ },
    { v: { 'accept-routes': 'yes' }, err: /--accept-routes must be true or false/ },
  ])('refuses $v', ({ v, err }) => {
    expect(() => routePrefsFromFlags(v as RouteFlagValues, [])).toThrow(err);
  });

  it('a bare boolean flag means =true; other arguments are left alone', () => {
    expect(normalizeBoolFlags(['--accept-routes', '--exit-node', 'x', '--advertise-exit-node=false', '--snat-subnet-routes'])).toEqual([
      '--accept-routes=true',
      '--exit-node',
      'x',
      '--advertise-exit-node=false',
      '--snat-subnet-routes=true',
    ]);
  });
});
