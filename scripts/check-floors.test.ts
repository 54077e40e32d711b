import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { findFloorBreaks, importsOf } from './check-floors.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'floors-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('floor check', () => {
  it('reads static, re-exported and dynamic imports, not bare packages', () => {
    const text =
      "import a from './a.ts';\nexport { b } from '../b.ts';\nconst c = await import('../../c.ts');\nimport 'hono';";
    expect(importsOf(text)).toEqual(['./a.ts', '../b.ts', '../../c.ts']);
  });

  it('names an import that goes up a floor, and one into test code', () => {
    const root = tree({
      'shared/x.ts': "import { y } from '../client/y.ts';",
      'client/y.ts': 'export const y = 1;',
      'coordinator/z.ts': "import { w } from '../simulate/w.ts';\nimport { f } from './f.fixture.ts';",
      'simulate/w.ts': "import { y } from '../client/y.ts';\nimport { q } from '../coordinator/q.ts';",
      'coordinator/q.ts': 'export const q = 1;',
      'coordinator/f.fixture.ts': 'export const f = 1;',
      'cli/ok.ts': "import { w } from '../simulate/w.ts';",
      'coordinator/z.test.ts': "import { ok } from '../cli/ok.ts';",
    });
    const { breaks } = findFloorBreaks(root);
    expect(breaks.map((b) => `${b.file} -> ${b.to}`).sort()).toEqual([
      'coordinator/z.ts -> simulate',
      'coordinator/z.ts -> test code',
      'shared/x.ts -> client',
    ]);
  });

  it('finds no break in this repository', () => {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
    const { files, breaks } = findFloorBreaks(root);
    expect(files).toBeGreaterThan(100);
    expect(breaks).toEqual([]);
  });
});
