// Key generation, text forms (role-free base64/hex and the role forms nodekey:/mkey:/discokey:/privkey:),
// parsing errors and constant-time equality.
import { describe, expect, it } from 'vitest';
import { GrantwireError } from '../types/errors.js';
import { bytesToHex, hexToBytes } from './bytes.js';
import {
  DiscoPublic,
  MachinePrivate,
  MachinePublic,
  NodePrivate,
  NodePublic,
  generatePresharedKey,
  generatePrivateKey,
  keyFromBase64,
  keyFromHex,
  keysEqual,
  keyToBase64,
  keyToHex,
  publicKeyFromPrivate,
  type KeyForm,
  type KeyRole,
  type MachinePublic as MachinePublicKey,
  type NodePublic as NodePublicKey,
} from './key.js';

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

const HEX = '0a'.repeat(31) + 'ff';
const BYTES = hexToBytes(HEX);

describe('role text forms', () => {
  // The text forms are stored in state files and sent to control: these rows pin them.
  it.each<{ form: KeyForm<KeyRole>; text: string }>([
    { form: NodePublic, text: `nodekey:${HEX}` },
    { form: MachinePublic, text: `mkey:${HEX}` },
    { form: DiscoPublic, text: `discokey:${HEX}` },
    { form: NodePrivate, text: `privkey:${HEX}` },
    { form: MachinePrivate, text: `privkey:${HEX}` },
  ])('$form.role writes and reads $text', ({ form, text }) => {
    expect(form.text(BYTES)).toBe(text);
    expect(form.parse(text)).toEqual(BYTES);
    expect(form.tryParse(text)).toEqual(BYTES);
    expect(form.parse(` ${text.toUpperCase().replace(form.prefix.toUpperCase(), form.prefix)}\n`)).toEqual(BYTES);
    expect(form.isCanonical(text)).toBe(true);
    expect(form.of(BYTES)).toBe(BYTES); // a brand, not a copy
  });

  it.each([
    { name: 'no prefix', text: HEX },
    { name: 'other role', text: `mkey:${HEX}` },
    { name: 'short', text: 'nodekey:abc' },
    { name: 'non-hex', text: `nodekey:${'zz'.repeat(32)}` },
    { name: '65 digits', text: `nodekey:${HEX}0` },
    { name: 'empty', text: '' },
    { name: 'prefix only', text: 'nodekey:' },
    { name: 'inner space', text: `nodekey: ${HEX}` },
  ])('NodePublic rejects $name', ({ text }) => {
    expect(() => NodePublic.parse(text)).toThrow(JSON.stringify(text.trim()));
    expect(NodePublic.tryParse(text)).toBeNull();
    expect(NodePublic.isCanonical(text)).toBe(false);
    expect(() => NodePublic.parse(text)).toThrow(/invalid node public key: expected "nodekey:" and 64 hex digits, got/);
    try {
      NodePublic.parse(text);
    } catch (e) {
      expect((e as GrantwireError).code).toBe('ERR_KEY_TEXT');
    }
  });

  it('isCanonical refuses upper-case hex and non-strings (wire validation)', () => {
    expect(NodePublic.isCanonical(`nodekey:${HEX.toUpperCase()}`)).toBe(false);
    expect(NodePublic.tryParse(`nodekey:${HEX.toUpperCase()}`)).toEqual(BYTES);
    expect(NodePublic.isCanonical(42)).toBe(false);
    expect(MachinePublic.isCanonical(null)).toBe(false);
  });

  it('never echoes a private key into an error', () => {
    const secret = `privkey:${HEX.slice(0, 63)}`;
    try {
      NodePrivate.parse(secret);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain(HEX.slice(0, 20));
      expect((e as Error).message).toContain('71 characters starting with privkey:');
    }
  });

  it('of() refuses wrong lengths', () => {
    expect(() => NodePublic.of(new Uint8Array(31))).toThrow(GrantwireError);
  });

  it('private forms generate clamped keys and derive the public key of the same owner', () => {
    const priv = NodePrivate.generate();
    expect(priv[0] & 7).toBe(0);
    const pub: NodePublicKey = NodePrivate.publicKey(priv);
    expect(pub).toEqual(publicKeyFromPrivate(priv));
    const mpub: MachinePublicKey = MachinePrivate.publicKey(MachinePrivate.generate());
    expect(mpub.length).toBe(32);
    // @ts-expect-error a machine key is not a node key
    const wrong: NodePublicKey = mpub;
    expect(wrong).toBe(mpub);
  });
});

describe('keysEqual', () => {
  it.each([
    { name: 'same bytes, different arrays', a: BYTES, b: Uint8Array.from(BYTES), want: true },
    { name: 'last byte differs', a: BYTES, b: Uint8Array.from(BYTES, (x, i) => (i === 31 ? x ^ 1 : x)), want: false },
    { name: 'first byte differs', a: BYTES, b: Uint8Array.from(BYTES, (x, i) => (i === 0 ? x ^ 0x80 : x)), want: false },
    { name: 'different length', a: BYTES, b: BYTES.subarray(0, 31), want: false },
    { name: 'subarray views', a: new Uint8Array([9, ...BYTES]).subarray(1), b: BYTES, want: true },
  ])('$name', ({ a, b, want }) => {
    expect(keysEqual(a, b)).toBe(want);
  });
});
