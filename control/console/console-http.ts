// The admin console's HTTP routes under /admin, on control's own listener (server.ts refuses non-loopback
// callers without TLS before this runs, the same rule as the admin API):
//
//   GET  /admin, /admin/          the page (static/index.html); the app (static/*.js) signs in and calls
//                                 /api/v1 with the session cookie + X-CSRF-Token (api-caller.ts)
//   GET  /admin/static/NAME       the console's own modules and style sheet
//   GET  /admin/vendor/NAME       preact, preact/hooks, htm (vendor.ts)
//   POST /admin/login             form `token=gwapi-…` (an API token) or `link=gwlnk-…` (a one-time
//                                 link from `control console link`) → session cookie, 303 to /admin/
//   POST /admin/logout            ends the session (CSRF token in X-CSRF-Token or the `csrf` form field)
//   GET  /admin/session           {login, role, csrf} for the signed-in page, or 401
//   GET  /admin/events            Server-Sent Events: `change` with the kinds that changed (live-events.ts)
//
// Every answer carries the strict CSP and no-store (http-security.ts). A sign-in failure says only that it
// failed; the log says why.
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { tokenUser } from '../api-caller.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store.js';
import { csrfMatches, SESSION_MAX_MS, type ConsoleSessions } from './sessions.js';
import { readSessionCookie, sameOrigin, securityHeaders, sessionCookie } from './http-security.js';
import type { LiveEvents } from './live-events.js';
import { consumeSignInLink } from './sign-in-links.js';
import { vendorModule } from './vendor.js';

export interface ConsoleContext {
  store: Store;
  sessions: ConsoleSessions;
  events: LiveEvents;
  logger: Logger;
  tls: boolean;
}

const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));
const MAX_FORM = 8 * 1024;

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

let staticFiles: Map<string, { type: string; body: Buffer }> | null = null;

/** The static folder, read once: only files that exist at start-up are ever served (no path joins on input). */
function staticFile(name: string): { type: string; body: Buffer } | null {
  if (!staticFiles) {
    staticFiles = new Map();
    for (const f of readdirSync(STATIC_DIR)) {
      const ext = f.slice(f.lastIndexOf('.'));
      if (TYPES[ext] !== undefined) staticFiles.set(f, { type: TYPES[ext], body: readFileSync(STATIC_DIR + f) });
    }
  }
  return staticFiles.get(name) ?? null;
}

function sendText(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string | string[]> = {}, cache = false): void {
  res.writeHead(status, { ...securityHeaders(cache), 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, 'application/json', JSON.stringify(body));
}

function redirect(res: ServerResponse, location: string, cookie?: string): void {
  res.writeHead(303, { ...securityHeaders(), location, 'content-length': 0, ...(cookie !== undefined ? { 'set-cookie': cookie } : {}) });
  res.end();
}

function readForm(req: IncomingMessage): Promise<URLSearchParams | null> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (d: Buffer) => {
      n += d.length;
      if (n > MAX_FORM) {
        resolve(null);
        req.destroy();
        return;
      }
      parts.push(d);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(parts).toString('utf8'))));
    req.on('error', () => resolve(null));
  });
}

async function login(req: IncomingMessage, res: ServerResponse, ctx: ConsoleContext): Promise<void> {
  if (!sameOrigin(req, ctx.tls)) return sendJson(res, 403, { error: 'sign-in must come from the console page itself', code: 'bad_origin' });
  const form = await readForm(req);
  if (!form) return sendJson(res, 413, { error: 'form too large', code: 'too_large' });
  let userId: number | null = null;
  let how = '';
  if (form.has('link')) {
    const r = consumeSignInLink(ctx.store, form.get('link'));
    if ('userId' in r) userId = r.userId;
    else ctx.logger.log('warn', 'console sign-in refused', { via: 'link', reason: r.refused });
    how = 'link';
  } else if (form.has('token')) {
    userId = tokenUser(ctx.store, form.get('token'))?.id ?? null;
    if (userId === null) ctx.logger.log('warn', 'console sign-in refused', { via: 'token', reason: 'invalid, expired or revoked token' });
    how = 'token';
  }
  const user = userId === null ? null : ctx.store.userById(userId);
  if (!user) return redirect(res, '/admin/?signin=failed');
  const { cookie } = ctx.sessions.create(user.id);
  ctx.logger.log('info', 'console sign-in', { user: user.login, role: user.role, via: how });
  redirect(res, '/admin/', sessionCookie(ctx.tls, cookie, Math.floor(SESSION_MAX_MS / 1000)));
}

export async function handleConsole(req: IncomingMessage, res: ServerResponse, url: URL, ctx: ConsoleContext): Promise<void> {
  const method = req.method ?? 'GET';
  const p = url.pathname;
  if (method === 'GET' && (p === '/admin' || p === '/admin/')) {
    const page = staticFile('index.html');
    return page ? sendText(res, 200, page.type, page.body) : sendJson(res, 500, { error: 'console files missing', code: 'internal' });
  }
  if (method === 'GET' && p.startsWith('/admin/static/')) {
    const f = staticFile(p.slice('/admin/static/'.length));
    return f ? sendText(res, 200, f.type, f.body, {}, true) : sendJson(res, 404, { error: 'not found', code: 'not_found' });
  }
  if (method === 'GET' && p.startsWith('/admin/vendor/')) {
    const text = vendorModule(p.slice('/admin/vendor/'.length));
    return text !== null ? sendText(res, 200, TYPES['.js'], text, {}, true) : sendJson(res, 404, { error: 'not found', code: 'not_found' });
  }
  if (method === 'POST' && p === '/admin/login') return login(req, res, ctx);
  const cookie = readSessionCookie(req, ctx.tls);
  const session = ctx.sessions.get(cookie);
  const user = session && ctx.store.userById(session.userId);
  if (method === 'GET' && p === '/admin/session') {
    if (!session || !user) return sendJson(res, 401, { error: 'not signed in', code: 'unauthorized' });
    return sendJson(res, 200, { login: user.login, name: user.name, role: user.role, csrf: session.csrf });
  }
  if (method === 'POST' && p === '/admin/logout') {
    if (!session) return redirect(res, '/admin/', sessionCookie(ctx.tls, '', 0));
    const form = await readForm(req);
    if (!sameOrigin(req, ctx.tls) || !csrfMatches(session, req.headers['x-csrf-token'] ?? form?.get('csrf'))) {
      return sendJson(res, 403, { error: 'missing or wrong CSRF token', code: 'csrf' });
    }
    ctx.sessions.destroy(cookie);
    return redirect(res, '/admin/', sessionCookie(ctx.tls, '', 0));
  }
  if (method === 'GET' && p === '/admin/events') {
    if (!session || !user) return sendJson(res, 401, { error: 'not signed in', code: 'unauthorized' });
    res.writeHead(200, { ...securityHeaders(), 'content-type': 'text/event-stream', connection: 'keep-alive' });
    if (!ctx.events.add(res)) res.end('event: busy\ndata: {}\n\n');
    return;
  }
  sendJson(res, 404, { error: 'not found', code: 'not_found' });
}
