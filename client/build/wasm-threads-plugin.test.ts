import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { selfContainedThreadedFactory } from './wasm-threads-plugin.ts';

const source = readFileSync(
  createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js'),
  'utf8',
);

/** What tfjs hands its wasm thread workers: the factory's own source, run with no closure around it. */
function factorySourceAsTfjsShipsIt(code: string): string {
  const evaluate = new Function(`${code}; return WasmBackendModuleThreadedSimd;`) as () => (m?: object) => unknown;
  return `var WasmBackendModuleThreadedSimd = ${evaluate().toString()}`;
}

describe('the threaded wasm factory in a Blob', () => {
  it('declares the _scriptDir it reads once patched; unpatched it reads it from a closure the Blob does not have', () => {
    const unpatched = factorySourceAsTfjsShipsIt(source);
    expect(unpatched).toMatch(/\b_scriptDir\b/);
    expect(unpatched).not.toMatch(/var _scriptDir\b/);
    const patched = factorySourceAsTfjsShipsIt(selfContainedThreadedFactory(source));
    expect(patched.match(/var _scriptDir\b/g)).toHaveLength(1);
    // Declared before its first use, inside the function the Blob carries.
    expect(patched.indexOf('var _scriptDir')).toBeLessThan(patched.search(/if \(_scriptDir\)|_scriptDir\)/));
  });

  it('refuses to build when tfjs changes the code it patches', () => {
    expect(() => selfContainedThreadedFactory('var x = 1;')).toThrow(/changed/);
  });
});
