// Webhook signing and the bounded outbox.
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRng } from '../types/seeded-rng.js';
import { recordAudit } from './audit-log.js';
import { Store } from './store.js';
import { headEvent, MAX_OUTBOX, outboxSize, signatureHeader, validateWebhook, verifyWebhookSignature, writeWebhookConfig } from './webhook-outbox.js';

const SECRET = 'a-very-secret-secret';
const BODY = '{"type":"access.approve"}';
const NOW = 1_900_000_000;

describe('signatures', () => {
  const good = signatureHeader(SECRET, BODY, NOW);
  it('is HMAC-SHA256 of "t.body" in hex', () => {
    expect(good).toBe(`t=${NOW},v1=${createHmac('sha256', SECRET).update(`${NOW}.${BODY}`).digest('hex')}`);
  });
  it.each([
    { name: 'valid', secret: SECRET, body: BODY, header: good, now: NOW, ok: true },
    { name: 'valid within tolerance', secret: SECRET, body: BODY, header: good, now: NOW + 299, ok: true },
    { name: 'too old (replay)', secret: SECRET, body: BODY, header: good, now: NOW + 301, ok: false },
    { name: 'other secret', secret: 'another-secret-xxxxx', body: BODY, header: good, now: NOW, ok: false },
    { name: 'body changed', secret: SECRET, body: BODY + ' ', header: good, now: NOW, ok: false },
    { name: 'timestamp changed', secret: SECRET, body: BODY, header: good.replace(`t=${NOW}`, `t=${NOW + 1}`), now: NOW, ok: false },
    { name: 'missing', secret: SECRET, body: BODY, header: undefined, now: NOW, ok: false },
    { name: 'garbage', secret: SECRET, body: BODY, header: 'sha256=abc', now: NOW, ok: false },
  ])('$name → $ok', ({ secret, body, header, now, ok }) => {
    expect(verifyWebhookSignature(secret, body, header, now)).toBe(ok);
  });

  it('fuzz: random and truncated headers never throw and never verify', () => {
    const next = seededRng(15);
    const rng = { int: (n: number) => Math.floor(next() * n) };
    const deadline = Date.now() + 2000;
    for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
      const cut = good.slice(0, rng.int(good.length));
      const noise = Array.from({ length: rng.int(80) }, () => String.fromCharCode(rng.int(128))).join('');
      for (const h of [cut, noise, cut + noise]) expect(verifyWebhookSignature(SECRET, BODY, h, NOW)).toBe(false);
    }
  });
});

describe('configuration', () => {
  it.each([
    { url: 'https://hooks.example.com/x', secret: SECRET, err: null },
    { url: 'http://127.0.0.1:9/x', secret: SECRET, err: null },
    { url: 'ftp://example.com/', secret: SECRET, err: /http or https/ },
    { url: 'not a url', secret: SECRET, err: /invalid webhook URL/ },
    { url: 'https://u:p@example.com/', secret: SECRET, err: /credentials/ },
    { url: 'https://example.com/', secret: 'short', err: /too short/ },
  ])('$url', ({ url, secret, err }) => {
    if (err === null) expect(() => validateWebhook(url, secret)).not.toThrow();
    else expect(() => validateWebhook(url, secret)).toThrow(err);
  });
});

describe('outbox', () => {
  let dir: string;
  let store: Store;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gw-wh-'));
    store = new Store(join(dir, 'c.db'));
  });
  afterAll(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('queues access and policy events only when a webhook is set, and keeps at most MAX_OUTBOX', () => {
    recordAudit(store.db, { action: 'access.request', target: 'request 1', summary: 'x' });
    expect(outboxSize(store.db)).toBe(0);
    writeWebhookConfig(store.db, 'http://127.0.0.1:9/', SECRET);
    recordAudit(store.db, { action: 'user.add', target: 'u', summary: 'not an event' });
    recordAudit(store.db, { action: 'policy.set', target: 'policy 2', summary: 'y', after: { version: 2 } });
    expect(outboxSize(store.db)).toBe(1);
    const ev = headEvent(store.db)!;
    expect(JSON.parse(ev.body)).toMatchObject({ type: 'policy.set', target: 'policy 2', data: { version: 2 } });
    store.tx(() => {
      for (let i = 0; i < MAX_OUTBOX + 50; i++) recordAudit(store.db, { action: 'access.request', target: `request ${i}`, summary: 'z' });
    });
    expect(outboxSize(store.db)).toBe(MAX_OUTBOX);
    expect(JSON.parse(headEvent(store.db)!.body)).toMatchObject({ target: 'request 50' });
  });
});
