/// <reference lib="webworker" />
/**
 * The benchmark's own worker: the page's runtime (the same onnxruntime-web build) and backend choice, plus what only a benchmark
 * needs — the monolithic baseline, every block as its own session beside the fused prefix, the
 * adapter's name in the report, and on WebGPU the graph-capture probe. The product's worker
 * carries none of it.
 */
import * as Comlink from 'comlink';
import { httpSource, loadModel, SegmentRunner, type Ort } from '../runtime';
import type { BackendChoice } from '../worker/api';
import { chooseBackend } from '../worker/backend';
import { installErrorTransfer } from '../worker/error-transfer';
import { importOrt } from '../worker/ort-build';
import { probeGraphCapture } from './graph-capture';
import { runBench, type BenchReport } from './harness';
import { readMatmulProbe, scaleBench, type ProcessMemory, type ScaleReport } from './scale';

export interface BenchRequest {
  modelUrl: string;
  backend: BackendChoice;
  reps: number;
  steps: number;
  thresholds: number[];
}

export interface ScaleRequest {
  modelUrl: string;
  backend: BackendChoice;
  reps: number;
  /** A `tools.export matmul-probe` graph; its shape is read from the .json beside it. */
  matmulUrl?: string | undefined;
}

/**
 * Graph capture is implemented twice in onnxruntime-web: by the WebGPU EP and by the older JSEP
 * build (its default export, 28 MB more wasm), so the probe asks both.
 */
async function graphCaptureBuilds(): Promise<{ build: string; ort: Ort }[]> {
  return [
    { build: 'onnxruntime-web/webgpu (WebGPU EP)', ort: await import('onnxruntime-web/webgpu') },
    { build: 'onnxruntime-web (JSEP)', ort: await import('onnxruntime-web') },
  ];
}

export const benchApi = {
  async run(request: BenchRequest, onProgress?: (line: string) => void): Promise<BenchReport> {
    const { backend, adapter } = await chooseBackend(request.backend);
    const model = await loadModel(httpSource(request.modelUrl), { includeMonolithic: true });
    const runner = await SegmentRunner.create(await importOrt(backend), model, { backend });
    try {
      let environment = globalThis.navigator?.userAgent ?? 'unknown browser';
      if (adapter) {
        // the times mean nothing without the adapter: SwiftShader is the CPU pretending
        environment += `; WebGPU adapter ${adapter.description}${adapter.software ? ' (software: the CPU, no measure of GPU speed)' : ''}`;
      }
      const report = await runBench(runner, model, { ...request, environment, onProgress });
      // the mid-block takes no skip, so the probe feeds it hidden tokens and temb alone
      const mid = model.manifest.architecture.numInBlocks;
      const spec = model.manifest.segments.blocks[mid];
      const bytes = spec && model.files.get(spec.path);
      const dims = spec?.inputs.find((i) => i.name === 'hidden')?.dims;
      if (backend === 'webgpu' && bytes && spec.skipFrom === null && dims) {
        report.graphCapture = [];
        for (const { build, ort } of await graphCaptureBuilds()) {
          onProgress?.(`graph capture: ${build}\n`);
          report.graphCapture.push(
            await probeGraphCapture(ort, {
              build,
              block: bytes,
              blockIndex: mid,
              tokens: Number(dims[1]),
              width: Number(dims[2]),
            }),
          );
        }
      }
      return report;
    } finally {
      await runner.release();
    }
  },

  /**
   * `adadiff bench --scale --browser`: the scale benchmark on one wasm thread, as in Node, or on WebGPU.
   * `memory` reads the renderer process's memory, which only the Node side that launched it can.
   */
  async scale(
    request: ScaleRequest,
    memory: () => Promise<ProcessMemory | null>,
    onProgress?: (line: string) => void,
  ): Promise<ScaleReport> {
    const { backend, adapter } = await chooseBackend(request.backend);
    const ort = await importOrt(backend);
    ort.env.wasm.numThreads = 1;
    const probe = request.matmulUrl ? new URL(request.matmulUrl) : null;
    const matmul = probe
      ? await readMatmulProbe(httpSource(new URL('.', probe).href), probe.pathname.split('/').pop()!)
      : undefined;
    // on WebGPU the weights live in the GPU process, which the renderer's memory does not show
    const gpu = adapter
      ? `Chromium WebGPU (${adapter.description}${adapter.software ? ', software' : ''})`
      : null;
    return scaleBench(ort, httpSource(request.modelUrl), {
      runtime: gpu ?? 'Chromium wasm',
      backend,
      reps: request.reps,
      matmul,
      memory: gpu ? () => Promise.resolve(null) : memory,
      onProgress,
    });
  },
};

export type BenchApi = typeof benchApi;

installErrorTransfer();
Comlink.expose(benchApi);
