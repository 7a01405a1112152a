// Fuzzing: random mutations of every testdata policy (byte-level and JSON-structure-level) and of the
// tailnet file must yield diagnostics or a policy, never an exception; a returned policy must compile
// and run its tests without throwing; diagnostics are well-formed and positioned inside the text.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../types/errors.js';
import { checkPolicy, parsePolicy, parseTailnet, PolicyCompiler } from './index.js';
import { rng } from './testdata/workload.js';

const LONG = process.env.GRANTWIRE_LONG === '1';
const DIR = join(import.meta.dirname, 'testdata');
const POLICIES = readdirSync(DIR)
  .filter((f) => f.endsWith('.hujson'))
  .map((f) => readFileSync(join(DIR, f), 'utf8'));
const TAILNET_TEXT = readFileSync(join(DIR, 'tailnet.json'), 'utf8');
const TAILNET = parseTailnet(TAILNET_TEXT, 'tailnet.json').tailnet!;

const ATOMS = ['{', '}', '[', ']', '"', ':', ',', '//', '/*', '*/', '\n', ' ', '\\', 'tag:', 'group:', 'autogroup:', '*', '0', '-', '/', '@', '\u0000', '\u2028', 'é', '💥'];
const STRINGS = [
  '*', 'tag:web', 'tag:nope', 'group:eng', 'autogroup:self', 'autogroup:danger-all', 'autogroup:internet', 'autogroup:x', 'icmp', 'icmp:*', 'tcp:0', 'tcp:65536',
  'tcp:9-1', 'udp:*', '0', '22', '1-65535', '10.0.0.1/8', '10.0.0.0/8', 'fd7a::/200', '::', 'host:lan', 'ipset:x', 'posture:x', '__proto__', 'constructor',
  "node:os == 'linux'", "custom:x IN ['a'", 'node:tsVersion >= 1.2.3', 'https://x.com/a', 'example.com/cap/x', 'alice@example.com', '', 'x'.repeat(5000), 'accept', 'check', '12h',
];

function checkWellFormed(text: string, diagnostics: Diagnostic[], policyReturned: boolean): void {
  expect(policyReturned).toBe(diagnostics.length === 0);
  const lines = text.split(/\r\n|\r|\n/).length;
  for (const d of diagnostics) {
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.line).toBeLessThanOrEqual(lines + 1);
    expect(d.col).toBeGreaterThanOrEqual(1);
    expect(d.message.length).toBeGreaterThan(0);
    expect(d.code).toMatch(/^ERR_/);
  }
}

function byteMutate(text: string, r: () => number): string {
  let s = text;
  const ops = 1 + Math.floor(r() * 4);
  for (let i = 0; i < ops; i++) {
    const at = Math.floor(r() * (s.length + 1));
    const x = r();
    if (x < 0.3) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 8));
    else if (x < 0.6) s = s.slice(0, at) + ATOMS[Math.floor(r() * ATOMS.length)] + s.slice(at);
    else if (x < 0.75) s = s.slice(0, at);
    else if (x < 0.9) {
      const from = Math.floor(r() * s.length);
      s = s.slice(0, at) + s.slice(from, from + Math.floor(r() * 40)) + s.slice(at);
    } else s = s.slice(0, at) + String.fromCharCode(Math.floor(r() * 0x3000)) + s.slice(at);
  }
  return s;
}

/** Replaces random leaves / containers of the parsed policy, keeping the text valid JSON more often. */
function structMutate(value: unknown, r: () => number): unknown {
  const leaf = (): unknown => {
    const x = r();
    if (x < 0.6) return STRINGS[Math.floor(r() * STRINGS.length)];
    if (x < 0.7) return Math.floor(r() * 70000) - 2;
    if (x < 0.75) return null;
    if (x < 0.8) return true;
    if (x < 0.9) return [STRINGS[Math.floor(r() * STRINGS.length)]];
    return { [STRINGS[Math.floor(r() * STRINGS.length)]]: [{}] };
  };
  const walk = (v: unknown): unknown => {
    if (r() < 0.04) return leaf();
    if (Array.isArray(v)) {
      const out = v.map(walk);
      if (r() < 0.1) out.push(leaf());
      if (r() < 0.05 && out.length > 0) out.splice(Math.floor(r() * out.length), 1);
      return out;
    }
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const key = r() < 0.02 ? STRINGS[Math.floor(r() * STRINGS.length)] : k;
        Object.defineProperty(out, key, { value: walk(x), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return v;
  };
  return walk(value);
}

let accepted = 0;

/** Lets the vitest worker answer its RPC heartbeats during long synchronous fuzz loops. */
function breathe(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function exercise(text: string): void {
  const parsed = parsePolicy(text, 'fuzz.hujson');
  checkWellFormed(text, parsed.diagnostics, parsed.policy !== null);
  const checked = checkPolicy(text, 'fuzz.hujson', TAILNET, { now: 2000 });
  checkWellFormed(text, checked.diagnostics, checked.policy !== null);
  const alone = checkPolicy(text, 'fuzz.hujson');
  expect(alone.policy === null).toBe(alone.diagnostics.length > 0);
  if (parsed.policy) {
    accepted++;
    const c = new PolicyCompiler(parsed.policy, TAILNET, { now: 2000 });
    c.compileAll();
    c.runTests();
  }
}

const N = LONG ? 20000 : 1500;
// Long runs are split into chunks so no single test blocks the worker for minutes.
const CHUNK = 1500;
const TIMEOUT_MS = 180_000;
const CHUNKS = Array.from({ length: Math.ceil(N / CHUNK) }, (_, i) => i);

describe('fuzz: mutated policies never throw', () => {
  it.each(CHUNKS)(`byte-level mutations, chunk %i of ${CHUNK}`, async (chunk) => {
    const r = rng(12345 + chunk);
    for (let i = chunk * CHUNK; i < (chunk + 1) * CHUNK; i++) {
      if (i % 100 === 0) await breathe();
      const text = byteMutate(POLICIES[i % POLICIES.length], r);
      try {
        exercise(text);
      } catch (err) {
        throw new Error(`case ${i} threw: ${(err as Error).stack}\n--- text ---\n${text}`);
      }
    }
  }, TIMEOUT_MS);

  it.each(CHUNKS)(`structure-level mutations, chunk %i of ${CHUNK}`, async (chunk) => {
    const r = rng(777 + chunk);
    const bases = POLICIES.map((p) => parsePolicy(p, 'x').policy && p).filter((p): p is string => !!p);
    // strip comments and trailing commas via the parser's tolerant value reader
    const values = bases.map((b) => JSON.parse(JSON.stringify(jsoncValue(b))));
    accepted = 0;
    for (let i = chunk * CHUNK; i < (chunk + 1) * CHUNK; i++) {
      if (i % 100 === 0) await breathe();
      const text = JSON.stringify(structMutate(values[i % values.length], r), null, 1);
      try {
        exercise(text);
      } catch (err) {
        throw new Error(`case ${i} threw: ${(err as Error).stack}\n--- text ---\n${text}`);
      }
    }
    // enough mutants must stay valid for the compile and tests paths to be exercised too
    expect(accepted).toBeGreaterThan(CHUNK / 20);
  }, TIMEOUT_MS);

  it('random garbage and edge inputs', async () => {
    const r = rng(99);
    const edge = ['', ' ', 'null', '[]', '"x"', '{', '}', '{"grants": null}', '{"grants": [null]}', '{"groups": []}', '\uFEFF{}', '{"grants": [{"src": [1], "dst": [{}], "ip": [2]}]}'];
    for (const text of edge) exercise(text);
    for (let i = 0; i < N / 3; i++) {
      if (i % 100 === 0) await breathe();
      const len = Math.floor(r() * 200);
      let s = '';
      for (let j = 0; j < len; j++) s += r() < 0.5 ? ATOMS[Math.floor(r() * ATOMS.length)] : String.fromCharCode(32 + Math.floor(r() * 95));
      exercise(s);
    }
  });

  it.each(CHUNKS)(`tailnet file mutations never throw, chunk %i of ${CHUNK}`, async (chunk) => {
    const r = rng(4242 + chunk);
    for (let i = 0; i < CHUNK; i++) {
      if (i % 100 === 0) await breathe();
      const text = byteMutate(TAILNET_TEXT, r);
      const { tailnet, diagnostics } = parseTailnet(text, 'tn.json');
      checkWellFormed(text, diagnostics, tailnet !== null);
      if (tailnet) new PolicyCompiler(parsePolicy(POLICIES[0], 'p').policy!, tailnet).compileAll();
    }
  }, TIMEOUT_MS);
});

function jsoncValue(text: string): unknown {
  return parseJsonc(text, [], { allowTrailingComma: true });
}
