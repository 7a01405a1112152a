// The state machine with a fake control and a fake data plane: login outcomes, resume after restart,
// down/up, logout, and what whois/status/watch see.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { syntheticNetmap } from '../localapi/fake-backend.js';
import { LocalApiFailure, type ExplainQuery, type WatchEvent } from '../localapi/types.js';
import type { Netmap } from '../types/netmap.js';
import { AgentBackend, type ControlSession, type Dataplane } from './backend.js';
import { StateStore } from './state-store.js';

const root = mkdtempSync(join(tmpdir(), 'gw-agent-backend-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

class FakeControl {
  registered: { authKey: string; requestTags: string[]; hostname: string }[] = [];
  streams = 0;
  logouts = 0;
  refuse: string | null = null;
  netmap: Netmap = syntheticNetmap(2);
  push: ((nm: Netmap) => void) | null = null;
  pins: (string | null)[] = [];
  session(pinned: string | null = null): ControlSession {
    this.pins.push(pinned);
    return {
      register: async (req) => {
        if (this.refuse) throw Object.assign(new Error(this.refuse), { refused: true });
        this.registered.push({ authKey: req.authKey, requestTags: req.requestTags, hostname: req.hostname });
        return { nodeId: 1, controlKey: 'cd'.repeat(32) };
      },
      streamMap: (_req, onNetmap, signal) => {
        this.streams++;
        this.push = onNetmap;
        setTimeout(() => onNetmap(this.netmap), 5);
        return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      },
      logout: async () => {
        this.logouts++;
      },
    };
  }
}

class FakeDataplane implements Dataplane {
  applied = 0;
  cleared = 0;
  shields: boolean[] = [];
  setShieldsUp(on: boolean) {
    this.shields.push(on);
  }
  capsFor = () => null;
  last: Netmap | null = null;
  apply(nm: Netmap) {
    this.applied++;
    this.last = nm;
  }
  clear() {
    this.cleared++;
  }
  explain(q: ExplainQuery) {
    return { Query: q, Verdict: 'drop' as const, Reason: 'no_rule', Detail: null };
  }
  pingVia = { endpoint: '', relay: '' };
  async ping() {
    return { rttMs: 1.5, ...this.pingVia };
  }
  netChange: (() => void) | null = null;
  onNetworkChange(fn: () => void) {
    this.netChange = fn;
  }
  epChange: (() => void) | null = null;
  onEndpointsChange(fn: () => void) {
    this.epChange = fn;
  }
  peerStats() {
    return new Map();
  }
  metricFamilies() {
    return [];
  }
  endpoints() {
    return ['198.51.100.1:41641'];
  }
}

function make(dir: string, control: FakeControl, dp = new FakeDataplane()) {
  const b = new AgentBackend({ store: new StateStore(join(root, dir)), control: (_url, pinned) => control.session(pinned), dataplane: dp, defaultHostname: 'host-a' });
  return { b, dp };
}

describe('AgentBackend', () => {
  it('fresh node needs login; up without a key is refused with a hint', async () => {
    const { b } = make('a', new FakeControl());
    await b.start();
    expect(b.status({ peers: true }).BackendState).toBe('NeedsLogin');
    await expect(b.up({ ControlURL: 'http://c' })).rejects.toMatchObject({ code: 'ERR_LOCALAPI_FAILURE', wireCode: 'needs_login' });
    await expect(b.up({})).rejects.toThrow(/--login-server/);
  });

  it("a refused login carries control's reason and leaves the node logged out", async () => {
    const c = new FakeControl();
    c.refuse = 'requested tags [tag:x] are invalid or not permitted';
    const { b } = make('b', c);
    await b.start();
    const err = await b.up({ ControlURL: 'http://c', AuthKey: 'k', AdvertiseTags: ['tag:x'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalApiFailure);
    expect(err).toMatchObject({ status: 400, code: 'ERR_LOCALAPI_FAILURE', wireCode: 'login_failed', message: 'requested tags [tag:x] are invalid or not permitted' });
    expect(b.backendState()).toBe('NeedsLogin');
  });

  it('up → Running with peers; restart resumes without a new login; down/up; logout', async () => {
    const c = new FakeControl();
    const { b, dp } = make('c', c);
    await b.start();
    const events: WatchEvent[] = [];
    b.watch((e) => events.push(e));
    const st = await b.up({ ControlURL: 'http://c', AuthKey: 'k1', AdvertiseTags: ['tag:prod-server'] });
    expect(st.BackendState).toBe('Running');
    expect(Object.keys(st.Peer ?? {})).toHaveLength(2);
    expect(c.registered).toEqual([{ authKey: 'k1', requestTags: ['tag:prod-server'], hostname: 'host-a' }]);
    expect(dp.applied).toBe(1);
    expect(b.whois({ kind: 'ip', ip: '100.64.0.2', port: null })?.Node.ID).toBe(2);
    expect(events.map((e) => e.Type)).toEqual(['state', 'state', 'netmap', 'peer', 'peer']);

    // A peer leaves: whois forgets it and watchers hear about it.
    const nm2 = syntheticNetmap(1);
    c.push!(nm2);
    expect(b.whois({ kind: 'ip', ip: '100.64.0.3', port: null })).toBeNull();
    expect(events.at(-1)).toMatchObject({ Type: 'peer-removed', HostName: 'node-3' });
    await b.stop();

    // Restart with the same state dir: no register, the stream resumes.
    const c2 = new FakeControl();
    const r = make('c', c2);
    await r.b.start();
    expect(r.b.backendState()).toBe('Starting');
    await new Promise((res) => setTimeout(res, 20));
    expect(r.b.backendState()).toBe('Running');
    expect(c2.registered).toEqual([]);
    // Trust on first use: the resumed session accepts only the control key learnt at login.
    expect(c2.pins).toEqual(['cd'.repeat(32)]);
    expect(r.b.getPrefs()).toMatchObject({ ControlURL: 'http://c', AdvertiseTags: ['tag:prod-server'], WantRunning: true, LoggedOut: false });

    await r.b.down();
    expect(r.b.backendState()).toBe('Stopped');
    expect(r.b.whois({ kind: 'ip', ip: '100.64.0.2', port: null })).toBeNull();
    expect(r.b.getPrefs().WantRunning).toBe(false);
    expect((await r.b.up({})).BackendState).toBe('Running');
    expect(c2.registered).toEqual([]);

    await r.b.logout();
    expect(c2.logouts).toBe(1);
    expect(r.b.backendState()).toBe('NeedsLogin');
    await expect(r.b.up({})).rejects.toMatchObject({ code: 'ERR_LOCALAPI_FAILURE', wireCode: 'needs_login' });
    await r.b.stop();
  });

  it('a refused re-login leaves a running node running', async () => {
    const c = new FakeControl();
    const { b, dp } = make('i', c);
    await b.start();
    await b.up({ ControlURL: 'http://c', AuthKey: 'k' });
    c.refuse = 'requested tags [tag:x] are invalid or not permitted';
    dp.cleared = 0;
    await expect(b.up({ AuthKey: 'k2', AdvertiseTags: ['tag:x'] })).rejects.toMatchObject({ code: 'ERR_LOCALAPI_FAILURE', wireCode: 'login_failed' });
    expect(b.backendState()).toBe('Running');
    expect(b.whois({ kind: 'ip', ip: '100.64.0.2', port: null })).not.toBeNull();
    expect(dp.cleared).toBe(0);
    await b.stop();
  });

  it('up times out when control never sends a netmap', async () => {
    const c = new FakeControl();
    const { b } = make('d', c);
    c.session = () => ({
      register: async () => ({ nodeId: 1 }),
      streamMap: (_r, _on, signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve())),
      logout: async () => undefined,
    });
    await b.start();
    await expect(b.up({ ControlURL: 'http://c', AuthKey: 'k', TimeoutMs: 50 })).rejects.toMatchObject({ code: 'ERR_LOCALAPI_FAILURE', wireCode: 'timeout' });
    await b.stop();
  });

  it('logout rotates the node key (the next login is a new node)', async () => {
    const c = new FakeControl();
    let rotated = 0;
    const b = new AgentBackend({ store: new StateStore(join(root, 'f')), control: () => c.session(), dataplane: new FakeDataplane(), rotateNodeKey: async () => void rotated++ });
    await b.start();
    await b.up({ ControlURL: 'http://c', AuthKey: 'k' });
    await b.logout();
    expect(rotated).toBe(1);
    expect(c.logouts).toBe(1);
    await b.stop();
  });

  it('reports changed local endpoints to control while streaming', async () => {
    const c = new FakeControl();
    const reported: string[][] = [];
    const dp = new FakeDataplane();
    let eps = ['198.51.100.1:41641'];
    dp.endpoints = () => eps;
    const b = new AgentBackend({
      store: new StateStore(join(root, 'g')),
      control: () => ({ ...c.session(), updateEndpoints: (e: string[]) => void reported.push(e) }),
      dataplane: dp,
      endpointRefreshMs: 10,
    });
    await b.start();
    await b.up({ ControlURL: 'http://c', AuthKey: 'k' });
    await new Promise((r) => setTimeout(r, 40));
    expect(reported).toEqual([]);
    eps = ['198.51.100.7:41641'];
    await new Promise((r) => setTimeout(r, 40));
    expect(reported).toEqual([['198.51.100.7:41641']]);
    await b.stop();
  });

  it('a new reflexive endpoint from STUN is reported at once, not at the next refresh tick', async () => {
    const c = new FakeControl();
    const calls: string[] = [];
    const dp = new FakeDataplane();
    let eps = ['192.0.2.2:41641'];
    dp.endpoints = () => eps;
    const b = new AgentBackend({
      store: new StateStore(join(root, 'g3')),
      control: () => ({ ...c.session(), updateEndpoints: (e: string[]) => void calls.push(`endpoints ${e.join(',')}`), reconnect: () => void calls.push('reconnect') }),
      dataplane: dp,
      endpointRefreshMs: 60_000, // the tick never fires in this test
    });
    await b.start();
    eps = ['192.0.2.2:41641', '198.51.100.200:1234'];
    dp.epChange?.(); // not streaming yet: the stream's first request carries them
    expect(calls).toEqual([]);
    await b.up({ ControlURL: 'http://c', AuthKey: 'k' });
    dp.epChange?.(); // same as what the stream opened with: nothing to send
    expect(calls).toEqual([]);
    eps = ['192.0.2.2:41641', '198.51.100.200:2345'];
    dp.epChange?.();
    expect(calls).toEqual(['endpoints 192.0.2.2:41641,198.51.100.200:2345']); // no reconnect: the address is still ours
    await b.stop();
  });

  it('a network change (roaming) reports the re-discovered endpoints and re-opens the stream at once', async () => {
    const c = new FakeControl();
    const calls: string[] = [];
    const dp = new FakeDataplane();
    let eps = ['192.0.2.2:41641', '198.51.100.200:41641'];
    dp.endpoints = () => eps;
    const b = new AgentBackend({
      store: new StateStore(join(root, 'g2')),
      control: () => ({ ...c.session(), updateEndpoints: (e: string[]) => void calls.push(`endpoints ${e.join(',')}`), reconnect: () => void calls.push('reconnect') }),
      dataplane: dp,
      endpointRefreshMs: 60_000, // only the change itself reports
    });
    await b.start();
    dp.netChange?.(); // not streaming yet: nothing to do
    expect(calls).toEqual([]);
    await b.up({ ControlURL: 'http://c', AuthKey: 'k' });
    eps = ['192.0.2.40:41641', '198.51.100.200:26553'];
    dp.netChange?.();
    expect(calls).toEqual(['endpoints 192.0.2.40:41641,198.51.100.200:26553', 'reconnect']);
    await b.down();
    dp.netChange?.(); // stopped: nothing
    expect(calls).toHaveLength(2);
    await b.stop();
  });

  it.each([
    { name: 'direct', via: { endpoint: '198.51.100.201:41641', relay: '' }, want: { Endpoint: '198.51.100.201:41641' }, absent: 'Relay' },
    { name: 'relayed', via: { endpoint: '', relay: 'r2' }, want: { Relay: 'r2' }, absent: 'Endpoint' },
  ])('ping: a $name reply carries its own path', async ({ via, want, absent }) => {
    const c = new FakeControl();
    const dp = new FakeDataplane();
    dp.pingVia = via;
    const { b } = make(`p-${via.relay || 'direct'}`, c, dp);
    await b.start();
    await b.up({ ControlURL: 'http://c', AuthKey: 'k' });
    const peerIp = c.netmap.peers[0].addresses[0].split('/')[0];
    const r = await b.ping(peerIp, 1000);
    expect(r).toMatchObject({ IP: peerIp, Type: 'ICMP', LatencySeconds: 0.0015, ...want });
    expect(r).not.toHaveProperty(absent);
    await b.stop();
  });

  it('a new hostname (up --hostname, prefs PATCH) goes to control on the live stream', async () => {
    const c = new FakeControl();
    const sent: string[] = [];
    const b = new AgentBackend({
      store: new StateStore(join(root, 'h')),
      control: () => ({ ...c.session(), updateHostinfo: (h) => void sent.push(h.hostname) }),
      dataplane: new FakeDataplane(),
    });
    await b.start();
    await b.up({ ControlURL: 'http://c', AuthKey: 'k', Hostname: 'one' });
    await b.up({ Hostname: 'two' });
    await b.patchPrefs({ Hostname: 'three' });
    await b.patchPrefs({ Hostname: 'three' });
    expect(sent).toEqual(['two', 'three']);
    expect(b.getPrefs().Hostname).toBe('three');
    await b.stop();
  });

  it('ShieldsUp: applied to the data plane at start and on PATCH, and shown in status', async () => {
    const c = new FakeControl();
    const { b, dp } = make('s', c);
    await b.start();
    expect(dp.shields).toEqual([false]);
    await b.up({ ControlURL: 'http://c', AuthKey: 'k' });
    expect(b.status({ peers: false }).ShieldsUp).toBe(false);
    await b.patchPrefs({ ShieldsUp: true });
    expect(dp.shields).toEqual([false, true]);
    expect(b.status({ peers: false }).ShieldsUp).toBe(true);
    await b.patchPrefs({ Hostname: 'other' });
    expect(dp.shields).toEqual([false, true]);
    await b.stop();
    const r = make('s', new FakeControl());
    await r.b.start();
    expect(r.dp.shields).toEqual([true]);
    await r.b.stop();
  });

  it('a hostile netmap: rejected entries reach neither the data plane nor whois/status; counted in metrics and health', async () => {
    const c = new FakeControl();
    const nm = syntheticNetmap(2);
    nm.peers[0].allowedIPs.push('0.0.0.0/0');
    nm.peers[1].allowedIPs.push('100.64.0.2/32');
    nm.peers[1].endpoints = ['127.0.0.1:22'];
    c.netmap = nm;
    const { b, dp } = make('n', c);
    await b.start();
    await b.up({ ControlURL: 'http://c', AuthKey: 'k' });
    expect(dp.last?.peers.map((p) => p.allowedIPs)).toEqual([['fd7a:115c:a1e0::2/128'], ['100.64.0.3/32', 'fd7a:115c:a1e0::3/128']]);
    expect(dp.last?.peers[1].endpoints).toEqual([]);
    expect(b.whois({ kind: 'ip', ip: '100.64.0.2', port: null })).toBeNull();
    expect(b.whois({ kind: 'ip', ip: '100.64.0.3', port: null })?.Node.ID).toBe(3);
    const st = b.status({ peers: true });
    expect(Object.values(st.Peer ?? {}).map((p) => p.AllowedIPs.length)).toEqual([1, 2]);
    expect(st.Health.join('\n')).toMatch(/rejected 4 entries/);
    const m = b.metrics();
    expect(m).toContain('grantwire_netmap_rejected_total{reason="peer_allowed_ip"} 1');
    expect(m).toContain('grantwire_netmap_rejected_total{reason="duplicate_address"} 2');
    expect(m).toContain('grantwire_netmap_rejected_total{reason="endpoint"} 1');
    // a clean netmap clears the health message (the counters stay)
    c.push!(syntheticNetmap(2));
    expect(b.status({ peers: false }).Health).toEqual([]);
    await b.stop();
  });

  it('metrics include backend gauges', async () => {
    const { b } = make('e', new FakeControl());
    await b.start();
    expect(b.metrics()).toContain('grantwire_backend_state{state="NeedsLogin"} 1');
  });
});
