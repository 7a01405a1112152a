// `agent up --auth-key`: a literal key, file:PATH or - (stdin), so the key need not appear in argv.
import { describe, expect, it } from 'vitest';
import { resolveAuthKey, type KeySources } from './auth-key-source.js';

const files: Record<string, string> = { '/k/key': 'gwkey-abc-def\n', '/k/empty': '  \n', '/k/two': 'a b\n' };
const src = (stdin: string): KeySources => ({
  readFile(p) {
    if (!(p in files)) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return files[p];
  },
  readStdin: async () => stdin,
});

describe('resolveAuthKey', () => {
  it.each([
    { name: 'literal key (old shape)', value: 'gwkey-lit-eral', stdin: '', want: 'gwkey-lit-eral' },
    { name: 'file:PATH, trailing newline dropped', value: 'file:/k/key', stdin: '', want: 'gwkey-abc-def' },
    { name: '- reads stdin', value: '-', stdin: '  gwkey-from-stdin\n', want: 'gwkey-from-stdin' },
    { name: 'missing file', value: 'file:/k/nope', stdin: '', want: /cannot read \/k\/nope: ENOENT/ },
    { name: 'empty file', value: 'file:/k/empty', stdin: '', want: /must hold exactly one key, got nothing/ },
    { name: 'two words', value: 'file:/k/two', stdin: '', want: /several words/ },
    { name: 'file: without a path', value: 'file:', stdin: '', want: /needs a path/ },
    { name: 'empty stdin', value: '-', stdin: '', want: /stdin must hold exactly one key/ },
  ])('$name', async ({ value, stdin, want }) => {
    const got = resolveAuthKey(value, src(stdin));
    if (typeof want === 'string') await expect(got).resolves.toBe(want);
    else await expect(got).rejects.toThrow(want);
  });
});
