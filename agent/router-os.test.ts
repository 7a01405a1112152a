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

describe('exit node LAN block', () => {
  it('rejects new traffic to connected networks except peers’ endpoints and control; link-local untouched', async () => {
    const { lanBlockScript } = await import('./exit-lan-block.js');
    const s = lanBlockScript({ block: true, lans: ['192.0.2.0/24', 'fe80::/64', '2001:db8:1::/64'], exempt: ['http://192.0.2.1:8080', '192.0.2.11:41641', '[2001:db8:1::5]:41641', 'https://control.example:443'] });
    expect(s).toContain('ct state established,related accept');
    expect(s).toContain('ip daddr { 192.0.2.1, 192.0.2.11 } accept');
    expect(s).toContain('ip daddr { 192.0.2.0/24 } reject with icmpx type admin-prohibited');
    expect(s).toContain('ip6 daddr { 2001:db8:1::5 } accept');
    expect(s).toContain('ip6 daddr { 2001:db8:1::/64 } reject');
    expect(s).not.toContain('fe80');
    expect(lanBlockScript({ block: false, lans: ['192.0.2.0/24'], exempt: [] })).not.toContain('reject');
  });

  it('installs once, removes when lifted, never touches nft when it was never on', () => {
    const { host, calls } = fakeHost();
    const os = new RouterOs(host);
    os.applyLanBlock({ block: false, lans: ['192.0.2.0/24'], exempt: [] });
    expect(calls).toEqual([]);
    os.applyLanBlock({ block: true, lans: ['192.0.2.0/24'], exempt: [] });
    os.applyLanBlock({ block: true, lans: ['192.0.2.0/24'], exempt: [] });
    os.applyLanBlock({ block: false, lans: [], exempt: [] });
    expect(calls).toEqual(['nft:flush', 'nft:flush']);
  });
});
