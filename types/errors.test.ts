// The error catalog as a table: every exported class extends the root, sets its name, and has its own
// ERR_ code. test/errors.test.ts checks the rest of the tree uses this catalog.
import { describe, expect, it } from 'vitest';
import * as errors from './errors.js';
import { GrantwireError } from './errors.js';

type ErrorClass = abstract new (...args: never[]) => GrantwireError;

function isErrorClass(v: unknown): v is ErrorClass {
  return typeof v === 'function' && (v === GrantwireError || v.prototype instanceof GrantwireError);
}

// One instance of every exported error class, built the way the code builds it.
const samples: Record<string, GrantwireError> = {
  GrantwireError: new GrantwireError('ERR_TEST', 'm'),
  UsageError: new errors.UsageError('m'),
  HelpRequested: new errors.HelpRequested(),
  PolicyQueryError: new errors.PolicyQueryError('m'),
  WgConfigError: new errors.WgConfigError([{ file: 'wg0.conf', line: 1, col: 1, code: 'ERR_WG_CONFIG_SYNTAX', message: 'm' }]),
  LocalApiError: new errors.LocalApiError(400, 'bad_request', 'm'),
  PeerNotFoundError: new errors.PeerNotFoundError('m'),
  AccessDeniedError: new errors.AccessDeniedError('forbidden', 'm'),
  LocalApiUnreachableError: new errors.LocalApiUnreachableError('ENOENT', 'm'),
  LocalApiBadResponseError: new errors.LocalApiBadResponseError(200, 'm'),
  LocalApiFailure: new errors.LocalApiFailure(404, 'not_found', 'm'),
  ControlError: new errors.ControlError('internal', 'm'),
  ControlRefusedError: new errors.ControlRefusedError('invalid_auth_key', 'm'),
  ControlConnectionError: new errors.ControlConnectionError('m'),
  ControlBadServerError: new errors.ControlBadServerError('m'),
  ControlBadUrlError: new errors.ControlBadUrlError('m'),
  DialError: new errors.DialError('refused', 'm'),
  NetstackError: new errors.NetstackError('ERR_NETSTACK_ADDRESS', 'm'),
  RelayAuthError: new errors.RelayAuthError('ERR_RELAY_KEY_MISMATCH', 'http://relay.example', 'm'),
  ConnectionError: new errors.ConnectionError('ECONNRESET', 'm'),
};

const classes: [string, ErrorClass][] = [];
for (const [name, v] of Object.entries(errors as Record<string, unknown>)) if (isErrorClass(v)) classes.push([name, v]);

describe('error catalog', () => {
  it('every exported error class has a sample here (so the table below covers it)', () => {
    expect(classes.map(([n]) => n).sort()).toEqual(Object.keys(samples).sort());
  });

  it.each(classes.map(([name, cls]) => ({ name, cls })))('$name: extends the root, name set, ERR_ code', ({ name, cls }) => {
    const e = samples[name];
    expect(e).toBeInstanceOf(cls);
    expect(e).toBeInstanceOf(GrantwireError);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe(name);
    expect(e.code).toMatch(/^ERR_[A-Z0-9_]+$/);
    expect(e.message).toBe(name === 'HelpRequested' ? 'help' : name === 'WgConfigError' ? 'wg0.conf:1:1: m' : 'm');
    expect(String(e)).toBe(`${name}: ${e.message}`);
  });

  it('codes are unique across the catalog', () => {
    const codes = Object.values(samples).map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('cause is kept', () => {
    const cause = Object.assign(new Error('connect ENOENT'), { code: 'ENOENT' });
    expect(new errors.LocalApiUnreachableError('ENOENT', 'm', { cause }).cause).toBe(cause);
    expect(new GrantwireError('ERR_TEST', 'm', { cause }).cause).toBe(cause);
  });

  it.each([
    // subclass → the class its callers catch it as
    { sub: errors.PeerNotFoundError, base: errors.LocalApiError, status: 404, wireCode: 'not_found' },
    { sub: errors.AccessDeniedError, base: errors.LocalApiError, status: 403, wireCode: 'forbidden' },
    { sub: errors.LocalApiUnreachableError, base: errors.LocalApiError, status: 0, wireCode: 'ENOENT' },
    { sub: errors.LocalApiBadResponseError, base: errors.LocalApiError, status: 200, wireCode: 'bad_response' },
    { sub: errors.ControlRefusedError, base: errors.ControlError, status: undefined, wireCode: 'invalid_auth_key' },
    { sub: errors.ControlConnectionError, base: errors.ControlError, status: undefined, wireCode: 'connection' },
    { sub: errors.ControlBadServerError, base: errors.ControlError, status: undefined, wireCode: 'bad_server' },
    { sub: errors.ControlBadUrlError, base: errors.ControlError, status: undefined, wireCode: 'bad_url' },
  ])('$sub.name is a $base.name carrying status and wire code', ({ sub, base, status, wireCode }) => {
    const e = samples[sub.name] as GrantwireError & { status?: number; wireCode?: string };
    expect(e).toBeInstanceOf(base);
    expect(e.status).toBe(status);
    expect(e.wireCode).toBe(wireCode);
  });
});
