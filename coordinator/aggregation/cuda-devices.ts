/**
 * Whether this machine really has a CUDA device for tfjs-node-gpu. Its
 * package loads (and then runs on the CPU, silently) wherever libtensorflow's
 * GPU build is installed, so the package alone proves nothing. The NVIDIA
 * kernel driver lists each GPU under /proc/driver/nvidia/gpus; CUDA sees none
 * of them when CUDA_VISIBLE_DEVICES is empty or -1.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const NVIDIA_GPUS = '/proc/driver/nvidia/gpus';

/** The GPU model named in one `/proc/driver/nvidia/gpus/<bus>/information` file ("Model: NVIDIA H200"). */
export function gpuModelOf(information: string): string | null {
  const line = information.split('\n').find((l) => /^Model:/.test(l));
  const model = line?.slice('Model:'.length).trim();
  return model ? model : null;
}

/** Devices CUDA may use given CUDA_VISIBLE_DEVICES (unset: all; '' or '-1': none; a list: that many, at most). */
export function visibleDevices(models: readonly string[], cudaVisibleDevices: string | undefined): string[] {
  if (cudaVisibleDevices === undefined) return [...models];
  const wanted = cudaVisibleDevices
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (wanted.length === 0 || wanted[0] === '-1') return [];
  return models.slice(0, wanted.length);
}

/**
 * The CUDA devices this process could use, by model name; empty without the NVIDIA driver.
 *
 * @example
 * const gpus = await cudaDevices(); // ['NVIDIA H200'] or []
 */
export async function cudaDevices(root = NVIDIA_GPUS, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  let buses: string[];
  try {
    buses = (await readdir(root)).sort();
  } catch {
    return [];
  }
  const models: string[] = [];
  for (const bus of buses) {
    const info = await readFile(join(root, bus, 'information'), 'utf8').catch(() => '');
    models.push(gpuModelOf(info) ?? `GPU ${bus}`);
  }
  return visibleDevices(models, env.CUDA_VISIBLE_DEVICES);
}
