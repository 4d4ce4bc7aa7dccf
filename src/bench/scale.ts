/**
 * A model of the paper's size in the runtime (Node wasm): what loading it costs in time and memory,
 * the time of one block, of a full-depth forward pass segmented and as one graph, of a pass that
 * skips 40 % of the blocks, and the GFLOP/s reached against what onnxruntime-web reaches on one
 * MatMul of the block's own shape (the practical limit here). The model is one of the official
 * shape with random weights (`tools.export import-official --random-weights`); the MatMul graph is
 * `tools.export matmul-probe`'s.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { resourceUsage } from 'node:process';
import { directorySource } from '../node/source';
import { loadModel, runPass, SegmentRunner, type DepthPolicy, type Ort } from '../runtime';
import { openMonolithic, timeBlock } from './monolithic';
import { median } from './stats';

export interface ScaleReport {
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
  loadMs: number;
  /**
   * The process's peak resident memory after loading the segments and running them (the monolithic
   * graph, opened after, is not in it), and before loading (MB).
   */
  peakRssMb: number;
  baseRssMb: number;
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

const mb = (kb: number) => Math.round(kb / 1024);

export async function scaleBench(
  ort: Ort,
  modelDir: string,
  opts: { reps: number; matmul?: string; onProgress?: (line: string) => void },
): Promise<ScaleReport> {
  const say = opts.onProgress ?? (() => undefined);
  const baseRssMb = mb(resourceUsage().maxRSS);
  const started = performance.now();
  const model = await loadModel(directorySource(modelDir));
  const runner = await SegmentRunner.create(ort, model, { backend: 'wasm' });
  const loadMs = performance.now() - started;
  say(`loaded in ${(loadMs / 1000).toFixed(1)} s\n`);
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
    const peakRssMb = mb(resourceUsage().maxRSS); // before the monolithic graph adds its own copy
    let monolithicMs: number | null = null;
    let fullBesideMonolithicMs: number | null = null;
    const monoSpec = m.baselines?.monolithic;
    if (monoSpec && existsSync(path.join(modelDir, monoSpec.path))) {
      // read only now, so the peak above is the segments' alone
      model.files.set(monoSpec.path, new Uint8Array(await readFile(path.join(modelDir, monoSpec.path))));
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
    const matmul = opts.matmul ? await matmulGflops(ort, opts.matmul, opts.reps) : null;
    const parameters = m.architecture.parameters ?? 0;
    return {
      model: m.id,
      storage: m.storage ?? 'fp32',
      parameters,
      modelBytes: [m.segments.embed, ...m.segments.blocks, m.segments.head].reduce((s, f) => s + f.bytes, 0),
      tokens: m.architecture.tokens,
      embedDim: m.architecture.embedDim,
      numBlocks: runner.numBlocks,
      forwardGflop: flops / 1e9,
      loadMs,
      peakRssMb,
      baseRssMb,
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

/** GFLOP/s of one MatMul graph (input "a" [m, k], weight [k, n] inside), the median of `reps` runs. */
async function matmulGflops(ort: Ort, file: string, reps: number) {
  const session = await ort.InferenceSession.create(new Uint8Array(await readFile(file)));
  try {
    const meta = JSON.parse(await readFile(file.replace(/\.onnx$/, '.json'), 'utf8')) as {
      shape: [number, number, number];
    };
    const [m, k, n] = meta.shape;
    const a = new ort.Tensor('float32', new Float32Array(m * k).fill(0.01), [m, k]);
    await session.run({ a });
    const times: number[] = [];
    for (let r = 0; r < Math.max(reps, 5); r++) {
      const began = performance.now();
      await session.run({ a });
      times.push(performance.now() - began);
    }
    return { gflops: (2 * m * k * n) / 1e9 / (median(times) / 1000), shape: meta.shape };
  } finally {
    await session.release();
  }
}

/** BENCHMARKS.md's rows for scale reports; `data`: the saved reports' links, cited below the table. */
export function scaleMarkdown(reports: ScaleReport[], data: string[] = []): string[] {
  if (!reports.length) return [];
  const f1 = (v: number) => v.toFixed(1);
  return [
    "## A model of the paper's size (U-ViT-S/2, random weights)",
    '',
    "Node wasm, one thread, medians of the reps; `adadiff bench --scale`. The weights are random (the shape alone decides the time); the model is `tools.export import-official --config cifar10 --random-weights`. The 40 % row runs a static 8 of 13 blocks per pass, so its time against full depth shows whether the time follows the blocks run (0.615 of them). The one graph and the segmented full depth it is compared with run in turn, run for run, so that the machine's drift falls on both. GFLOP/s is the full forward's FLOPs over its time, against one MatMul of the block's MLP shape run alone.",
    '',
    '| weights | download | load | peak memory (base) | one block | full depth, segmented | one graph | 8 of 13 blocks | GFLOP/s (one MatMul) | 50 evaluations, full / 8 of 13 |',
    '|---|---|---|---|---|---|---|---|---|---|',
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
      return `| ${r.storage}, ${f1(r.parameters / 1e6)} M parameters | ${f1(r.modelBytes / 1e6)} MB | ${f1(r.loadMs / 1000)} s | ${r.peakRssMb} MB (${r.baseRssMb} MB; fp32 weights ${r.fp32WeightsMb} MB) | ${f1(r.blockMs)} ms | ${f1(r.fullMs)} ms | ${mono} | ${f1(r.shallowMs)} ms (${ratio.toFixed(3)}× full) | ${f1(r.gflops)}${mm} | ${f1((50 * r.fullMs) / 1000)} s / ${f1((50 * r.shallowMs) / 1000)} s (computed from one pass) |`;
    }),
    '',
    ...(data.length ? [`Data: ${data.map((d) => `[${path.basename(d)}](${d})`).join(', ')}.`, ''] : []),
  ];
}
