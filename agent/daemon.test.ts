import { describe, expect, it, vi } from 'vitest';
import { resolveOperator, startDaemon } from './daemon.js';

describe('daemon helpers', () => {
  it('--operator takes a uid or a user name', () => {
    expect(resolveOperator('1234')).toBe(1234);
    expect(resolveOperator('root')).toBe(0);
    expect(() => resolveOperator('no-such-user-xyz')).toThrow(/no such user/);
  });

  it('refuses to start without root, saying why', async () => {
    // Seen as an unprivileged uid even when the suite runs as root (CI), so the check always runs.
    const getuid = vi.spyOn(process as { getuid(): number }, 'getuid').mockReturnValue(1000);
    try {
      await expect(
        startDaemon({ stateDir: '/tmp/x', socketPath: '/tmp/x.sock', tunName: 'gw0', port: 0, operatorUid: null, log: () => undefined }),
      ).rejects.toThrow(/must run as root/);
    } finally {
      getuid.mockRestore();
    }
  });
});
