/**
 * The scale benchmark's Node side: the model and the MatMul probe from directories, and this
 * process's memory.
 */
import path from 'node:path';
import { memoryUsage, resourceUsage } from 'node:process';
import { directorySource } from '../node/source';
import type { Ort } from '../runtime';
import { readMatmulProbe, scaleBench, type ProcessMemory, type ScaleReport } from './scale';

const MB = 2 ** 20;

/** This process: resident now, and its peak so far (maxRSS is in KiB). */
export async function nodeMemory(): Promise<ProcessMemory> {
  return { rssMb: Math.round(memoryUsage.rss() / MB), peakMb: Math.round(resourceUsage().maxRSS / 1024) };
}

export async function nodeScaleBench(
  ort: Ort,
  modelDir: string,
  opts: { reps: number; matmul?: string | undefined; onProgress?: ((line: string) => void) | undefined },
): Promise<ScaleReport> {
  return scaleBench(ort, directorySource(modelDir), {
    runtime: 'Node wasm',
    reps: opts.reps,
    matmul: opts.matmul
      ? await readMatmulProbe(directorySource(path.dirname(opts.matmul)), path.basename(opts.matmul))
      : undefined,
    memory: nodeMemory,
    onProgress: opts.onProgress,
  });
}
