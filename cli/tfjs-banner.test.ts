/**
 * tfjs prints "Hi, looks like you are running TensorFlow.js in Node.js" on
 * the CPU backend's first tensor. The real bin must not: `flock serve
 * --backend cpu` on a first start trains the demo seed model on that backend
 * (without the CLI's PROD setting the banner appears within seconds), and a
 * shutdown during that training is a plain shutdown, not an error.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/flock.js', import.meta.url));

describe('no tfjs banner', () => {
  it('flock serve --backend cpu trains the seed model without printing it; SIGTERM mid-training stops cleanly', async () => {
    const data = await mkdtemp(join(tmpdir(), 'flock-banner-'));
    try {
      const child = spawn(process.execPath, [bin, 'serve', '--backend', 'cpu', '--port', '0', '--data', data], {
        env: { ...process.env, NODE_OPTIONS: '', FLOCK_ADMIN_KEY: '', FLOCK_LOG_LEVEL: 'warn' },
      });
      let out = '';
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      // Ten seconds of training on the CPU backend have written many tensors.
      await new Promise<void>((trained, failed) => {
        child.stdout.on('data', (d) => {
          out += d;
          if (/still training the seed model|seed model published/.test(out)) trained();
        });
        child.once('exit', (code) => failed(new Error(`flock serve exited ${code} early:\n${out}\n${err}`)));
      });
      const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
      child.kill('SIGTERM');
      const code = await exited;
      expect(out).toMatch(/aggregate: cpu on CPU/);
      expect(`${out}${err}`).not.toMatch(/looks like you are running TensorFlow\.js/);
      expect(out).toMatch(/SIGTERM: shutting down/);
      expect(err).not.toMatch(/seeding the demo model failed/);
      expect(code).toBe(0);
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  }, 120_000);
});
