/**
 * Bench support: plain FedAvg at the same d, for secagg.bench.ts to set
 * beside secure aggregation in the same run. The device side encodes its
 * update with the real codec (fp32 and per-channel int8, what a plain upload
 * sends); the server side folds the same number of updates into the
 * coordinator's real streaming accumulator (as aggregation.bench.ts does) and
 * takes the mean.
 */
import { createAccumulator } from '../../coordinator/aggregation/accumulator.ts';
import { selectAggregationBackend } from '../../coordinator/aggregation/backend.ts';
import { encodeTensors } from '../../shared/codec/index.ts';
import { median, timeRepeated } from './bench-types.ts';

export interface UploadCost {
  encoding: 'fp32' | 'int8';
  bytes: number;
  encodeMs: number;
}

/** Bytes and median encode time of one update of `update.length` parameters, one tensor. */
export async function plainUploads(update: Float32Array): Promise<UploadCost[]> {
  const tensors = [{ name: 'update', shape: [update.length], data: update }];
  const out: UploadCost[] = [];
  for (const encoding of ['fp32', 'int8'] as const) {
    const bytes = encodeTensors(tensors, { encoding }).length;
    const encodeMs = median(await timeRepeated(() => encodeTensors(tensors, { encoding }), { repeats: 7, warmup: 2 }));
    out.push({ encoding, bytes, encodeMs });
  }
  return out;
}

/**
 * Median ms to fold `count` updates (cycling over `pool`, weights 1-7) into a
 * fresh accumulator and take the mean, on the backend the coordinator picks.
 */
export async function fedAvgFoldMs(pool: readonly Float32Array[], count: number, repeats = 3): Promise<number> {
  await selectAggregationBackend();
  const specs = [{ name: 'update', shape: [pool[0].length] }];
  const run = () => {
    const acc = createAccumulator(specs);
    for (let c = 0; c < count; c++) acc.add([pool[c % pool.length]], 1 + (c % 7));
    acc.mean();
    acc.dispose();
  };
  return median(await timeRepeated(run, { repeats, warmup: 1 }));
}
