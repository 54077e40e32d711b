/**
 * A separate process that writes to a store, for the crash and multi-process
 * tests in `durability.test.ts` (run with `node --import tsx`).
 *
 *   updates <dataDir> <roundId> <count>   put a blob + recordUpdate for d0..d<count-1>, print "ACK <device> <hash>" per accepted update
 *   versions <dataDir> <app> <count>      create <count> children of version 1 concurrently, print "VERSION <n>" for each
 *                                         (each transaction reads before it writes, which is what BEGIN IMMEDIATE guards)
 *   manifest <dataDir> <app> <version>    publish one manifest of <version>, print "GENERATION <n>"
 */
import { randomBytes } from 'node:crypto';
import { openSqliteStore } from './sqlite-store.ts';

const [mode, dataDir, arg, countText] = process.argv.slice(2);
const count = Number(countText);
const store = await openSqliteStore({ dataDir });

if (mode === 'updates') {
  for (let i = 0; i < count; i++) {
    const deviceId = `d${i}`;
    const bytes = randomBytes(4096 + i);
    const { hash, size } = await store.blobs.put(bytes);
    const r = await store.recordUpdate({
      roundId: arg,
      deviceId,
      blobHash: hash,
      byteLength: size,
      numExamples: i + 1,
    });
    if (r.outcome !== 'accepted') throw new Error(`update ${deviceId}: ${r.outcome}`);
    process.stdout.write(`ACK ${deviceId} ${hash}\n`);
  }
} else if (mode === 'versions') {
  const made = await Promise.all(
    Array.from({ length: count }, () =>
      store.createModelVersion({
        app: arg,
        source: 'push',
        parentVersion: 1,
        topology: {},
        weightSpecs: [],
        variants: [],
      }),
    ),
  );
  for (const v of made) process.stdout.write(`VERSION ${v.version}\n`);
} else if (mode === 'manifest') {
  const record = await store.publishManifest({ app: arg, version: count, sign: (generation) => ({ generation }) });
  process.stdout.write(`GENERATION ${record.generation}\n`);
} else {
  throw new Error(`unknown mode ${mode}`);
}
await store.close();
