// JSON for compiled filters, byte-identical to JSON.stringify but fast at scale. The policy compiler shares
// one frozen SrcIPs array between every node a grant reaches (policy/compiler.ts: "rules share immutable
// arrays"), and in a large tailnet those arrays dominate the output: serializing 10,000 nodes' filters
// spent most of its time re-stringifying the same few thousand-address lists. Frozen arrays are therefore
// serialized once and memoized by identity; anything not frozen is stringified as usual, so a compiler
// that stopped freezing would only lose the speed-up, never correctness.
// A node's filter is re-serialized rule by rule against its previous version (rulesJson's `prev`): after a
// node joins, the compiler hands an affected node the same frozen rule objects for every rule whose inputs
// did not change, so only the few rules that did are formatted. (A global WeakMap keyed by rule was tried
// and measured: its ~230,000 entries made every full compile ~2x slower through GC ephemeron work.)
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

function formatRule(r: FilterRule): string {
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

/** A node's previous rules and the JSON text of each, index-aligned. */
export interface RulesText {
  rules: readonly FilterRule[];
  json: readonly string[];
}

/**
 * Same text as JSON.stringify(rules). With `prev`, a frozen rule that was in the previous version reuses its
 * text; `parts` receives each rule's text (for the next call's `prev`).
 */
export function rulesJson(rules: readonly FilterRule[], prev?: RulesText, parts?: string[]): string {
  let byRule: Map<FilterRule, string> | null = null;
  let out = '[';
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    let s: string | undefined;
    if (prev !== undefined && Object.isFrozen(r)) {
      if (i < prev.rules.length && prev.rules[i] === r) s = prev.json[i];
      else {
        if (byRule === null) {
          byRule = new Map();
          for (let k = 0; k < prev.rules.length; k++) byRule.set(prev.rules[k], prev.json[k]);
        }
        s = byRule.get(r);
      }
    }
    if (s === undefined) s = formatRule(r);
    if (parts !== undefined) parts[i] = s;
    out += (i === 0 ? '' : ',') + s;
  }
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
