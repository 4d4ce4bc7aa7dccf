/**
 * The scale benchmark's Node side: the model from a directory, the MatMul probe from its file and
 * the shape beside it, and this process's memory.
 */
import { readFile } from 'node:fs/promises';
import { memoryUsage, resourceUsage } from 'node:process';
import { directorySource } from '../node/source';
import type { Ort } from '../runtime';
import { probeShapeFile, scaleBench, type ProcessMemory, type ScaleReport } from './scale';

/** A `tools.export matmul-probe` graph and the shape its .json beside it states. */
export async function readMatmulProbe(
  file: string,
): Promise<{ graph: Uint8Array; shape: [number, number, number] }> {
  const meta = JSON.parse(await readFile(probeShapeFile(file), 'utf8')) as {
    shape: [number, number, number];
  };
  return { graph: new Uint8Array(await readFile(file)), shape: meta.shape };
}

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
    matmul: opts.matmul ? await readMatmulProbe(opts.matmul) : undefined,
    memory: nodeMemory,
    onProgress: opts.onProgress,
  });
}
