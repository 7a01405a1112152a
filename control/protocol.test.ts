import { describe, expect, it } from 'vitest';
import { parseClientMessage, parseEndpoints, parseHostinfo, parseServerMessage, sanitizeHostname } from './protocol.js';

const NK = `nodekey:${'ab'.repeat(32)}`;
const PROOF = 'cd'.repeat(32);
const REGISTER = { type: 'register', nodeKey: NK, nodeKeyProof: PROOF, authKey: 'gwkey-x', hostname: 'h', hostinfo: { os: 'linux' }, requestTags: ['tag:a'] };

describe('client messages', () => {
  it('accepts well-formed requests', () => {
    expect(parseClientMessage(JSON.stringify(REGISTER))).toMatchObject({ type: 'register', requestTags: ['tag:a'] });
    expect(parseClientMessage(JSON.stringify({ type: 'map', nodeKey: NK, nodeKeyProof: PROOF, endpoints: ['192.0.2.1:41641', '[2001:db8::1]:5'] }))).toMatchObject({ type: 'map' });
    expect(parseClientMessage(JSON.stringify({ type: 'logout', nodeKey: NK, nodeKeyProof: PROOF }))).toMatchObject({ type: 'logout' });
    expect(parseClientMessage('{"type":"update","endpoints":[]}')).toEqual({ type: 'update', endpoints: [] });
  });

  it.each([
    { name: 'not JSON', text: '{' },
    { name: 'array', text: '[]' },
    { name: 'unknown type', text: '{"type":"steal"}' },
    { name: 'bad node key', text: JSON.stringify({ ...REGISTER, nodeKey: 'nodekey:zz' }) },
    { name: 'missing proof', text: JSON.stringify({ ...REGISTER, nodeKeyProof: undefined }) },
    { name: 'hostinfo without os', text: JSON.stringify({ ...REGISTER, hostinfo: {} }) },
    { name: 'tags not strings', text: JSON.stringify({ ...REGISTER, requestTags: [1] }) },
    { name: 'endpoint port 0', text: JSON.stringify({ type: 'map', nodeKey: NK, nodeKeyProof: PROOF, endpoints: ['192.0.2.1:0'] }) },
    { name: 'endpoint junk', text: JSON.stringify({ type: 'map', nodeKey: NK, nodeKeyProof: PROOF, endpoints: ['evil.example:80'] }) },
  ])('rejects $name with a reason', ({ text }) => {
    expect(typeof parseClientMessage(text)).toBe('string');
  });

  it('never throws on mutated input (fuzz)', () => {
    const seeds = [JSON.stringify(REGISTER), JSON.stringify({ type: 'map', nodeKey: NK, nodeKeyProof: PROOF, endpoints: ['1.2.3.4:5'], hostinfo: { os: 'x' } })];
    for (let i = 0; i < 5000; i++) {
      const s = seeds[i % 2].split('');
      for (let k = 0; k < 1 + (i % 5); k++) {
        const at = Math.floor(Math.random() * s.length);
        const op = Math.random();
        if (op < 0.4) s.splice(at, 1);
        else if (op < 0.8) s[at] = String.fromCharCode(Math.floor(Math.random() * 128));
        else s.splice(at, 0, '{}[]",:0'[Math.floor(Math.random() * 8)]);
      }
      const text = s.join('');
      expect(() => parseClientMessage(text)).not.toThrow();
      expect(() => parseServerMessage(text)).not.toThrow();
    }
  });
});

describe('fields', () => {
  it.each([
    ['My Laptop!', 'my-laptop'],
    ['', 'node'],
    ['---', 'node'],
    ['a'.repeat(80), 'a'.repeat(63)],
    ['db_1.prod', 'db-1-prod'],
  ])('sanitizes hostname %j → %j', (inp, out) => {
    expect(sanitizeHostname(inp)).toBe(out);
  });

  it('bounds hostinfo and endpoints', () => {
    expect(parseHostinfo({ os: 'linux', extra: 1 })).toEqual({ hostname: '', os: 'linux' });
    expect(parseHostinfo({ os: 'x'.repeat(65) })).toBeNull();
    expect(parseEndpoints(Array.from({ length: 65 }, () => '1.2.3.4:5'))).toBeNull();
  });

  it('server messages: error and netmap shapes', () => {
    expect(parseServerMessage('{"type":"error","code":"x","message":"m"}')).toEqual({ type: 'error', code: 'x', message: 'm' });
    expect(parseServerMessage('{"type":"netmap","netmap":{}}')).toBeNull();
    expect(parseServerMessage('{"type":"keepalive","junk":1}')).toEqual({ type: 'keepalive' });
  });
});
