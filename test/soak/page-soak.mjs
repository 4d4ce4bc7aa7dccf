#!/usr/bin/env node
/**
 * Page soak (a benchmark, not a test): N consecutive generations in the built page in Debian's
 * Chromium, sampling the JS heap of the page and of the engine's worker (after a GC in each)
 * every few generations; with --webgpu (SwiftShader here) it also counts live GPU buffers.
 *
 *   npm run build && node test/soak/page-soak.mjs [--count 200] [--steps 2] [--every 10] [--webgpu]
 *
 * Writes docs/results/soak/page-wasm.json (page-webgpu.json with --webgpu), which RELIABILITY.md quotes.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generateAndWait, launch, prefixWorkerScript, servePreview, waitLoaded } from '../e2e/browser.mjs';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '200' },
    steps: { type: 'string', default: '2' },
    every: { type: 'string', default: '10' },
    webgpu: { type: 'boolean', default: false },
  },
});
const count = Number(values.count);
const every = Number(values.every);
if (!(count > 0 && every > 0)) throw new Error('--count and --every must be positive integers');

// counts GPU buffers created and destroyed in the worker, without touching the product
const GPU_BUFFERS = `
{
  globalThis.__liveGpuBuffers = 0;
  const proto = globalThis.GPUDevice?.prototype;
  if (proto) {
    const create = proto.createBuffer;
    proto.createBuffer = function (...args) {
      const buffer = create.apply(this, args);
      globalThis.__liveGpuBuffers++;
      const destroy = buffer.destroy.bind(buffer);
      buffer.destroy = () => (globalThis.__liveGpuBuffers--, destroy());
      return buffer;
    };
  }
}
`;

const served = await servePreview(4195);
const browser = await launch({
  webgpu: values.webgpu,
  extraArgs: ['--js-flags=--expose-gc', '--enable-blink-features=ForceEagerMeasureMemory'],
});
try {
  if (values.webgpu) {
    await prefixWorkerScript(browser.context, GPU_BUFFERS);
  }
  const page = await browser.context.newPage();
  const backend = values.webgpu ? 'webgpu' : 'wasm';
  await page.goto(`${served.url}?steps=${values.steps}&backend=${backend}`);
  await waitLoaded(page, 300_000);
  const worker = page.workers()[0];
  if (!worker) throw new Error('the engine worker did not start');

  const started = Date.now();
  const sample = async (generation) => {
    await worker.evaluate(() => globalThis.gc?.());
    await page.evaluate(() => globalThis.gc?.());
    const memory = await page.evaluate(async () => {
      const m = await performance.measureUserAgentSpecificMemory();
      const js = (scope) =>
        m.breakdown
          .filter((b) => b.types.includes('JavaScript') && b.attribution.some((a) => a.scope === scope))
          .reduce((a, b) => a + b.bytes, 0);
      return {
        totalMB: m.bytes / 2 ** 20,
        pageMB: js('Window') / 2 ** 20,
        workerMB: js('DedicatedWorkerGlobalScope') / 2 ** 20,
      };
    });
    const gpuBuffers = values.webgpu ? await worker.evaluate(() => globalThis.__liveGpuBuffers) : null;
    const row = {
      generation,
      ...round(memory),
      gpuBuffers,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    console.log(JSON.stringify(row));
    return row;
  };

  const samples = [];
  for (let i = 1; i <= count; i++) {
    await page.getByLabel('Seed', { exact: true }).fill(String(i));
    const status = await generateAndWait(page);
    if (status !== 'done') throw new Error(`generation ${i} ended as ${status}`);
    if (i % every === 0 || i === count) samples.push(await sample(i));
  }
  const warm = samples.find((s) => s.generation >= Math.min(2 * every, count)) ?? samples[0];
  const last = samples[samples.length - 1];
  const growth = (key) => (warm[key] ? (last[key] - warm[key]) / warm[key] : last[key] - warm[key]);
  const report = {
    backend,
    count,
    steps: Number(values.steps),
    warmupGeneration: warm.generation,
    growth: {
      totalMB: growth('totalMB'),
      workerMB: growth('workerMB'),
      pageMB: growth('pageMB'),
      gpuBuffers: values.webgpu ? growth('gpuBuffers') : null,
    },
    samples,
    wallMs: Date.now() - started,
    userAgent: await page.evaluate(() => globalThis.navigator.userAgent),
  };
  const out = `docs/results/soak/page-${values.webgpu ? 'webgpu' : 'wasm'}.json`;
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  console.log(`${out}: heap growth after warm-up ${(100 * report.growth.totalMB).toFixed(1)} %`);
} finally {
  await browser.context.close();
  await served.server.close();
}

function round(o) {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v.toFixed(2))]));
}
