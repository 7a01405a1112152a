import { describe, expect, it } from 'vitest';
import { hashSecret, newSecret, parseSecret, redactSecrets, secretMatches } from './secrets.js';

describe('secrets', () => {
  it('creates gwkey-<id>-<secret> and stores only the hash of the secret', () => {
    const s = newSecret('gwkey');
    expect(s.text).toMatch(/^gwkey-[0-9a-f]{12}-[A-Za-z0-9_-]{32}$/);
    const p = parseSecret(s.text, 'gwkey');
    expect(p?.id).toBe(s.id);
    expect(s.hash).toBe(hashSecret(p!.secret));
    expect(s.hash).not.toContain(p!.secret);
    expect(secretMatches(p!.secret, s.hash)).toBe(true);
    expect(secretMatches(p!.secret + 'x', s.hash)).toBe(false);
    expect(secretMatches(p!.secret, 'abcd')).toBe(false);
  });

  it.each([
    { name: 'wrong kind', text: newSecret('gwapi').text },
    { name: 'empty', text: '' },
    { name: 'not a string', text: 42 },
    { name: 'short id', text: 'gwkey-abc-AAAAAAAAAAAAAAAAAAAA' },
    { name: 'bad chars', text: 'gwkey-0123456789ab-AAAA AAAAAAAAAAAAAAA' },
    { name: 'too long', text: `gwkey-0123456789ab-${'A'.repeat(200)}` },
  ])('rejects $name', ({ text }) => {
    expect(parseSecret(text, 'gwkey')).toBeNull();
  });

  it('never throws on random input (fuzz)', () => {
    for (let i = 0; i < 5000; i++) {
      const len = Math.floor(Math.random() * 80);
      const s = Array.from({ length: len }, () => String.fromCharCode(32 + Math.floor(Math.random() * 95))).join('');
      expect(() => parseSecret(s, 'gwkey')).not.toThrow();
      expect(() => parseSecret('gwkey-' + s, 'gwkey')).not.toThrow();
    }
  });

  it('redacts secrets in log text but keeps the id', () => {
    const s = newSecret('gwkey');
    const line = redactSecrets(`registering with ${s.text} now`);
    expect(line).toBe(`registering with gwkey-${s.id}-REDACTED now`);
    const t = newSecret('gwapi');
    expect(redactSecrets(`Bearer ${t.text}`)).not.toContain(parseSecret(t.text, 'gwapi')!.secret);
  });
});
