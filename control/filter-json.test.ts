import { describe, expect, it } from 'vitest';
import type { FilterRule } from '../types/filter-rule.js';
import { originsJson, rulesJson } from './filter-json.js';

describe('rulesJson', () => {
  it('matches JSON.stringify exactly, for shared frozen and plain arrays alike', () => {
    const shared = Object.freeze(['100.64.0.1', 'fd7a:115c:a1e0::1']) as string[];
    const rules: FilterRule[] = [
      { SrcIPs: shared, DstPorts: [{ IP: '100.64.0.3', Ports: { First: 443, Last: 443 } }], IPProto: [6] },
      { SrcIPs: shared, CapGrant: [{ Dsts: ['100.64.0.3/32'], CapMap: { 'example.com/cap/x': [{ a: '"quoted"\n' }] } }] },
      { SrcIPs: ['*'], DstPorts: [], IPProto: undefined },
      { SrcIPs: [] },
    ];
    expect(rulesJson(rules)).toBe(JSON.stringify(rules));
    expect(rulesJson(rules)).toBe(JSON.stringify(rules)); // memoized second time
    expect(rulesJson([])).toBe('[]');
  });

  it('never serves a stale memo for an array that is not frozen', () => {
    const src = ['100.64.0.1'];
    const rules: FilterRule[] = [{ SrcIPs: src, DstPorts: [] }];
    expect(rulesJson(rules)).toBe(JSON.stringify(rules));
    src.push('100.64.0.2');
    expect(rulesJson(rules)).toBe(JSON.stringify(rules));
  });

  it('reuses the text of a frozen rule from the previous version, wherever it moved', () => {
    const frozen = Object.freeze({ SrcIPs: Object.freeze(['100.64.0.1']) as string[], DstPorts: Object.freeze([{ IP: '100.64.0.2', Ports: { First: 22, Last: 22 } }]) as FilterRule['DstPorts'] }) as FilterRule;
    const plain: FilterRule = { SrcIPs: ['100.64.0.3'], DstPorts: [] };
    const json: string[] = [];
    const first = rulesJson([frozen, plain], undefined, json);
    expect(first).toBe(JSON.stringify([frozen, plain]));
    expect(json).toEqual([JSON.stringify(frozen), JSON.stringify(plain)]);
    plain.DstPorts = [{ IP: '100.64.0.2', Ports: { First: 80, Last: 80 } }]; // not frozen: formatted again
    const other = Object.freeze({ SrcIPs: ['*'], DstPorts: [] }) as FilterRule;
    const next: string[] = [];
    expect(rulesJson([plain, other, frozen], { rules: [frozen, plain], json }, next)).toBe(JSON.stringify([plain, other, frozen]));
    expect(next[2]).toBe(json[0]);
    // a stale text for a rule object is never served for a different object
    expect(rulesJson([other], { rules: [frozen], json: ['{"bogus":1}'] })).toBe(JSON.stringify([other]));
  });

  it('originsJson matches JSON.stringify for frozen and plain origins', () => {
    const a = Object.freeze({ kind: 'grant', index: 0, file: 'p.hujson', line: 3, col: 5 });
    const b = { kind: 'acl', index: 1, file: 'p "x".hujson', line: 9, col: 1 };
    expect(originsJson([a, b, a])).toBe(JSON.stringify([a, b, a]));
    b.line = 10;
    expect(originsJson([a, b, a])).toBe(JSON.stringify([a, b, a]));
    expect(originsJson([])).toBe('[]');
  });
});
