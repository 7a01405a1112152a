import { describe, expect, it } from 'vitest';
import { allocateHost, isAssignable, v4ForHost, v6ForHost, V4_HOST_COUNT } from './addresses.js';

describe('tailnet addresses', () => {
  it.each([
    { n: 1, v4: '100.64.0.1', v6: 'fd7a:115c:a1e0::1' },
    { n: 10, v4: '100.64.0.10', v6: 'fd7a:115c:a1e0::a' },
    { n: 256, v4: '100.64.1.0', v6: 'fd7a:115c:a1e0::100' },
    { n: 70000, v4: '100.65.17.112', v6: 'fd7a:115c:a1e0::1:1170' },
    { n: V4_HOST_COUNT - 2, v4: '100.127.255.254', v6: 'fd7a:115c:a1e0::3f:fffe' },
  ])('host $n → $v4 / $v6', ({ n, v4, v6 }) => {
    expect(v4ForHost(n)).toBe(v4);
    expect(v6ForHost(n)).toBe(v6);
  });

  it('never assigns the network or last address, 100.115.92.0/23 or 100.100.100.100', () => {
    expect(isAssignable(0)).toBe(false);
    expect(isAssignable(V4_HOST_COUNT - 1)).toBe(false);
    const start = (51 << 16) + (92 << 8);
    for (const n of [start, start + 1, start + 255, start + 256, start + 511]) {
      expect(isAssignable(n), v4ForHost(n)).toBe(false);
      expect(v4ForHost(n).startsWith('100.115.9')).toBe(true);
    }
    expect(isAssignable(start - 1)).toBe(true);
    expect(isAssignable(start + 512)).toBe(true);
    expect(v4ForHost(start + 512)).toBe('100.115.94.0');
    expect(isAssignable((36 << 16) + (100 << 8) + 100)).toBe(false);
  });

  it('allocates forward from the cursor, skipping used and reserved numbers, and wraps', () => {
    const used = new Set([1, 2, 4]);
    expect(allocateHost(1, (n) => used.has(n))).toBe(3);
    const start = (51 << 16) + (92 << 8);
    expect(allocateHost(start - 1, () => false)).toBe(start - 1);
    expect(allocateHost(start, () => false)).toBe(start + 512);
    expect(allocateHost(V4_HOST_COUNT - 2, (n) => n === V4_HOST_COUNT - 2)).toBe(1);
  });
});
