// X25519 keys: 32 raw bytes, their role (node, machine, disco; public or private) and their text forms.
// Role-free forms are base64 (wg-quick files, `wg genkey`) and bare hex (the UAPI, control's key at
// GET /key); role forms are `nodekey:<hex>` and friends (below). Parsing local input (config files, CLI
// flags, state files) throws GrantwireError (ERR_WG_BAD_KEY for the role-free forms, ERR_KEY_TEXT for the
// role forms); untrusted input goes through tryParse, which returns null. Private keys are clamped on
// generation like `wg genkey` does. Equality is constant-time (timingSafeEqual).
import { randomBytes } from 'node:crypto';
import { GrantwireError } from '../types/errors.js';
import { ctEqual, hexToBytes } from './bytes.js';
import { KEY_SIZE } from './sizes.js';
import { defaultCrypto } from './backend.js';

/** A fresh clamped X25519 private key. */
export function generatePrivateKey(): Uint8Array {
  const k = new Uint8Array(randomBytes(KEY_SIZE));
  clampPrivateKey(k);
  return k;
}

/** Applies RFC 7748 clamping in place (X25519 clamps anyway; this makes the stored form canonical). */
export function clampPrivateKey(k: Uint8Array): Uint8Array {
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

/** A 32-byte random preshared key (`wg genpsk`). */
export function generatePresharedKey(): Uint8Array {
  return new Uint8Array(randomBytes(KEY_SIZE));
}

export function publicKeyFromPrivate(priv: Uint8Array): Uint8Array {
  checkKeyLength(priv, 'private key');
  return Uint8Array.from(defaultCrypto().importPrivateKey(priv).publicKey);
}

export function keyToBase64(k: Uint8Array): string {
  checkKeyLength(k, 'key');
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('base64');
}

const B64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export function keyFromBase64(s: string): Uint8Array {
  const t = s.trim();
  if (!B64_KEY.test(t)) {
    throw new GrantwireError('ERR_WG_BAD_KEY', `invalid key: expected 44 characters of base64 for 32 bytes, got ${JSON.stringify(redact(t))}`);
  }
  return new Uint8Array(Buffer.from(t, 'base64'));
}

export function keyToHex(k: Uint8Array): string {
  checkKeyLength(k, 'key');
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('hex');
}

export function keyFromHex(s: string): Uint8Array {
  const t = s.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(t)) {
    throw new GrantwireError('ERR_WG_BAD_KEY', `invalid key: expected 64 hex digits, got ${t.length} characters`);
  }
  return new Uint8Array(Buffer.from(t, 'hex'));
}

/** Constant-time equality of two keys (false when the lengths differ). */
export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  return ctEqual(a, b);
}

/** Throws GrantwireError ERR_WG_BAD_KEY unless `k` is 32 bytes (local misuse: config, arguments). */
export function checkKeyLength(k: Uint8Array, what: string): void {
  if (!(k instanceof Uint8Array) || k.length !== KEY_SIZE) {
    throw new GrantwireError('ERR_WG_BAD_KEY', `invalid ${what}: expected ${KEY_SIZE} bytes, got ${k?.length ?? 'none'}`);
  }
}

// Never echo what might be a secret key into an error message: show its length and first characters only.
function redact(s: string): string {
  return s.length <= 6 ? s : `${s.slice(0, 4)}… (${s.length} chars)`;
}

// --- Keys by role -------------------------------------------------------------------------------------
// The same 32 bytes play different roles: a node key (the WireGuard key peers know a node by), a machine
// key (the Noise static key a device authenticates to control with), a disco key (reserved for peer path
// discovery; no private text form is defined for it yet). A role is a compile-time brand on a plain
// Uint8Array, so the hot path keeps passing bytes (no wrapper object, no copy) while APIs that take "a
// node key" refuse a machine key.
//
// Text forms, as stored in state files and sent in the control protocol (they must not change):
//   node public `nodekey:<hex>`, machine public `mkey:<hex>`, disco public `discokey:<hex>`, relay public
//   `relaykey:<hex>`, and the private keys `privkey:<hex>` (the agent's node.key and machine.key files, a
//   standalone relay's key file). Hex is 64 digits; parsing
//   accepts either case, text() writes lowercase, isCanonical() accepts exactly what text() writes.

declare const ROLE: unique symbol;

export type KeyRole = 'NodePublic' | 'NodePrivate' | 'MachinePublic' | 'MachinePrivate' | 'DiscoPublic' | 'RelayPublic' | 'RelayPrivate';

/** 32 key bytes known to play `R`; a plain Uint8Array at run time. */
export type RoleKey<R extends KeyRole> = Uint8Array & { readonly [ROLE]: R };

export type NodePublic = RoleKey<'NodePublic'>;
export type NodePrivate = RoleKey<'NodePrivate'>;
export type MachinePublic = RoleKey<'MachinePublic'>;
export type MachinePrivate = RoleKey<'MachinePrivate'>;
export type DiscoPublic = RoleKey<'DiscoPublic'>;
export type RelayPublic = RoleKey<'RelayPublic'>;
export type RelayPrivate = RoleKey<'RelayPrivate'>;

/** The operations of one role: branding, text form, parsing. */
export interface KeyForm<R extends KeyRole> {
  readonly role: R;
  /** The text prefix, e.g. `nodekey:`. */
  readonly prefix: string;
  /** Brands 32 bytes as this role (no copy); throws ERR_WG_BAD_KEY on another length. */
  of(bytes: Uint8Array): RoleKey<R>;
  /** `<prefix><64 lowercase hex digits>`. */
  text(key: Uint8Array): string;
  /** Parses the text form (local input: config, state files, CLI); throws GrantwireError ERR_KEY_TEXT. */
  parse(text: string): RoleKey<R>;
  /** Parses the text form of untrusted input (control, LocalAPI): null instead of an error. */
  tryParse(text: string): RoleKey<R> | null;
  /** Exactly what text() writes (lowercase hex): for wire validation that must not accept variants. */
  isCanonical(text: unknown): text is string;
}

/** A private-key role: also generates keys and derives the matching public key. */
export interface PrivateKeyForm<R extends KeyRole, P extends KeyRole> extends KeyForm<R> {
  generate(): RoleKey<R>;
  publicKey(priv: Uint8Array): RoleKey<P>;
}

const HEX_DIGITS = KEY_SIZE * 2;

function keyForm<R extends KeyRole>(role: R, prefix: string, what: string, secret: boolean): KeyForm<R> {
  const anyCase = new RegExp(`^${prefix}[0-9a-fA-F]{${HEX_DIGITS}}$`);
  const canonical = new RegExp(`^${prefix}[0-9a-f]{${HEX_DIGITS}}$`);
  const of = (bytes: Uint8Array): RoleKey<R> => {
    checkKeyLength(bytes, what);
    return bytes as RoleKey<R>;
  };
  const tryParse = (text: string): RoleKey<R> | null =>
    typeof text === 'string' && anyCase.test(text) ? (hexToBytes(text.slice(prefix.length)) as RoleKey<R>) : null;
  return {
    role,
    prefix,
    of,
    text: (key) => `${prefix}${keyToHex(key)}`,
    tryParse,
    parse(text) {
      const t = typeof text === 'string' ? text.trim() : '';
      const k = tryParse(t);
      if (k) return k;
      // A private key's text is a secret: say what is wrong without echoing it. Public keys are shown.
      const got = secret
        ? `${t.length} characters${t.startsWith(prefix) ? ` starting with ${prefix}` : ''}`
        : JSON.stringify(t.length > 80 ? `${t.slice(0, 80)}…` : t);
      throw new GrantwireError('ERR_KEY_TEXT', `invalid ${what}: expected "${prefix}" and ${HEX_DIGITS} hex digits, got ${got}`);
    },
    isCanonical: (text): text is string => typeof text === 'string' && canonical.test(text),
  };
}

function privateForm<R extends KeyRole, P extends KeyRole>(role: R, prefix: string, what: string, pub: KeyForm<P>): PrivateKeyForm<R, P> {
  return {
    ...keyForm(role, prefix, what, true),
    generate: () => generatePrivateKey() as RoleKey<R>,
    publicKey: (priv) => pub.of(publicKeyFromPrivate(priv)),
  };
}

export const NodePublic: KeyForm<'NodePublic'> = keyForm('NodePublic', 'nodekey:', 'node public key', false);
export const MachinePublic: KeyForm<'MachinePublic'> = keyForm('MachinePublic', 'mkey:', 'machine public key', false);
export const DiscoPublic: KeyForm<'DiscoPublic'> = keyForm('DiscoPublic', 'discokey:', 'disco public key', false);
export const NodePrivate: PrivateKeyForm<'NodePrivate', 'NodePublic'> = privateForm('NodePrivate', 'privkey:', 'node private key', NodePublic);
export const MachinePrivate: PrivateKeyForm<'MachinePrivate', 'MachinePublic'> = privateForm('MachinePrivate', 'privkey:', 'machine private key', MachinePublic);
/** A relay server's static key: agents pin the public half from the netmap's relay map (relay/auth.ts). */
export const RelayPublic: KeyForm<'RelayPublic'> = keyForm('RelayPublic', 'relaykey:', 'relay public key', false);
export const RelayPrivate: PrivateKeyForm<'RelayPrivate', 'RelayPublic'> = privateForm('RelayPrivate', 'privkey:', 'relay private key', RelayPublic);
