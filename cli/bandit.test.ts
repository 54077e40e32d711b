import { describe, expect, it } from 'vitest';
import { describeBandit } from './bandit.ts';
import { main, type CliIo } from './index.ts';

function capture(): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), stdout: () => out, stderr: () => err };
}

describe('flock bandit', () => {
  it('refuses a single version or junk before calling the coordinator (exit 2)', async () => {
    for (const versions of ['3', '3,x', '0,1']) {
      const io = capture();
      const code = await main(['node', 'flock', 'bandit', 'start', '--app', 'digits', '--versions', versions, '--admin-key', 'flk_admin_key_x.' + 'a'.repeat(43), '--url', 'http://127.0.0.1:9'], io);
      expect(code).toBe(2);
      expect(io.stderr()).toMatch(/--versions/);
    }
  });

  it('describes arms with traffic share and feedback accuracy', () => {
    const text = describeBandit({
      app: 'digits', status: 'running',
      state: { id: 'bd_1', versions: [1, 2], shares: [0.25, 0.75], reallocations: 2, reallocatedAt: '2026-11-29T00:00:00.000Z' },
      rewards: [{ version: 2, successes: 90, failures: 10 }],
    });
    expect(text).toMatch(/v1\s+25\.0%\s+0\s+-/);
    expect(text).toMatch(/v2\s+75\.0%\s+100\s+90\.0%/);
  });
});
