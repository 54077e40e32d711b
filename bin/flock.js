#!/usr/bin/env node
// The `flock` command. Flock ships TypeScript sources; tsx compiles them on load
// so that `npx flock` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/index.ts');
process.exitCode = await main(process.argv);
