// Webhook delivery from a running control to a receiver on loopback: signed events for request state
// changes and policy changes, retries with backoff after 500s (order kept), a hanging receiver that never
// holds up control, and events queued by a host command in another process.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../control/admin-ops.js';
import type { AccessRequest } from '../../control/access-requests.js';
import { SIGNATURE_HEADER, verifyWebhookSignature, type WebhookEvent } from '../../control/webhook-outbox.js';
import { POLICY } from './fixtures.js';
import { runControl, startControl, waitUntil, type Harness } from './helpers.js';

const SECRET = 'loopback-receiver-secret';

interface Delivery {
  event: WebhookEvent;
  signed: boolean;
  status: number | 'hang';
}

/** A receiver answering with the scripted statuses in turn (then 200); 'hang' never answers. */
class Receiver {
  readonly deliveries: Delivery[] = [];
  script: (number | 'hang')[] = [];
  private readonly hanging: ServerResponse[] = [];
  readonly server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      const status = this.script.shift() ?? 200;
      this.deliveries.push({ event: JSON.parse(body) as WebhookEvent, signed: verifyWebhookSignature(SECRET, body, req.headers[SIGNATURE_HEADER] as string | undefined), status });
      if (status === 'hang') this.hanging.push(res);
      else res.writeHead(status).end();
    });
  });
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
  get hangingCount(): number {
    return this.hanging.filter((r) => !r.writableEnded && !r.destroyed).length;
  }
  release(): void {
    for (const r of this.hanging.splice(0)) if (!r.destroyed) r.writeHead(200).end();
  }
  ofType(type: string): Delivery[] {
    return this.deliveries.filter((d) => d.event.type === type);
  }
}

let h: Harness;
let rx: Receiver;
let admin = '';
let member = '';

async function api(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(new URL(path, h.url), { method, headers: { authorization: `Bearer ${token}` }, body: body === undefined || typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  rx = new Receiver();
  await new Promise<void>((resolve) => rx.server.listen(0, '127.0.0.1', resolve));
  h = await startControl({ policy: POLICY, webhooks: { baseBackoffMs: 50, maxBackoffMs: 400, pollMs: 50, timeoutMs: 20_000 } });
  h.addUser('root@example.com', 'admin');
  h.addUser('alice@example.com');
  admin = createApiToken(h.store, 'root@example.com').token;
  member = createApiToken(h.store, 'alice@example.com').token;
  expect((await api(admin, 'PUT', '/api/v1/webhook', { url: rx.url, secret: SECRET })).status).toBe(200);
});
afterAll(async () => {
  rx.release();
  await h.close();
  rx.server.closeAllConnections();
  await new Promise((r) => rx.server.close(r));
});

describe('webhooks', () => {
  it('a request state change arrives as a signed JSON event', async () => {
    const r = await api(member, 'POST', '/api/v1/access/requests', { attr: 'custom:jit', value: true, for: '1h', reason: 'deploy' });
    const id = (r.body.request as AccessRequest).id;
    await waitUntil(() => rx.ofType('access.request').length === 1, 5000, 'access.request event');
    const [d] = rx.ofType('access.request');
    expect(d.signed).toBe(true);
    expect(d.event).toMatchObject({ type: 'access.request', actor: 'alice@example.com', via: 'api', target: `request ${id}`, data: { id, state: 'pending' } });
    expect(d.event.summary).toContain('deploy');
  });

  it('after two 500s the event is retried with backoff until it is delivered, and later events wait their turn', async () => {
    rx.script = [500, 500];
    expect((await api(admin, 'POST', '/api/v1/policy', `// changed by the webhook test\n${POLICY}`)).body).toEqual({ version: 2 });
    const r = await api(member, 'POST', '/api/v1/access/requests', { attr: 'custom:jit', value: true, for: '1h', reason: 'second' });
    expect(r.status).toBe(200);
    await waitUntil(() => rx.ofType('access.request').length === 2, 10_000, 'the event after the retried one');
    const policy = rx.ofType('policy.set');
    expect(policy.map((d) => d.status)).toEqual([500, 500, 200]);
    expect(new Set(policy.map((d) => d.event.id)).size).toBe(1);
    expect(policy.every((d) => d.signed)).toBe(true);
    expect(policy[0].event.summary).toMatch(/\+1 -0 lines/);
    // order: the second request's event came only after the policy event was delivered
    const order = rx.deliveries.map((d) => d.event.type);
    expect(order.lastIndexOf('policy.set')).toBeLessThan(order.lastIndexOf('access.request'));
  });

  it('a receiver that never answers does not hold up control', async () => {
    rx.script = ['hang'];
    const before = rx.deliveries.length;
    const r = await api(member, 'POST', '/api/v1/access/requests', { attr: 'custom:jit', value: true, for: '1h', reason: 'third' });
    expect(r.status).toBe(200);
    await waitUntil(() => rx.hangingCount === 1, 5000, 'the hanging delivery');
    // while that delivery hangs, control answers and changes state as usual
    const id = (r.body.request as AccessRequest).id;
    const denied = await api(admin, 'POST', `/api/v1/access/requests/${id}/deny`, { reason: 'no' });
    expect(denied).toMatchObject({ status: 200, body: { request: { state: 'denied' } } });
    expect((await fetch(new URL('/health', h.url))).status).toBe(200);
    expect(rx.hangingCount).toBe(1);
    expect(rx.deliveries.length).toBe(before + 1);
    rx.release();
    await waitUntil(() => rx.ofType('access.deny').length === 1, 5000, 'the deny event after the hang ended');
  });

  it('events queued by a host command in another process are delivered by the server', async () => {
    const out = await runControl(['access', 'request', '--as', 'alice@example.com', '--attr', 'custom:jit', '--value', 'true', '--for', '30m', '--reason', 'from the cli', '--json', '--state', h.statePath]);
    expect(out.code).toBe(0);
    const id = (JSON.parse(out.stdout) as AccessRequest).id;
    await waitUntil(() => rx.deliveries.some((d) => d.event.target === `request ${id}`), 10_000, 'the CLI event');
    const d = rx.deliveries.find((x) => x.event.target === `request ${id}`)!;
    expect(d.signed).toBe(true);
    expect(d.event).toMatchObject({ type: 'access.request', actor: 'alice@example.com', via: expect.stringMatching(/^cli:/) });
  }, 60_000);
});
