// Posture conditions: parsing, and evaluation including the unset/expired rule (deny by default).
import { describe, expect, it } from 'vitest';
import type { TailnetNode } from '../types/tailnet.js';
import { postureValue } from './node-index.js';
import { compareVersions, evalCondition, parsePostureCondition } from './posture.js';

function cond(text: string) {
  const c = parsePostureCondition(text);
  if (!c.ok) throw new Error(c.message);
  return c.value;
}

describe('evaluation', () => {
  it.each([
    { c: "node:os == 'linux'", v: 'linux', want: true },
    { c: "node:os == 'linux'", v: 'macos', want: false },
    { c: "node:os != 'linux'", v: 'macos', want: true },
    { c: "node:os != 'linux'", v: undefined, want: false },
    { c: "node:os IN ['linux', 'macos']", v: 'macos', want: true },
    { c: "node:os IN ['linux','macos']", v: 'ios', want: false },
    { c: "node:os NOT IN ['ios']", v: 'linux', want: true },
    { c: "node:os NOT IN ['ios']", v: undefined, want: false },
    { c: 'node:os IS SET', v: 'x', want: true },
    { c: 'node:os IS SET', v: undefined, want: false },
    { c: 'node:os NOT SET', v: undefined, want: true },
    { c: 'node:os NOT SET', v: 'x', want: false },
    { c: "node:tsVersion >= '1.40'", v: '1.40.0', want: true },
    { c: "node:tsVersion >= '1.40'", v: '1.9.3', want: false },
    { c: "node:tsVersion > '1.9.3'", v: '1.10.0', want: true },
    { c: "node:tsVersion < '1.10'", v: '1.9.9', want: true },
    { c: "node:tsVersion <= '1.10'", v: '1.10', want: true },
    { c: "node:tsVersion >= '1.40'", v: undefined, want: false },
    { c: "node:tsVersion >= '1.40'", v: 'beta', want: false },
    { c: 'custom:score > 5', v: 7, want: true },
    { c: 'custom:score > 5', v: 5, want: false },
    { c: 'custom:jit == true', v: true, want: true },
    { c: 'custom:jit == true', v: 'true', want: true },
    { c: 'custom:jit == true', v: false, want: false },
    { c: 'node:tsAutoUpdate == false', v: false, want: true },
  ])('$c with $v → $want', ({ c, v, want }) => expect(evalCondition(cond(c), v)).toBe(want));

  it('compares versions per component', () => {
    expect(compareVersions('1.10.0', '1.9.3')).toBeGreaterThan(0);
    expect(compareVersions('1.40', '1.40.0')).toBe(0);
    expect(compareVersions('x', '1')).toBeNull();
  });

  it('an expired custom attribute is unset; before expiry it is set', () => {
    const node: TailnetNode = { name: 'n', tags: [], ips: [], posture: { 'custom:jit': true }, postureExpiry: { 'custom:jit': 100 } };
    expect(postureValue(node, 'custom:jit', 99)).toBe(true);
    expect(postureValue(node, 'custom:jit', 100)).toBeUndefined();
    expect(evalCondition(cond('custom:jit NOT SET'), postureValue(node, 'custom:jit', 100))).toBe(true);
  });
});

describe('parse errors', () => {
  it.each([
    ["node:os = 'linux'", 'expected an operator'],
    ["os == 'linux'", 'expected an attribute'],
    ["node:colour == 'red'", 'unknown attribute node:colour'],
    ['node:os == linux', 'expected a value'],
    ["node:os IN 'linux'", 'needs a list'],
    ["node:os IN ['a' 'b']", "expected ',' or ']'"],
    ['node:os IN []', 'non-empty list'],
    ["node:os == 'a' extra", 'unexpected'],
    ['node:os IS SET now', 'unexpected'],
    ["node:tsVersion >= 'latest'", 'dotted versions'],
    ['custom:x < true', 'not booleans'],
  ])('%s', (text, msg) => {
    const c = parsePostureCondition(text);
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.message).toContain(msg);
  });
});
