/** The scale benchmark's measurements, on the shipped model (small: the figures' shape, not their size). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { scaleMarkdown } from '../../src/bench/scale';
import { nodeScaleBench } from '../../src/bench/scale-node';
import { MODEL_DIR } from './fixtures';

ort.env.logLevel = 'error';

describe('adadiff bench --scale', () => {
  it('measures load, memory, a block, the passes and the GFLOP/s against one MatMul, and renders a row', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'matmul-'));
    const probe = path.join(dir, 'probe.onnx');
    execFileSync('/usr/bin/python3', [
      '-m',
      'tools.export',
      'matmul-probe',
      '--tokens',
      '51',
      '--dim',
      '128',
      '--hidden',
      '512',
      '--out',
      probe,
    ]);
    const r = await nodeScaleBench(ort, MODEL_DIR, { reps: 1, matmul: probe });
    expect(r.runtime).toBe('Node wasm');
    expect(r.model).toBe('fmnist-uvit13');
    expect(r.parameters).toBeGreaterThan(2e6);
    expect(r.numBlocks).toBe(13);
    expect(r.shallowBlocks).toBe(8); // 40 % of 13 blocks skipped, rounded
    expect(r.loadMs).toBeGreaterThan(0);
    expect(r.baseRssMb).toBeGreaterThan(0);
    expect(r.runtimeRssMb).toBeGreaterThanOrEqual(r.baseRssMb!); // measured apart, after the runtime started
    expect(r.peakRssMb).toBeGreaterThanOrEqual(r.runtimeRssMb!);
    expect(r.runtimeStartMs).toBeGreaterThan(0);
    for (const v of [
      r.blockMs,
      r.fullMs,
      r.shallowMs,
      r.gflops,
      r.forwardGflop,
      r.monolithicMs ?? NaN,
      r.fullBesideMonolithicMs ?? NaN,
    ])
      expect(v).toBeGreaterThan(0);
    expect(r.matmulShape).toEqual([51, 128, 512]);
    expect(r.matmulGflops).toBeGreaterThan(0);
    const md = scaleMarkdown([r], ['docs/results/scale/m.json']).join('\n');
    expect(md).toMatch(
      /\| Node wasm \| int8, [\d.]+ M parameters \| 1 \| 3\.\d MB \| [\d.]+ s \+ [\d.]+ s \|/,
    );
    expect(md).toMatch(/\| \d+ MB, [\d.]+× the fp32 weights \(11 MB\) \|/);
    expect(md).toMatch(/computed from one pass/);
    expect(md).toContain('Data: [m.json](docs/results/scale/m.json).'); // the rows cite their report
  });

  it('renders an older report (one load time, no runtime) and a run without memory figures', () => {
    const older = {
      model: 'uvit-s2',
      storage: 'int8',
      parameters: 44.3e6,
      modelBytes: 54.8e6,
      tokens: 257,
      embedDim: 512,
      numBlocks: 13,
      forwardGflop: 24.4,
      loadMs: 2700,
      peakRssMb: 509,
      baseRssMb: 99,
      fp32WeightsMb: 169,
      blockMs: 103.5,
      fullMs: 1460,
      monolithicMs: null,
      shallowBlocks: 8,
      shallowMs: 861,
      gflops: 16.7,
      matmulGflops: null,
      matmulShape: null,
      reps: 7,
    };
    const gpu = {
      ...older,
      runtime: 'Chromium WebGPU (swiftshader, software)',
      peakRssMb: null,
      baseRssMb: null,
    };
    const md = scaleMarkdown([older, gpu]).join('\n');
    // Node's by default; its one load time; no share without the runtime's own figure
    expect(md).toMatch(
      /\| Node wasm \| int8, 44\.3 M parameters \| 7 \| 54\.8 MB \| 2\.7 s \| 509 MB \(before: 99 MB\) \| – \(fp32 weights 169 MB\) \|/,
    );
    expect(md).toMatch(
      /\| Chromium WebGPU \(swiftshader, software\) \| .* \| not measured \| – \(fp32 weights 169 MB\) \|/,
    );
    expect(md).toContain('| not loaded |');
  });
});
