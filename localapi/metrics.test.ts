import { describe, expect, it } from 'vitest';
import { formatMetrics } from './metrics.js';

describe('formatMetrics', () => {
  it('renders HELP, TYPE and labelled samples with escaping', () => {
    const text = formatMetrics([
      { name: 'grantwire_filter_drops_total', help: 'Dropped packets by reason.', type: 'counter', samples: [{ labels: { reason: 'no_rule' }, value: 3 }, { labels: { reason: 'a"b\\c\nd' }, value: 0 }] },
      { name: 'grantwire_peers', help: 'Peers.', type: 'gauge', samples: [{ value: 2 }] },
    ]);
    expect(text).toBe(
      '# HELP grantwire_filter_drops_total Dropped packets by reason.\n# TYPE grantwire_filter_drops_total counter\n' +
        'grantwire_filter_drops_total{reason="no_rule"} 3\ngrantwire_filter_drops_total{reason="a\\"b\\\\c\\nd"} 0\n' +
        '# HELP grantwire_peers Peers.\n# TYPE grantwire_peers gauge\ngrantwire_peers 2\n',
    );
  });
  it('rejects bad names', () => {
    expect(() => formatMetrics([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }])).toThrow();
    expect(() => formatMetrics([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': 'x' }, value: 1 }] }])).toThrow();
  });
});
