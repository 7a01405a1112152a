// The console's calls: the admin API (/api/v1) with the session cookie and this session's CSRF token in
// X-CSRF-Token (a write without it is refused by the server), and the live change stream (/admin/events).
let csrf = '';

export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, data) {
    super(data.error || `HTTP ${status}`);
    this.status = status;
    this.data = data;
  }
}

/** `body`: a string is sent as text (policy text), anything else as JSON. */
export async function api(method, path, body) {
  const headers = { 'x-csrf-token': csrf };
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['content-type'] = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(`/api/v1/${path}`, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export async function session() {
  const res = await fetch('/admin/session', { credentials: 'same-origin' });
  return res.ok ? res.json() : null;
}

/** Posts a one-time link's secret; resolves when the session cookie is set (or the link was refused). */
export async function signInWithLink(secret) {
  const body = new URLSearchParams({ link: secret });
  await fetch('/admin/login', { method: 'POST', body, credentials: 'same-origin' });
}

export async function signOut() {
  const body = new URLSearchParams({ csrf });
  await fetch('/admin/logout', { method: 'POST', body, headers: { 'x-csrf-token': csrf }, credentials: 'same-origin' });
}

// One EventSource for the page; pages subscribe with live().
const listeners = new Set();
let source = null;

function connect() {
  source = new EventSource('/admin/events');
  source.addEventListener('change', (e) => {
    let kinds = [];
    try {
      kinds = JSON.parse(e.data).kinds;
    } catch {
      return;
    }
    for (const fn of listeners) fn(kinds);
  });
}

/** Calls fn(kinds) on every change the server reports; returns the unsubscribe function. */
export function live(fn) {
  if (!source) connect();
  listeners.add(fn);
  return () => listeners.delete(fn);
}
