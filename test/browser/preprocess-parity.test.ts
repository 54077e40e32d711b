/**
 * One preprocessing implementation, the same bytes everywhere (issue 14):
 * shared/preprocess bundled into a real Chromium page gives, for every case
 * in preprocess-cases.fixture.ts (text in many scripts and normal forms,
 * odd-size images, records with missing values), features whose float32
 * bits equal Node's, and refuses the same inputs with the same field.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilePreprocess } from '../../shared/preprocess/index.ts';
import { type BundledPage, openBundledPage } from './bundled-page.ts';
import { outcomeOf, PREPROCESS_CASES, rawInputOf } from './preprocess-cases.fixture.ts';

declare const Preprocess: typeof import('./preprocess-page.fixture.ts');

let opened: BundledPage;
let page: Page;

beforeAll(async () => {
  opened = await openBundledPage({
    entry: join(import.meta.dirname, 'preprocess-page.fixture.ts'),
    globalName: 'Preprocess',
  });
  page = opened.page;
}, 180_000);

afterAll(async () => {
  await opened?.close();
});

describe('shared/preprocess in Chromium', () => {
  it.each(PREPROCESS_CASES.map((c, i) => [c.name, i] as const))(
    '%s: the same float32 bytes as Node',
    async (_, i) => {
      const c = PREPROCESS_CASES[i];
      const pre = compilePreprocess(c.spec);
      const node = c.inputs.map((input) => outcomeOf(() => pre.apply(rawInputOf(input))));
      const browser = await page.evaluate((k) => {
        const bc = Preprocess.PREPROCESS_CASES[k];
        const p = Preprocess.compilePreprocess(bc.spec);
        return bc.inputs.map((input) => Preprocess.outcomeOf(() => p.apply(Preprocess.rawInputOf(input))));
      }, i);
      expect(browser).toEqual(node);
      // The cases are not vacuous: most inputs give features with something in them.
      const filled = node.filter((o) => 'nonZero' in o && o.nonZero > 0).length;
      expect(filled).toBeGreaterThanOrEqual(c.inputs.length - 3);
      if (c.name.startsWith('tabular'))
        expect(node.at(-1)).toMatchObject({ error: 'PreprocessInputError', field: 'rooms' });
      if (c.name.startsWith('text')) expect(node.at(-1)).toMatchObject({ error: 'PreprocessInputError' });
      console.info(
        `[preprocess-parity] ${c.name}: ${c.inputs.length} inputs, sha256 ${createHash('sha256').update(JSON.stringify(node)).digest('hex').slice(0, 16)} on both sides`,
      );
    },
    60_000,
  );
});
