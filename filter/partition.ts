// Elementary-interval partition of one address family: given labelled address intervals, split the
// address space at every interval edge and give each piece the class of the set of labels covering it.
// This is how the compiler turns "which rules mention this address" into one small integer per address,
// so the packet path never looks at individual rules.

export interface LabelledSpan {
  lo: bigint;
  hi: bigint;
  label: number;
}

export interface Partition {
  /** starts[i] is the first address of piece i; starts[0] = 0; pieces are contiguous. */
  starts: bigint[];
  /** Class of each piece (as returned by `classify`); adjacent pieces never share a class. */
  values: number[];
}

/**
 * Sweeps the spans in address order. `classify` receives the sorted, de-duplicated labels covering a
 * piece (the same array contents for the same set) and returns its class id; it is called once per
 * distinct set thanks to the memo, which keeps the cost near-linear for realistic rule sets.
 */
export function partitionSpans(spans: LabelledSpan[], max: bigint, classify: (labels: number[]) => number): Partition {
  const events: { pos: bigint; label: number; delta: number }[] = [];
  for (const s of spans) {
    events.push({ pos: s.lo, label: s.label, delta: 1 });
    if (s.hi < max) events.push({ pos: s.hi + 1n, label: s.label, delta: -1 });
  }
  events.sort((a, b) => (a.pos < b.pos ? -1 : a.pos > b.pos ? 1 : 0));
  const memo = new Map<string, number>();
  const counts = new Map<number, number>();
  const classOf = (): number => {
    const labels = [...counts.keys()].sort((a, b) => a - b);
    const key = labels.join(',');
    let v = memo.get(key);
    if (v === undefined) {
      v = classify(labels);
      memo.set(key, v);
    }
    return v;
  };
  const starts: bigint[] = [];
  const values: number[] = [];
  let i = 0;
  let pos = 0n;
  for (;;) {
    while (i < events.length && events[i].pos === pos) {
      const e = events[i++];
      const c = (counts.get(e.label) ?? 0) + e.delta;
      if (c === 0) counts.delete(e.label);
      else counts.set(e.label, c);
    }
    const v = classOf();
    if (values.length === 0 || values[values.length - 1] !== v) {
      starts.push(pos);
      values.push(v);
    }
    if (i >= events.length) break;
    pos = events[i].pos;
  }
  return { starts, values };
}
