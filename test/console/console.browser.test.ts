// Issue 15, the console in a real browser: Debian's headless Chromium driven by playwright-core (no
// browser download) against a running control. Signs in with an admin token, sees the machines (and a new
// one appear live), edits the policy with an error and sees the diagnostic at its line, saves a valid
// policy; then a member (signed in by a one-time link) requests just-in-time access, an approver (another
// member, in a second browser context) approves it, the tagged database node's compiled filter opens to
// the member's laptop and closes again at expiry, and the audit page lists each step. Screenshots go to
// test-artifacts/console/. Skips, saying why, when /usr/bin/chromium is absent.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setApprovers } from '../../control/access-requests.js';
import { createApiToken } from '../../control/admin-ops.js';
import { createSignInLink } from '../../control/console/sign-in-links.js';
import type { FilterRule } from '../../types/filter-rule.js';
import { POLICY } from '../control/fixtures.js';
import { LINUX, newAgent, startControl, type Harness, type TestAgent } from '../control/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'console');
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`console browser tests skipped: ${CHROMIUM} not found (apt-get install chromium)`);

describe.skipIf(!HAVE_CHROMIUM)('admin console in headless Chromium', () => {
  let h: Harness;
  let browser: Browser;
  let page: Page;
  const agents: TestAgent[] = [];
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  async function enroll(user: string, hostname: string, stream: boolean, tags: string[] = []): Promise<void> {
    const a = newAgent(h.url);
    await a.client.register({ authKey: h.key({ user, tags }), hostname, hostinfo: LINUX });
    if (stream) await a.stream();
    agents.push(a);
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    h = await startControl({ policy: POLICY });
    h.addUser('root@example.com', 'admin');
    h.addUser('alice@example.com');
    h.addUser('bob@example.com');
    await enroll('alice@example.com', 'alice-laptop', true);
    await enroll('bob@example.com', 'bob-laptop', false);
    await enroll('bob@example.com', 'db-1', true, ['tag:db']);
    setApprovers(h.store, 'custom:jit', ['bob@example.com']);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => console.error('page error:', e.message));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const a of agents) await a.stop();
    await h?.close();
  });

  it('signs in with an admin API token', async () => {
    await page.goto(`${h.url}/admin/`);
    await page.fill('input[name=token]', 'gwapi-000000000000-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=signin-failed]');
    await page.fill('input[name=token]', createApiToken(h.store, 'root@example.com').token);
    await shot('01-sign-in');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('[data-testid=whoami]')).toBe('root@example.com (admin)');
  });

  it('shows the machines, and a machine that joins appears without a reload', async () => {
    await page.waitForSelector('tr[data-node=alice-laptop]');
    expect(await page.textContent('tr[data-node=alice-laptop] [data-testid=online]')).toBe('online');
    expect(await page.textContent('tr[data-node=bob-laptop] [data-testid=online]')).toBe('offline');
    expect(await page.textContent('tr[data-node=alice-laptop]')).toContain(h.store.nodeByHostname('alice-laptop')!.v4);
    await enroll('bob@example.com', 'bob-desktop', true);
    await page.waitForSelector('tr[data-node=bob-desktop]', { timeout: 10_000 });
    await shot('02-machines');
  });

  it('edits the policy: an error shows its diagnostic at its line; a valid policy saves', async () => {
    await page.click('[data-testid=nav-policy]');
    await page.waitForSelector('[data-testid=policy-text]');
    const bad = POLICY.replace('"tag:web"]', '"tag:nope"]');
    const badLine = bad.split('\n').findIndex((l) => l.includes('tag:nope')) + 1;
    await page.fill('[data-testid=policy-text]', bad);
    const diag = await page.waitForSelector(`[data-testid=diagnostic][data-line="${badLine}"]`);
    expect(await diag.textContent()).toMatch(new RegExp(`^${badLine}:\\d+ .*tag:nope`));
    expect(await page.isDisabled('[data-testid=save-policy]')).toBe(true);
    await shot('03-policy-error');

    const good = POLICY.replace('"grants": [', '"grants": [\n    {"src": ["autogroup:member"], "dst": ["alice@example.com"], "ip": ["tcp:22"]},');
    await page.fill('[data-testid=policy-text]', good);
    await page.waitForSelector('[data-testid=policy-status] .ok');
    await page.selectOption('[data-testid=preview-node]', 'alice-laptop');
    await page.click('[data-testid=run-preview]');
    const preview = await page.waitForSelector('[data-testid=preview]');
    expect(await preview.textContent()).toContain('bob-laptop');
    await shot('04-policy-preview');
    const before = h.server.coordinator.policyVersion;
    await page.click('[data-testid=save-policy]');
    await page.waitForSelector('[data-testid=saved]');
    expect(h.server.coordinator.policyVersion).toBeGreaterThan(before);
    expect(h.server.coordinator.activePolicy.text).toBe(good);
    await shot('05-policy-saved');
  });

  /** Does db-1's compiled filter (as control sends it) let alice-laptop open tcp/5432? */
  function dbOpenToAlice(): boolean {
    const db = h.store.nodeByHostname('db-1')!;
    const alice = h.store.nodeByHostname('alice-laptop')!.v4;
    const msg = JSON.parse(h.server.coordinator.netmapMessage(db.id)!) as { netmap: { packetFilter: FilterRule[] } };
    return msg.netmap.packetFilter.some((r) => r.SrcIPs.some((s) => s === alice || s === `${alice}/32`) && (r.DstPorts ?? []).some((d) => d.Ports.First <= 5432 && 5432 <= d.Ports.Last));
  }

  async function signedInContext(login: string): Promise<{ ctx: BrowserContext; p: Page }> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await ctx.newPage();
    p.setDefaultTimeout(10_000);
    const link = createSignInLink(h.store, h.store.userByLogin(login)!);
    await p.goto(`${h.url}/admin/#link=${link.secret}`);
    await expect.poll(() => p.textContent('[data-testid=whoami]')).toBe(`${login} (member)`);
    expect(p.url()).toBe(`${h.url}/admin/`); // the secret left the address bar
    return { ctx, p };
  }

  it('a member requests access, an approver approves it, the filter opens, and closes at expiry', async () => {
    expect(dbOpenToAlice()).toBe(false);
    const alice = await signedInContext('alice@example.com');
    const bob = await signedInContext('bob@example.com');
    try {
      await alice.p.click('[data-testid=nav-access]');
      await alice.p.fill('[data-testid=request-attr]', 'custom:jit');
      await alice.p.fill('[data-testid=request-for]', '8s');
      await alice.p.fill('[data-testid=request-reason]', 'fix the orders table');
      await alice.p.click('[data-testid=request-submit]');
      const row = await alice.p.waitForSelector('tr[data-state=pending]');
      const id = await row.getAttribute('data-request');
      expect(await alice.p.$(`tr[data-request="${id}"] [data-testid=approve]`)).toBeNull(); // not her own
      await alice.p.screenshot({ path: join(ARTIFACTS, '06-access-requested.png'), fullPage: true });

      await bob.p.click('[data-testid=nav-access]');
      await bob.p.click(`tr[data-request="${id}"] [data-testid=approve]`);
      await bob.p.waitForSelector(`tr[data-request="${id}"][data-state=approved]`);
      // the requester's page follows without a reload
      await alice.p.waitForSelector(`tr[data-request="${id}"][data-state=approved]`);
      expect(await alice.p.textContent(`tr[data-request="${id}"] [data-testid=time-left]`)).toMatch(/^\ds left$/);
      await expect.poll(dbOpenToAlice, { timeout: 5000 }).toBe(true);
      await alice.p.screenshot({ path: join(ARTIFACTS, '07-access-approved.png'), fullPage: true });

      await expect.poll(dbOpenToAlice, { timeout: 20_000, interval: 250 }).toBe(false);
      await alice.p.waitForSelector(`tr[data-request="${id}"][data-state=ended]`, { timeout: 10_000 });
      await alice.p.screenshot({ path: join(ARTIFACTS, '08-access-ended.png'), fullPage: true });
    } finally {
      await alice.ctx.close();
      await bob.ctx.close();
    }
  }, 60_000);

  it('the audit page lists each step', async () => {
    await page.click('[data-testid=nav-audit]');
    await page.waitForSelector('tr[data-action="access.end"]');
    const rows = await page.$$eval('[data-testid=audit] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    const find = (action: string) => rows.find((r) => r[3] === action);
    expect(find('access.request')?.[1]).toBe('alice@example.com');
    expect(find('access.request')?.[2]).toBe('console');
    expect(find('access.approve')?.[1]).toBe('bob@example.com');
    expect(find('access.end')).toBeDefined();
    expect(rows.some((r) => r[3].startsWith('policy') && r[1] === 'root@example.com' && r[2] === 'console')).toBe(true);
    await shot('09-audit');
  });
});
