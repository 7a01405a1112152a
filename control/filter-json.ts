// JSON for compiled filters, byte-identical to JSON.stringify but fast at scale. The policy compiler shares
// one frozen SrcIPs array between every node a grant reaches (policy/compiler.ts: "rules share immutable
// arrays"), and in a large tailnet those arrays dominate the output: serializing 10,000 nodes' filters
// spent most of its time re-stringifying the same few thousand-address lists. Frozen arrays are therefore
// serialized once and memoized by identity; anything not frozen is stringified as usual, so a compiler
// that stopped freezing would only lose the speed-up, never correctness.
import type { FilterRule } from '../types/filter-rule.js';

const memo = new WeakMap<object, string>();

function arrayJson(v: readonly unknown[]): string {
  if (!Object.isFrozen(v)) return JSON.stringify(v);
  let s = memo.get(v);
  if (s === undefined) {
    s = JSON.stringify(v);
    memo.set(v, s);
  }
  return s;
}

function ruleJson(r: FilterRule): string {
  let out = '{';
  let first = true;
  for (const k of Object.keys(r)) {
    const v = (r as unknown as Record<string, unknown>)[k];
    if (v === undefined || typeof v === 'function') continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${k === 'SrcIPs' && Array.isArray(v) ? arrayJson(v) : JSON.stringify(v)}`;
    first = false;
  }
  return out + '}';
}

/** Same text as JSON.stringify(rules). */
export function rulesJson(rules: readonly FilterRule[]): string {
  let out = '[';
  for (let i = 0; i < rules.length; i++) out += (i === 0 ? '' : ',') + ruleJson(rules[i]);
  return out + ']';
}
