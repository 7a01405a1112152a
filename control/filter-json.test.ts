import { describe, expect, it } from 'vitest';
import type { FilterRule } from '../types/filter-rule.js';
import { rulesJson } from './filter-json.js';

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
});
