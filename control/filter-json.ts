// JSON for compiled filters, byte-identical to JSON.stringify but fast at scale. The policy compiler shares
// one frozen SrcIPs array between every node a grant reaches (policy/compiler.ts: "rules share immutable
// arrays"), and in a large tailnet those arrays dominate the output: serializing 10,000 nodes' filters
// spent most of its time re-stringifying the same few thousand-address lists. Frozen arrays are therefore
// serialized once and memoized by identity; anything not frozen is stringified as usual, so a compiler
// that stopped freezing would only lose the speed-up, never correctness.
// Frozen rules are memoized whole, too: after a node joins, the compiler hands an affected node the same
// frozen rule objects for every rule whose inputs did not change, so re-serializing its filter only
// formats the few rules that did (their contents are read-only by the compiler's contract). Any frozen
// array in a rule is memoized the same way: a rule whose sources changed keeps its DstPorts array.
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

const ruleMemo = new WeakMap<FilterRule, string>();

function ruleJson(r: FilterRule): string {
  if (!Object.isFrozen(r)) return formatRule(r);
  let s = ruleMemo.get(r);
  if (s === undefined) {
    s = formatRule(r);
    ruleMemo.set(r, s);
  }
  return s;
}

function formatRule(r: FilterRule): string {
  let out = '{';
  let first = true;
  for (const k of Object.keys(r)) {
    const v = (r as unknown as Record<string, unknown>)[k];
    if (v === undefined || typeof v === 'function') continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${Array.isArray(v) ? arrayJson(v) : JSON.stringify(v)}`;
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

const originMemo = new WeakMap<object, string>();

/** Same text as JSON.stringify(origins); frozen origins (one per grant, shared by its rules) memoized. */
export function originsJson(origins: readonly object[]): string {
  let out = '[';
  for (let i = 0; i < origins.length; i++) {
    const o = origins[i];
    let s = Object.isFrozen(o) ? originMemo.get(o) : undefined;
    if (s === undefined) {
      s = JSON.stringify(o);
      if (Object.isFrozen(o)) originMemo.set(o, s);
    }
    out += (i === 0 ? '' : ',') + s;
  }
  return out + ']';
}
