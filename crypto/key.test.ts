// Key generation and text forms.
import { describe, expect, it } from 'vitest';
import { GrantwireError } from '../types/errors.js';
import { bytesToHex, hexToBytes } from './bytes.js';
import { generatePresharedKey, generatePrivateKey, keyFromBase64, keyFromHex, keysEqual, keyToBase64, keyToHex, publicKeyFromPrivate } from './key.js';

describe('keys', () => {
  it('generates clamped private keys and derives public keys (RFC 7748 §6.1)', () => {
    const k = generatePrivateKey();
    expect(k.length).toBe(32);
    expect(k[0] & 7).toBe(0);
    expect(k[31] & 0xc0).toBe(0x40);
    expect(generatePresharedKey().length).toBe(32);
    expect(bytesToHex(publicKeyFromPrivate(hexToBytes('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')))).toBe(
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
  });

  it('round-trips base64 and hex', () => {
    const k = generatePrivateKey();
    expect(keyFromBase64(keyToBase64(k))).toEqual(k);
    expect(keyFromHex(keyToHex(k))).toEqual(k);
    expect(keyFromHex(keyToHex(k).toUpperCase())).toEqual(k);
    expect(keyFromBase64(` ${keyToBase64(k)}\n`)).toEqual(k);
    expect(keysEqual(k, Uint8Array.from(k))).toBe(true);
    expect(keysEqual(k, generatePrivateKey())).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['short', 'AAAA'],
    ['43 chars, no padding', 'A'.repeat(43)],
    ['bad last char (non-canonical)', `${'A'.repeat(42)}B=`],
    ['not base64', `${'*'.repeat(43)}=`],
  ])('keyFromBase64 rejects %s', (_n, s) => {
    expect(() => keyFromBase64(s)).toThrow(GrantwireError);
  });

  it.each([
    ['short', 'ab'],
    ['65 digits', 'a'.repeat(65)],
    ['non-hex', 'g'.repeat(64)],
  ])('keyFromHex rejects %s', (_n, s) => {
    expect(() => keyFromHex(s)).toThrow(/expected 64 hex digits/);
  });

  it('rejects wrong-length keys and never echoes a full secret', () => {
    expect(() => keyToBase64(new Uint8Array(31))).toThrow(GrantwireError);
    expect(() => publicKeyFromPrivate(new Uint8Array(33))).toThrow(GrantwireError);
    const secretish = `${'Q'.repeat(40)}zz`;
    try {
      keyFromBase64(secretish);
    } catch (e) {
      expect((e as Error).message).not.toContain(secretish);
      expect((e as GrantwireError).code).toBe('ERR_WG_BAD_KEY');
    }
  });
});
