import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAudit } from '../audit-log.js';
import { Store } from '../store.js';
import { LiveEvents } from './live-events.js';

/** A response that records what is written to it. */
function fakeResponse(): ServerResponse & { text: string } {
  const r = new EventEmitter() as EventEmitter & { text: string; write(s: string): boolean; end(): void };
  r.text = '';
  r.write = (s: string) => {
    r.text += s;
    return true;
  };
  r.end = () => r.emit('close');
  return r as unknown as ServerResponse & { text: string };
}

const events = (text: string) => [...text.matchAll(/event: change\ndata: (.*)\n\n/g)].map((m) => (JSON.parse(m[1]) as { kinds: string[] }).kinds);

describe('LiveEvents', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-live-'));
  let store: Store;
  let online = 0;
  let live: LiveEvents;
  beforeAll(() => {
    store = new Store(join(dir, 'c.db'));
    live = new LiveEvents({ store, onlineCount: () => online }, 60_000); // ticks driven by hand
  });
  afterAll(() => {
    live.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    { name: 'nothing changed', change: () => {}, want: [] },
    { name: 'a user added', change: () => store.addUser(`u${Date.now()}@x`, 'u', 'member'), want: [['user']] },
    { name: 'a policy stored', change: () => store.addPolicy('p', '{}'), want: [['policy']] },
    { name: 'a node came online', change: () => (online += 1), want: [['online']] },
    { name: 'an audit entry (access request)', change: () => recordAudit(store.db, { action: 'access.request', target: 'request 1', summary: 's' }), want: [['audit']] },
  ])('$name → $want', ({ change, want }) => {
    const res = fakeResponse();
    expect(live.add(res)).toBe(true);
    change();
    live.tick();
    expect(events(res.text)).toEqual(want);
    live.tick(); // nothing new the second time
    expect(events(res.text)).toEqual(want);
    res.end();
    expect(live.count).toBe(0);
  });

  it('every listener gets the event; a closed one no longer does', () => {
    const a = fakeResponse();
    const b = fakeResponse();
    live.add(a);
    live.add(b);
    b.end();
    store.addUser(`v${Date.now()}@x`, 'v', 'admin');
    live.tick();
    expect(events(a.text)).toEqual([['user']]);
    expect(events(b.text)).toEqual([]);
    a.end();
  });
});
