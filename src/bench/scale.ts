/**
 * A model of the paper's size in the runtime (Node wasm, or Chromium wasm or WebGPU in the bench
 * page's worker): what loading it costs in time and memory, the time of one block, of a full-depth forward
 * pass segmented and as one graph, of a pass that skips 40 % of the blocks, and the GFLOP/s reached
 * against what onnxruntime-web reaches on one MatMul of the block's own shape (the practical limit
 * here). The model is one of the official shape with random weights (`tools.export import-official
 * --random-weights`); the MatMul graph is `tools.export matmul-probe`'s. No Node and no DOM here:
 * where the files and the memory figures come from is the caller's (scale-node.ts, bench.worker.ts).
 */
import {
  loadModel,
  runPass,
  SegmentRunner,
  type Backend,
  type DepthPolicy,
  type LoadedModel,
  type ModelSource,
  type Ort,
} from '../runtime';
import { startOrt } from '../worker/ort-start';
import { openMonolithic, timeBlock } from './monolithic';
import { median } from './stats';

export interface ScaleReport {
  /** Where it ran: "Node wasm", "Chromium wasm" or "Chromium WebGPU (its adapter)"; absent in older reports: Node. */
  runtime?: string;
  model: string;
  storage: string;
  parameters: number;
  /** What the page downloads: every segment but the monolithic baseline. */
  modelBytes: number;
  tokens: number;
  embedDim: number;
  numBlocks: number;
  /** GFLOP of one full-depth forward pass (embed, every block, head). */
  forwardGflop: number;
  /**
   * onnxruntime-web's own start (its .wasm compiled, its heap made: the same for any model), then
   * the model's files read and its sessions created. Older reports have only loadMs, both together.
   */
  runtimeStartMs?: number;
  loadMs: number;
  /**
   * The peak resident memory of the process that ran it (Node's, or Chromium's renderer, where the
   * worker runs) after loading the segments and running them (the monolithic graph, opened after,
   * is not in it); its resident memory before anything, and once onnxruntime-web had started, before
   * the model (MB), so that the model's share is peak − runtimeRssMb. Null where it cannot be read.
   */
  peakRssMb: number | null;
  baseRssMb: number | null;
  runtimeRssMb?: number | null;
  /** fp32 bytes of the weights (parameters × 4), the issue's yardstick for memory. */
  fp32WeightsMb: number;
  blockMs: number;
  fullMs: number;
  monolithicMs: number | null;
  /**
   * Segmented full depth timed run for run beside the monolithic graph (interleaved, so that the
   * machine's drift falls on both alike): the ratio's numerator. Absent in older reports.
   */
  fullBesideMonolithicMs?: number | null;
  /** A pass that runs `shallowBlocks` of numBlocks (static depth), and its time against full depth. */
  shallowBlocks: number;
  shallowMs: number;
  gflops: number;
  matmulGflops: number | null;
  matmulShape: [number, number, number] | null;
  reps: number;
}

/** A process's resident memory now and at its peak so far, in MB. */
export interface ProcessMemory {
  rssMb: number;
  peakMb: number;
}

export interface ScaleOptions {
  /** Names the runtime in the report, e.g. "Chromium wasm". */
  runtime: string;
  /** Default wasm. */
  backend?: Backend;
  reps: number;
  /** The MatMul probe graph (input "a" [m, k], its weight [k, n] inside) and its shape. */
  matmul?: { graph: Uint8Array; shape: [number, number, number] } | undefined;
  /** The memory of the process the runtime runs in; null where it cannot be read. */
  memory: () => Promise<ProcessMemory | null>;
  onProgress?: ((line: string) => void) | undefined;
}

export async function scaleBench(ort: Ort, source: ModelSource, opts: ScaleOptions): Promise<ScaleReport> {
  const say = opts.onProgress ?? (() => undefined);
  const base = await opts.memory();
  // the runtime's start apart from the model's load: its cost is fixed, the model's grows with it
  let clock = performance.now();
  const backend = opts.backend ?? 'wasm';
  const runtime = await startOrt(ort, backend);
  const runtimeStartMs = performance.now() - clock;
  const withRuntime = await opts.memory();
  clock = performance.now();
  let model: LoadedModel;
  let runner: SegmentRunner;
  try {
    model = await loadModel(source);
    runner = await SegmentRunner.create(ort, model, { backend });
  } finally {
    await runtime.release();
  }
  const loadMs = performance.now() - clock;
  say(
    `runtime started in ${(runtimeStartMs / 1000).toFixed(1)} s, model loaded in ${(loadMs / 1000).toFixed(1)} s\n`,
  );
  try {
    const m = runner.manifest;
    const { channels, height, width } = m.image;
    const x = new Float32Array(channels * height * width).map((_, i) => Math.sin(i));
    const t = m.schedule.type === 'vp-continuous' ? m.schedule.timeScale * 0.5 : 500;
    const pass = async (policy: DepthPolicy) => {
      const began = performance.now();
      await runPass(runner, x, t, [0], policy, 0);
      return performance.now() - began;
    };
    const shallowBlocks = Math.round(runner.numBlocks * 0.6);
    await pass({ kind: 'full' }); // warm every session
    const full: number[] = [];
    const shallow: number[] = [];
    for (let r = 0; r < opts.reps; r++) {
      full.push(await pass({ kind: 'full' }));
      shallow.push(await pass({ kind: 'static', depth: shallowBlocks }));
      say(
        `rep ${r + 1}: full ${full[r]!.toFixed(0)} ms, ${shallowBlocks} blocks ${shallow[r]!.toFixed(0)} ms\n`,
      );
    }
    const firstPlain = m.segments.blocks.findIndex((b, i) => b.skipFrom === null && runner.blockSession(i));
    const blockMs = await timeBlock(runner, firstPlain, opts.reps, true);
    const peak = await opts.memory(); // before the monolithic graph adds its own copy
    let monolithicMs: number | null = null;
    let fullBesideMonolithicMs: number | null = null;
    const monoSpec = m.baselines?.monolithic;
    // read only now, so that the peak above is the segments' alone; a model exported without it
    // has no comparison
    const monoBytes = monoSpec ? await source.read(monoSpec.path).catch(() => null) : null;
    if (monoSpec && monoBytes) {
      model.files.set(monoSpec.path, monoBytes);
      const mono = await openMonolithic(runner, model.files);
      const times: number[] = [];
      const beside: number[] = [];
      for (let r = 0; r < opts.reps; r++) {
        const began = performance.now();
        await mono.run(x, t, [0]);
        times.push(performance.now() - began);
        beside.push(await pass({ kind: 'full' }));
      }
      monolithicMs = median(times);
      fullBesideMonolithicMs = median(beside);
      say(
        `monolithic ${monolithicMs.toFixed(0)} ms, segmented beside it ${fullBesideMonolithicMs.toFixed(0)} ms\n`,
      );
    }
    const flops =
      m.segments.embed.flops + m.segments.blocks.reduce((s, b) => s + b.flops, 0) + m.segments.head.flops;
    const fullMs = median(full);
    const matmul = opts.matmul ? await matmulGflops(ort, backend, opts.matmul, opts.reps) : null;
    const parameters = m.architecture.parameters ?? 0;
    return {
      runtime: opts.runtime,
      model: m.id,
      storage: m.storage ?? 'fp32',
      parameters,
      modelBytes: [m.segments.embed, ...m.segments.blocks, m.segments.head].reduce((s, f) => s + f.bytes, 0),
      tokens: m.architecture.tokens,
      embedDim: m.architecture.embedDim,
      numBlocks: runner.numBlocks,
      forwardGflop: flops / 1e9,
      runtimeStartMs,
      loadMs,
      peakRssMb: peak?.peakMb ?? null,
      baseRssMb: base?.rssMb ?? null,
      runtimeRssMb: withRuntime?.rssMb ?? null,
      fp32WeightsMb: Math.round((parameters * 4) / 2 ** 20),
      blockMs,
      fullMs,
      monolithicMs,
      fullBesideMonolithicMs,
      shallowBlocks,
      shallowMs: median(shallow),
      gflops: flops / 1e9 / (fullMs / 1000),
      matmulGflops: matmul?.gflops ?? null,
      matmulShape: matmul?.shape ?? null,
      reps: opts.reps,
    };
  } finally {
    await runner.release();
  }
}

/** Where `tools.export matmul-probe` states its graph's shape: the .json beside the .onnx. */
export const probeShapeFile = (graph: string) => graph.replace(/\.onnx$/, '.json');

/** A `tools.export matmul-probe` graph, `file` in `source` (a folder or a URL), and its shape. */
export async function readMatmulProbe(
  source: ModelSource,
  file: string,
): Promise<{ graph: Uint8Array; shape: [number, number, number] }> {
  const [graph, meta] = await Promise.all([source.read(file), source.read(probeShapeFile(file))]);
  const { shape } = JSON.parse(new TextDecoder().decode(meta)) as { shape: [number, number, number] };
  return { graph, shape };
}

/** GFLOP/s of one MatMul graph (input "a" [m, k], weight [k, n] inside), the median of `reps` runs. */
async function matmulGflops(
  ort: Ort,
  backend: Backend,
  probe: { graph: Uint8Array; shape: [number, number, number] },
  reps: number,
) {
  const session = await ort.InferenceSession.create(probe.graph, { executionProviders: [backend] });
  try {
    const [m, k, n] = probe.shape;
    const a = new ort.Tensor('float32', new Float32Array(m * k).fill(0.01), [m, k]);
    await session.run({ a });
    const times: number[] = [];
    for (let r = 0; r < Math.max(reps, 5); r++) {
      const began = performance.now();
      await session.run({ a });
      times.push(performance.now() - began);
    }
    return { gflops: (2 * m * k * n) / 1e9 / (median(times) / 1000), shape: probe.shape };
  } finally {
    await session.release();
  }
}

/** BENCHMARKS.md's rows for scale reports; `data`: the saved reports' links, cited below the table. */
export function scaleMarkdown(reports: ScaleReport[], data: string[] = []): string[] {
  if (!reports.length) return [];
  const f1 = (v: number) => v.toFixed(1);
  const memory = (r: ScaleReport) =>
    r.peakRssMb === null || r.baseRssMb === null
      ? 'not measured'
      : `${r.peakRssMb} MB (before: ${r.baseRssMb} MB${r.runtimeRssMb ? `; the runtime started: ${r.runtimeRssMb} MB` : ''})`;
  const share = (r: ScaleReport) =>
    r.peakRssMb === null || !r.runtimeRssMb
      ? `– (fp32 weights ${r.fp32WeightsMb} MB)`
      : `${r.peakRssMb - r.runtimeRssMb} MB, ${((r.peakRssMb - r.runtimeRssMb) / r.fp32WeightsMb).toFixed(2)}× the fp32 weights (${r.fp32WeightsMb} MB)`;
  const load = (r: ScaleReport) =>
    r.runtimeStartMs === undefined
      ? `${f1(r.loadMs / 1000)} s`
      : `${f1(r.runtimeStartMs / 1000)} s + ${f1(r.loadMs / 1000)} s`;
  return [
    "## A model of the paper's size (U-ViT-S/2, random weights)",
    '',
    "Node wasm and Chromium wasm (the bench page's worker), one thread, medians of the reps; `adadiff bench --scale [--browser [--backend webgpu]]`. A Chromium WebGPU row on a machine without a GPU runs on SwiftShader, the CPU: it shows that the path works at this size (every buffer within WebGPU's default limits) and says nothing of a GPU's speed; its memory lives in the GPU process and is not measured. The weights are random (the shape alone decides the time); the model is `tools.export import-official --config cifar10 --random-weights`. Load is onnxruntime-web's own start (its .wasm compiled and its heap made, the same for any model), then the model's files read and its sessions created. Peak memory is the resident memory at its highest once the segments are loaded and have run, of Node's process or of Chromium's renderer process (where the worker runs; read from Linux's /proc), with the resident memory before anything and once the runtime had started; the model's share is the peak less the latter. The 40 % row runs a static 8 of 13 blocks per pass, so its time against full depth shows whether the time follows the blocks run (0.615 of them). The one graph and the segmented full depth it is compared with run in turn, run for run, so that the machine's drift falls on both. GFLOP/s is the full forward's FLOPs over its time, against one MatMul of the block's MLP shape run alone.",
    '',
    '| runtime | weights | runs | download | load: runtime + model | peak memory | the model’s share | one block | full depth, segmented | one graph | 8 of 13 blocks | GFLOP/s (one MatMul) | 50 evaluations, full / 8 of 13 |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...reports.map((r) => {
      const ratio = r.shallowMs / r.fullMs;
      const mono =
        r.monolithicMs === null
          ? 'not loaded'
          : `${f1(r.monolithicMs)} ms (segmented ${((r.fullBesideMonolithicMs ?? r.fullMs) / r.monolithicMs).toFixed(2)}×${r.fullBesideMonolithicMs ? `: ${f1(r.fullBesideMonolithicMs)} ms run for run beside it` : ''})`;
      const mm =
        r.matmulGflops === null
          ? ''
          : ` (${f1(r.matmulGflops)}, ${Math.round((100 * r.gflops) / r.matmulGflops)} %)`;
      return `| ${r.runtime ?? 'Node wasm'} | ${r.storage}, ${f1(r.parameters / 1e6)} M parameters | ${r.reps} | ${f1(r.modelBytes / 1e6)} MB | ${load(r)} | ${memory(r)} | ${share(r)} | ${f1(r.blockMs)} ms | ${f1(r.fullMs)} ms | ${mono} | ${f1(r.shallowMs)} ms (${ratio.toFixed(3)}× full) | ${f1(r.gflops)}${mm} | ${f1((50 * r.fullMs) / 1000)} s / ${f1((50 * r.shallowMs) / 1000)} s (computed from one pass) |`;
    }),
    '',
    ...(data.length ? [`Data: ${data.map((d) => `[${d.split('/').pop()}](${d})`).join(', ')}.`, ''] : []),
  ];
}
