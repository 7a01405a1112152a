// The router's host configuration as commands: forwarding switched on once, the nft table installed,
// replaced or removed as a whole, nothing re-run for the same wish, and failures logged, not thrown.
import { describe, expect, it } from 'vitest';
import { nftScript, RouterOs, type RouterHost } from './router-os.js';

function fakeHost(failNft = false) {
  const calls: string[] = [];
  const host: RouterHost = {
    nft(script) {
      calls.push(`nft:${script.includes('masquerade') ? 'masquerade' : 'flush'}`);
      if (failNft) throw new Error('nft: command not found');
    },
    setSysctl(path, value) {
      calls.push(`sysctl:${path}=${value}`);
    },
  };
  return { host, calls };
}

describe('RouterOs', () => {
  it('nftScript masquerades tailnet sources leaving through other interfaces, and only then', () => {
    const on = nftScript({ serving: true, masquerade: true, tun: 'gw0' });
    expect(on).toContain('type nat hook postrouting priority srcnat');
    expect(on).toContain('ip saddr 100.64.0.0/10 oifname != "gw0" masquerade');
    expect(on).toContain('ip6 saddr fd7a:115c:a1e0::/48 oifname != "gw0" masquerade');
    expect(on.startsWith('add table inet grantwire_routes\ndelete table inet grantwire_routes\n')).toBe(true);
    expect(nftScript({ serving: true, masquerade: false, tun: 'gw0' })).not.toContain('masquerade');
    expect(nftScript({ serving: false, masquerade: true, tun: 'gw0' })).not.toContain('masquerade');
  });

  it.each([
    { name: 'serving with SNAT', wishes: [{ serving: true, masquerade: true }], want: ['sysctl:/proc/sys/net/ipv4/ip_forward=1', 'sysctl:/proc/sys/net/ipv6/conf/all/forwarding=1', 'nft:masquerade'] },
    { name: 'same wish twice runs once', wishes: [{ serving: true, masquerade: true }, { serving: true, masquerade: true }], want: ['sysctl:/proc/sys/net/ipv4/ip_forward=1', 'sysctl:/proc/sys/net/ipv6/conf/all/forwarding=1', 'nft:masquerade'] },
    { name: '--snat-subnet-routes=false', wishes: [{ serving: true, masquerade: false }], want: ['sysctl:/proc/sys/net/ipv4/ip_forward=1', 'sysctl:/proc/sys/net/ipv6/conf/all/forwarding=1', 'nft:flush'] },
    { name: 'a client never touches forwarding', wishes: [{ serving: false, masquerade: true }], want: ['nft:flush'] },
    { name: 'stops serving: table removed, forwarding left on', wishes: [{ serving: true, masquerade: true }, { serving: false, masquerade: true }], want: ['sysctl:/proc/sys/net/ipv4/ip_forward=1', 'sysctl:/proc/sys/net/ipv6/conf/all/forwarding=1', 'nft:masquerade', 'nft:flush'] },
  ])('$name', ({ wishes, want }) => {
    const { host, calls } = fakeHost();
    const os = new RouterOs(host);
    for (const w of wishes) os.apply({ ...w, tun: 'gw0' });
    expect(calls).toEqual(want);
  });

  it('a failing nft is logged and retried with the next netmap, never thrown', () => {
    const { host, calls } = fakeHost(true);
    const logs: string[] = [];
    const os = new RouterOs(host, (m) => logs.push(m));
    os.apply({ serving: true, masquerade: true, tun: 'gw0' });
    os.apply({ serving: true, masquerade: true, tun: 'gw0' });
    expect(calls.filter((c) => c.startsWith('nft'))).toHaveLength(2);
    expect(logs[0]).toMatch(/nft failed .*not installed.*command not found/);
  });
});
