import { describe, expect, it } from 'vitest';
import { accessFor, admit, ENDPOINTS, LOCALAPI_HOST, type Access } from './permissions.js';

const policy = { daemonUid: 500, operatorUid: 1001 };

describe('accessFor', () => {
  it.each([
    { uid: 0, want: 'write' },
    { uid: 500, want: 'write' },
    { uid: 1001, want: 'write' },
    { uid: 1002, want: 'read' },
    { uid: null, want: 'read' },
    { uid: -1, want: 'read' },
    { uid: 1.5, want: 'read' },
  ])('uid $uid → $want', ({ uid, want }) => {
    expect(accessFor(uid, policy)).toBe(want);
  });
  it('no operator configured: only root and the daemon uid write', () => {
    expect(accessFor(1001, { daemonUid: 500, operatorUid: null })).toBe('read');
    expect(accessFor(500, { daemonUid: null, operatorUid: null })).toBe('read');
  });
});

function req(method: string, path: string, access: Access, extra: { host?: string; origin?: boolean; referer?: boolean } = {}) {
  return admit({ method, path, host: extra.host ?? LOCALAPI_HOST, hasOrigin: extra.origin ?? false, hasReferer: extra.referer ?? false, access });
}

describe('admit', () => {
  it.each([
    { name: 'read endpoint, reader', r: req('GET', '/localapi/v0/whois', 'read'), status: 0 },
    { name: 'write endpoint, reader', r: req('POST', '/localapi/v0/up', 'read'), status: 403 },
    { name: 'write endpoint, writer', r: req('POST', '/localapi/v0/up', 'write'), status: 0 },
    { name: 'prefs GET reader', r: req('GET', '/localapi/v0/prefs', 'read'), status: 0 },
    { name: 'prefs PATCH reader', r: req('PATCH', '/localapi/v0/prefs', 'read'), status: 403 },
    { name: 'origin beats everything', r: req('POST', '/localapi/v0/up', 'write', { origin: true }), status: 403 },
    { name: 'referer', r: req('GET', '/localapi/v0/status', 'write', { referer: true }), status: 403 },
    { name: 'bad host', r: req('GET', '/localapi/v0/status', 'write', { host: 'localhost' }), status: 403 },
    { name: 'no host', r: admit({ method: 'GET', path: '/localapi/v0/status', host: undefined, hasOrigin: false, hasReferer: false, access: 'write' }), status: 403 },
    { name: 'unknown endpoint', r: req('GET', '/localapi/v0/toString', 'write'), status: 404 },
    { name: 'prototype key', r: req('GET', '/localapi/v0/__proto__', 'write'), status: 404 },
    { name: 'outside prefix', r: req('GET', '/debug', 'write'), status: 404 },
    { name: 'wrong method', r: req('DELETE', '/localapi/v0/status', 'write'), status: 405 },
    { name: 'method named like a prototype key', r: req('constructor', '/localapi/v0/status', 'write'), status: 405 },
  ])('$name', ({ r, status }) => {
    if (status === 0) expect(r.ok).toBe(true);
    else expect(r).toMatchObject({ ok: false, status });
  });

  it('every write endpoint is refused to readers, every read endpoint admitted', () => {
    for (const [name, ep] of Object.entries(ENDPOINTS)) {
      for (const [method, need] of Object.entries(ep.methods)) {
        expect(req(method, `/localapi/v0/${name}`, 'read').ok).toBe(need === 'read');
        expect(req(method, `/localapi/v0/${name}`, 'write').ok).toBe(true);
      }
    }
  });
});
