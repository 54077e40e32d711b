/**
 * The floors of the house, checked: which top-level folder may import which.
 * Run by `npm run check:floors` (and so by `.ci/run`); exits 1 naming every
 * import that goes up a floor or sideways.
 *
 *   shared       <- client, coordinator
 *   client       <- worker (entry points that expose what client/ defines)
 *   coordinator, client <- simulate <- demo (seeding) <- cli <- bin
 *
 * Tests, fixtures and benches (`*.test.ts`, `*.fixture.ts`, `test/`) sit
 * above every floor and may import anything. Imports are read with the
 * TypeScript compiler's own pre-processor (static, re-exports and dynamic
 * `import()` with a string literal), so nothing is guessed from regexes.
 *
 * @example
 * npx tsx scripts/check-floors.ts          # "floors: 312 files, 1,204 imports, 0 breaks"
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** For each floor, the floors its production code may import (itself included). */
export const FLOORS: Readonly<Record<string, readonly string[]>> = {
  shared: ['shared'],
  client: ['client', 'shared'],
  worker: ['worker', 'client', 'shared'],
  coordinator: ['coordinator', 'shared'],
  simulate: ['simulate', 'coordinator', 'client', 'shared'],
  demo: ['demo', 'simulate', 'coordinator', 'worker', 'client', 'shared'],
  cli: ['cli', 'demo', 'simulate', 'coordinator', 'client', 'shared'],
  bin: ['bin', 'cli'],
};

export interface FloorBreak {
  file: string;
  specifier: string;
  from: string;
  to: string;
}

const SOURCE = /\.(ts|js|mjs)$/;

function isTestSupport(file: string): boolean {
  return file.startsWith(`test${sep}`) || /\.(test|fixture|bench)\.ts$/.test(file);
}

function listSources(root: string, folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(relative(root, path));
    }
  };
  if (existsSync(join(root, folder))) walk(join(root, folder));
  return out;
}

/** The relative module specifiers one file imports (static, re-export, dynamic). */
export function importsOf(text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('.'));
}

/** Every import in `root` that leaves its floor for one it may not use. */
export function findFloorBreaks(root: string): { files: number; imports: number; breaks: FloorBreak[] } {
  const breaks: FloorBreak[] = [];
  let files = 0;
  let imports = 0;
  for (const floor of Object.keys(FLOORS)) {
    for (const file of listSources(root, floor)) {
      if (isTestSupport(file)) continue;
      files += 1;
      for (const specifier of importsOf(readFileSync(join(root, file), 'utf8'))) {
        imports += 1;
        const target = relative(root, resolve(root, dirname(file), specifier));
        // The build (dist/lib/<floor>/...) is the same floor as its sources: bin/ runs dist/lib/cli when installed.
        const built = target.startsWith(`dist${sep}lib${sep}`) ? target.split(sep)[2] : null;
        const to = built ?? target.split(sep)[0];
        if (to === '..' || target.startsWith(`test${sep}`) || /\.(test|fixture)\.ts$/.test(target)) {
          breaks.push({ file, specifier, from: floor, to: to === '..' ? 'outside the repository' : 'test code' });
        } else if (!FLOORS[floor].includes(to)) {
          breaks.push({ file, specifier, from: floor, to });
        }
      }
    }
  }
  return { files, imports, breaks };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const { files, imports, breaks } = findFloorBreaks(root);
  for (const b of breaks) {
    const allowed = FLOORS[b.from]?.join(', ') ?? '';
    console.error(`${b.file}: imports '${b.specifier}' (${b.to}); ${b.from}/ may import only ${allowed}`);
  }
  console.log(`floors: ${files} files, ${imports} imports, ${breaks.length} breaks`);
  process.exitCode = breaks.length === 0 ? 0 : 1;
}
