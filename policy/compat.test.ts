// Compatibility with Tailscale (issue 11): every recorded case of testdata/compat/tailscale-dev.jsonl is
// compiled by us and compared semantically with what Tailscale's control plane produced (or must be
// rejected when Tailscale rejected it). Cases we knowingly differ on are listed below with the reason;
// the test fails when any other case fails, when a listed case starts passing (keep the list honest),
// or when fewer than 99% pass. COMPAT_VERBOSE=1 prints every failure's details.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCases, runCase, type CaseResult } from './testdata/compat/run-case.js';

/** Known differences: case name → why we differ. */
const KNOWN_FAILING: ReadonlyMap<string, string> = new Map<string, string>([]);

const cases = parseCases(readFileSync(join(import.meta.dirname, 'testdata/compat/tailscale-dev.jsonl'), 'utf8'));
const results = new Map<string, CaseResult>();

describe('Tailscale compatibility (development set)', () => {
  it.each(cases.map((c) => ({ name: c.name, c })))('$name', ({ c }) => {
    const r = runCase(c);
    results.set(c.name, r);
    if (process.env.COMPAT_VERBOSE === '1' && !r.ok) console.log(`FAIL ${c.name}\n${r.detail}\n`);
    if (KNOWN_FAILING.has(c.name)) expect(r.ok, `${c.name} passes now: remove it from KNOWN_FAILING`).toBe(false);
    else expect(r.ok, r.detail).toBe(true);
  });

  afterAll(() => {
    const passed = [...results.values()].filter((r) => r.ok).length;
    const rejected = cases.filter((c) => c.error !== undefined);
    const sameText = rejected.filter((c) => results.get(c.name)?.sameMessage).length;
    console.log(`Tailscale compatibility: ${passed}/${cases.length} cases equal (${((100 * passed) / cases.length).toFixed(1)}%); rejections with Tailscale's message text: ${sameText}/${rejected.length}`);
  });

  it('passes at least 99% and lists only cases that exist', () => {
    for (const name of KNOWN_FAILING.keys()) expect(cases.some((c) => c.name === name), name).toBe(true);
    expect(cases.length - KNOWN_FAILING.size).toBeGreaterThanOrEqual(Math.ceil(cases.length * 0.99));
  });
});
