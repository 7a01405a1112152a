// Helpers for the console suites: sign in over HTTP as a browser would (form posts, cookies by hand) and
// call /api/v1 with the session.
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { createSignInLink } from '../../control/console/sign-in-links.js';
import type { Store } from '../../control/store.js';

export interface SignInResult {
  status: number;
  location: string | null;
  setCookie: string | null;
  /** `name=value` for a Cookie header, or null when no session was set. */
  cookie: string | null;
}

export function dispatcherFor(ca?: string): Dispatcher | undefined {
  return ca === undefined ? undefined : new Agent({ connect: { ca } });
}

export async function postLogin(url: string, form: Record<string, string | undefined>, o: { origin?: string; ca?: string } = {}): Promise<SignInResult> {
  const res = await undiciFetch(new URL('/admin/login', url), {
    method: 'POST',
    body: new URLSearchParams(Object.entries(form).filter((e): e is [string, string] => e[1] !== undefined)).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close', ...(o.origin !== undefined ? { origin: o.origin } : {}) },
    redirect: 'manual',
    dispatcher: dispatcherFor(o.ca),
  });
  await res.arrayBuffer();
  const setCookie = res.headers.get('set-cookie');
  const m = setCookie ? /^([^=;]+=[^;]*)/.exec(setCookie) : null;
  return { status: res.status, location: res.headers.get('location'), setCookie, cookie: m && !m[1].endsWith('=') ? m[1] : null };
}

/** Signs `login` in with a fresh one-time link; returns the cookie and the session's CSRF token. */
export async function signInAs(url: string, store: Store, login: string, ca?: string): Promise<{ cookie: string; csrf: string }> {
  const user = store.userByLogin(login);
  if (!user) throw new Error(`no user ${login}`);
  const r = await postLogin(url, { link: createSignInLink(store, user).secret }, { ca });
  if (!r.cookie) throw new Error(`sign-in as ${login} failed: ${r.status} ${r.location}`);
  const s = await undiciFetch(new URL('/admin/session', url), { headers: { cookie: r.cookie }, dispatcher: dispatcherFor(ca) });
  const body = (await s.json()) as { csrf: string };
  return { cookie: r.cookie, csrf: body.csrf };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export async function call(url: string, method: string, path: string, o: { cookie?: string; csrf?: string; body?: unknown; origin?: string; ca?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { connection: 'close' };
  if (o.cookie !== undefined) headers.cookie = o.cookie;
  if (o.csrf !== undefined) headers['x-csrf-token'] = o.csrf;
  if (o.origin !== undefined) headers.origin = o.origin;
  let body: string | undefined;
  if (o.body !== undefined) {
    body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    headers['content-type'] = typeof o.body === 'string' ? 'text/plain' : 'application/json';
  }
  const res = await undiciFetch(new URL(path, url), { method, headers, body, redirect: 'manual', dispatcher: dispatcherFor(o.ca) });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: res.status, headers: res.headers as unknown as Headers, body: parsed };
}
