// The package as users get it (issue 17): `npm pack` (which runs `prepare` → `npm run build`), the tarball
// installed into a new project, and there, with no tsx and no TypeScript loader: `import … from 'grantwire'`
// and 'grantwire/policy' in plain node, the types under `tsc --noEmit`, the bins through npx, and the
// native addon built by node-gyp from the shipped sources.
//
// The consumer installs with --ignore-scripts and then runs only grantwire's own install script
// (`npm rebuild grantwire`): better-sqlite3's script would compile SQLite from source when its prebuilt
// binary cannot be fetched, ~5 min on the 2-core box, and none of the checks here opens SQLite (that
// `control --help` works without it is itself a check that the CLIs load SQLite lazily). Dependencies come
// from the npm cache where it has them (--prefer-offline). Slow (about a minute): one pack, one install.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (never rejects: the exit code is part of what is checked). */
function run(file: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Result> {
  // A clean environment: no GRANTWIRE_FROM_SOURCE (vitest sets it for in-tree CLIs; an installed package
  // must run its dist/), and none of the npm_* variables `npm test` would pass down to the inner npm.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && k !== 'GRANTWIRE_FROM_SOURCE'));
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: { ...base, ...env }, maxBuffer: 64 << 20, timeout: 240_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

function ok(r: Result, what: string): Result {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

function findFile(dir: string, name: string): string | null {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) {
      const hit = findFile(p, name);
      if (hit) return hit;
    } else if (e === name) return p;
  }
  return null;
}

describe('npm pack → install into a new project', () => {
  const work = mkdtempSync(join(tmpdir(), 'gw-pack-'));
  const app = join(work, 'app');
  let files: string[] = [];

  beforeAll(async () => {
    const packed = ok(await run('npm', ['pack', '--json', '--pack-destination', work], ROOT), 'npm pack');
    const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    files = info[0].files.map((f) => f.path);
    const tarball = join(work, info[0].filename);

    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    ok(await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], app), 'npm install');
    ok(await run('npm', ['rebuild', 'grantwire'], app), 'npm rebuild grantwire (node-gyp)');
  }, 280_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('the tarball holds the build, the bins and the native sources, and no tests, fixtures, scripts or .ts sources', () => {
    for (const want of ['package.json', 'LICENSE', 'README.md', 'binding.gyp', 'bin/agent', 'bin/control', 'bin/launch.js', 'native/grantwire.cc', 'native/common.h',
      'dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/policy/index.js', 'dist/policy/index.d.ts', 'dist/agent/cli/main.js', 'dist/control/cli/main.js',
      // the admin console's page and modules, copied by the build (plain JS: nothing to compile)
      'dist/control/console/static/index.html', 'dist/control/console/static/app.js', 'dist/control/console/static/console.css']) {
      expect(files, want).toContain(want);
    }
    const unwanted = files.filter((f) => /\.test\.|\.bench\.|-bench\.|testdata|fake-|test-helpers|^test\/|^scripts\/|^examples\/|^build\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
    expect(unwanted).toEqual([]);
  });

  it('plain node imports the client and its errors from the root, the checker from ./policy; deep imports are closed', async () => {
    writeFileSync(
      join(app, 'main.mjs'),
      `import { AccessDeniedError, DEFAULT_SOCKET_PATH, LocalApiError, LocalClient, PeerNotFoundError } from 'grantwire';
import { checkPolicy } from 'grantwire/policy';
const out = { defaultSocket: DEFAULT_SOCKET_PATH, errors: [new PeerNotFoundError('x') instanceof LocalApiError, new AccessDeniedError('c', 'x') instanceof LocalApiError] };
for (const whoisPool of [true, false]) {
  const c = new LocalClient({ socketPath: process.argv[2], whoisPool });
  const err = await c.whois('100.64.0.1').catch((e) => e);
  out['whois ' + whoisPool] = [err instanceof LocalApiError, err.status, err.code, err.wireCode];
  await c.close();
}
out.policy = checkPolicy('{"grants":[{"src":["tag:nope"],"dst":["*"],"ip":["*"]}]}', 'p.hujson').diagnostics.map((d) => d.code);
out.deep = await import('grantwire/dist/control/store.js').then(() => 'open', (e) => e.code);
console.log(JSON.stringify(out));
`,
    );
    const r = ok(await run(process.execPath, ['main.mjs', join(work, 'nobody.sock')], app), 'node main.mjs');
    expect(JSON.parse(r.stdout)).toEqual({
      defaultSocket: '/var/run/grantwire/agentd.sock',
      errors: [true, true],
      'whois true': [true, 0, 'ERR_LOCALAPI_UNREACHABLE', 'ENOENT'],
      'whois false': [true, 0, 'ERR_LOCALAPI_UNREACHABLE', 'ENOENT'],
      policy: ['ERR_POLICY_UNKNOWN_TAG'],
      deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });
  });

  it('the native addon was built by node-gyp and loads from dist/', async () => {
    const loader = findFile(join(app, 'node_modules', 'grantwire', 'dist'), 'native-addon.js');
    expect(loader).not.toBeNull();
    const r = ok(
      await run(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(loader)}); console.log(JSON.stringify([m.nativeLoadError(), typeof m.loadNative()?.tunOpen]))`], app),
      'load native addon',
    );
    expect(JSON.parse(r.stdout)).toEqual([null, 'function']);
  });

  it('tsc --noEmit resolves the types: a consumer type-checks, a misuse is an error (the types are not any)', async () => {
    const consumer = (line: string) => `import { LocalClient, PeerNotFoundError, type WhoIsResponse } from 'grantwire';
import { checkPolicy } from 'grantwire/policy';
export async function callerName(c: LocalClient, addr: string): Promise<string | null> {
  try {
    const w: WhoIsResponse = await c.whois(addr);
    return w.Node.ComputedName;
  } catch (err) {
    if (err instanceof PeerNotFoundError) return null;
    throw err;
  }
}
export const problems: number = checkPolicy('{}', 'policy.hujson').diagnostics.length;
${line}
`;
    writeFileSync(join(app, 'good.ts'), consumer('export const socket: string = new LocalClient().socketPath;'));
    writeFileSync(join(app, 'bad.ts'), consumer('export const socket: number = new LocalClient().socketPath;'));
    // One compiler run for both files (tsc with @types/node takes seconds on a loaded box); lib checking
    // stays on so the shipped .d.ts files are checked too.
    const r = await run(process.execPath, [TSC, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--types', 'node', '--typeRoots', join(ROOT, 'node_modules', '@types'), 'good.ts', 'bad.ts'], app);
    const errors = r.stdout.split('\n').filter((l) => l.includes('error TS'));
    expect(errors, r.stdout + r.stderr).toEqual([expect.stringMatching(/^bad\.ts\(13,14\): error TS2322: Type 'string' is not assignable to type 'number'/)]);
  }, 120_000);

  it.each<{ name: string; args: string[]; env: Record<string, string>; code: number; out: RegExp }>([
    { name: 'npx agent --help: usage, exit 0', args: ['agent', '--help'], env: {}, code: 0, out: /usage: agent <command>/ },
    { name: 'npx control --help: usage, exit 0 (SQLite not built, not loaded)', args: ['control', '--help'], env: {}, code: 0, out: /usage: control <command>/ },
    { name: 'npx agent status, no daemon: a clear error, exit 1', args: ['agent', 'status'], env: { GRANTWIRE_SOCKET: '/nonexistent/agentd.sock' }, code: 1, out: /agent status: cannot reach the agent at \/nonexistent\/agentd\.sock/ },
  ])('$name', async ({ args, env, code, out }) => {
    const r = await run('npx', ['--no-install', ...args], app, env);
    expect(r.code, r.stdout + r.stderr).toBe(code);
    expect(r.stdout + r.stderr).toMatch(out);
  });
});
