// Device posture conditions (policy.md, "Posture conditions"): `<attribute> <op> <value>`, parsed once at
// policy load and evaluated per source node. An unset attribute fails every condition except `NOT SET`
// (deny by default); a custom attribute whose expiry has passed counts as unset.
import type { PostureValue } from '../types/tailnet.js';

export type PostureOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'IN' | 'NOT IN' | 'IS SET' | 'NOT SET';

export interface PostureCondition {
  attr: string;
  op: PostureOp;
  /** Literal for comparisons; a list for IN / NOT IN; absent for IS SET / NOT SET. */
  value?: PostureValue | PostureValue[];
  text: string;
}

/** The `node:` attributes Tailscale defines that our agent reports. */
export const NODE_ATTRIBUTES = ['node:os', 'node:osVersion', 'node:tsVersion', 'node:tsReleaseTrack', 'node:tsAutoUpdate'];

const ATTR_RE = /^(node:[A-Za-z]+|custom:[A-Za-z0-9][A-Za-z0-9_.-]*)\s*/;
const OP_RE = /^(==|!=|<=|>=|<|>|NOT\s+IN\b|IN\b|IS\s+SET\b|NOT\s+SET\b)\s*/;

/** Parses one literal at the start of `s`: 'quoted', a number, true or false. */
function literal(s: string): { value: PostureValue; rest: string } | null {
  let m = /^'([^']*)'\s*/.exec(s);
  if (m) return { value: m[1], rest: s.slice(m[0].length) };
  m = /^(-?[0-9]+(?:\.[0-9]+)?)(?![0-9A-Za-z.])\s*/.exec(s);
  if (m) return { value: Number(m[1]), rest: s.slice(m[0].length) };
  m = /^(true|false)\b\s*/.exec(s);
  if (m) return { value: m[1] === 'true', rest: s.slice(m[0].length) };
  return null;
}

/** Parses a condition; returns an error message instead of throwing. */
export function parsePostureCondition(text: string): { ok: true; value: PostureCondition } | { ok: false; message: string } {
  const bad = (why: string) => ({ ok: false as const, message: `bad posture condition ${JSON.stringify(text)}: ${why}` });
  let s = text.trim();
  const am = ATTR_RE.exec(s);
  if (!am) return bad('expected an attribute like node:os or custom:name');
  const attr = am[1];
  if (attr.startsWith('node:') && !NODE_ATTRIBUTES.includes(attr)) {
    return bad(`unknown attribute ${attr} (known: ${NODE_ATTRIBUTES.join(', ')}, custom:<name>)`);
  }
  s = s.slice(am[0].length);
  const om = OP_RE.exec(s);
  if (!om) return bad("expected an operator (==, !=, <, <=, >, >=, IN, NOT IN, IS SET, NOT SET)");
  const op = om[1].replace(/\s+/g, ' ') as PostureOp;
  s = s.slice(om[0].length);
  if (op === 'IS SET' || op === 'NOT SET') {
    if (s.length > 0) return bad(`unexpected ${JSON.stringify(s)} after ${op}`);
    return { ok: true, value: { attr, op, text } };
  }
  if (op === 'IN' || op === 'NOT IN') {
    if (!s.startsWith('[')) return bad(`${op} needs a list like ['a', 'b']`);
    s = s.slice(1).trimStart();
    const list: PostureValue[] = [];
    while (!s.startsWith(']')) {
      const lit = literal(s);
      if (!lit) return bad('expected a quoted string, number or boolean in the list');
      list.push(lit.value);
      s = lit.rest;
      if (s.startsWith(',')) s = s.slice(1).trimStart();
      else if (!s.startsWith(']')) return bad("expected ',' or ']' in the list");
    }
    s = s.slice(1).trim();
    if (s.length > 0) return bad(`unexpected ${JSON.stringify(s)} after the list`);
    if (list.length === 0) return bad(`${op} needs a non-empty list`);
    return { ok: true, value: { attr, op, value: list, text } };
  }
  const lit = literal(s);
  if (!lit) return bad("expected a value: a 'quoted string', a number, true or false");
  if (lit.rest.length > 0) return bad(`unexpected ${JSON.stringify(lit.rest)} after the value`);
  if ((op === '<' || op === '<=' || op === '>' || op === '>=') && typeof lit.value === 'boolean') {
    return bad(`${op} compares numbers or versions, not booleans`);
  }
  if ((op === '<' || op === '<=' || op === '>' || op === '>=') && typeof lit.value === 'string' && !/^[0-9]+(\.[0-9]+)*$/.test(lit.value)) {
    return bad(`${op} compares numbers or dotted versions like '1.40', got '${lit.value}'`);
  }
  return { ok: true, value: { attr, op, value: lit.value, text } };
}

function equal(a: PostureValue, b: PostureValue): boolean {
  if (typeof a === typeof b) return a === b;
  return String(a) === String(b);
}

/** Compares numbers numerically and dotted versions per component (`1.10.0 > 1.9.3`); null if incomparable. */
export function compareVersions(a: PostureValue, b: PostureValue): number | null {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' || typeof b === 'boolean') return null;
  const pa = String(a).split('.');
  const pb = String(b).split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '0';
    const y = pb[i] ?? '0';
    // a component like "40-rc1" compares by its leading number; no number at all is incomparable
    const nx = /^[0-9]+/.exec(x);
    const ny = /^[0-9]+/.exec(y);
    if (!nx || !ny) return null;
    const d = Number(nx[0]) - Number(ny[0]);
    if (d !== 0) return d;
  }
  return 0;
}

/** Evaluates one condition against an attribute value (undefined = unset or expired). */
export function evalCondition(c: PostureCondition, value: PostureValue | undefined): boolean {
  if (c.op === 'IS SET') return value !== undefined;
  if (c.op === 'NOT SET') return value === undefined;
  if (value === undefined) return false;
  const lit = c.value;
  switch (c.op) {
    case '==':
      return equal(value, lit as PostureValue);
    case '!=':
      return !equal(value, lit as PostureValue);
    case 'IN':
      return (lit as PostureValue[]).some((v) => equal(value, v));
    case 'NOT IN':
      return !(lit as PostureValue[]).some((v) => equal(value, v));
    default: {
      const d = compareVersions(value, lit as PostureValue);
      if (d === null) return false;
      return c.op === '<' ? d < 0 : c.op === '<=' ? d <= 0 : c.op === '>' ? d > 0 : d >= 0;
    }
  }
}
