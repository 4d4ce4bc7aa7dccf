/**
 * `adadiff soak`: many consecutive generations in one process, sampling the JS heap, to show that
 * long use does not leak (a benchmark, not a timed test). After warm-up the heap should stay flat.
 */
import { generate, resolveParams, type Manifest, type SegmentRunner } from '../runtime';

export interface SoakReport {
  count: number;
  steps: number;
  /** Heap used (MB) every `every` generations, after a GC where `--expose-gc` allows it. */
  heapMB: { generation: number; heapMB: number }[];
  warmupHeapMB: number;
  finalHeapMB: number;
  /** (final − after warm-up) / after warm-up. */
  growth: number;
  liveTensors: number;
  wallMs: number;
}

export async function runSoak(
  runner: SegmentRunner,
  manifest: Manifest,
  opts: { count: number; steps: number; every: number; onProgress?: (s: string) => void },
): Promise<SoakReport> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const heap = () => {
    gc?.();
    return process.memoryUsage().heapUsed / 2 ** 20;
  };
  const samples: SoakReport['heapMB'] = [];
  const warmup = Math.min(opts.every, opts.count);
  let warmupHeapMB = 0;
  const started = performance.now();
  for (let i = 1; i <= opts.count; i++) {
    const params = resolveParams(manifest, {
      steps: opts.steps,
      seed: i,
      classIndex: i % manifest.classes.length,
    });
    await generate(runner, manifest, params);
    if (i === warmup) warmupHeapMB = heap();
    if (i % opts.every === 0 || i === opts.count) {
      const h = heap();
      samples.push({ generation: i, heapMB: Number(h.toFixed(2)) });
      opts.onProgress?.(
        `${i}/${opts.count}: heap ${h.toFixed(1)} MB, live tensors ${runner.liveTensorCount()}\n`,
      );
    }
  }
  const finalHeapMB = samples[samples.length - 1]!.heapMB;
  return {
    count: opts.count,
    steps: opts.steps,
    heapMB: samples,
    warmupHeapMB: Number(warmupHeapMB.toFixed(2)),
    finalHeapMB,
    growth: (finalHeapMB - warmupHeapMB) / warmupHeapMB,
    liveTensors: runner.liveTensorCount(),
    wallMs: performance.now() - started,
  };
}
