/**
 * `adadiff bench --browser`: the benchmark in the page's worker in Debian's Chromium, end to end
 * through the CLI (built site, vite preview, playwright-core); and `bench --first-image`, the page
 * timed from navigation to the first image, phase by phase. No timing is asserted: the shape of
 * the reports and what must hold of any timing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { launch, servePreview, waitLoaded } from './browser.mjs';

const run = promisify(execFile);

/** One short browser bench through the CLI (one round, one θ besides the default); its JSON report. */
async function browserBench(extra, { steps, timeout }) {
  const args = ['bench', '--browser', ...extra, '--reps', '1', '--steps', String(steps)];
  const { stdout } = await run(
    process.execPath,
    ['bin/adadiff.js', ...args, '--thresholds', '0.5', '--json', '--quiet'],
    { timeout, maxBuffer: 2 ** 24 },
  );
  return JSON.parse(stdout);
}

test('bench --browser measures every configuration in Chromium and reports the default figures', async () => {
  const report = await browserBench([], { steps: 2, timeout: 300_000 });
  assert.equal(report.backend, 'wasm');
  assert.match(report.environment, /Chrome\//);
  assert.deepEqual([...new Set(report.rows.map((r) => r.kind))].sort(), [
    'adaptive',
    'monolithic',
    'monolithic-scheduled',
    'schedule',
    'segmented-full',
    'static',
  ]);
  for (const k of [
    'threshold',
    'savedFraction',
    'savedByExits',
    'adaptiveMs',
    'segmentedFullMs',
    'monolithicMs',
    'monolithicScheduledMs',
  ]) {
    assert.equal(typeof report.default[k], 'number', k);
  }
  const full = report.rows.find((r) => r.kind === 'segmented-full');
  assert.equal(full.savedFraction, 0);
  assert.ok(report.rows.find((r) => r.threshold === 0.5).savedFraction > 0, 'θ = 0.5 skips blocks');
  assert.equal(report.graphCapture, undefined, 'graph capture is a WebGPU question');
});

test('bench --browser --backend webgpu checks graph capture against ordinary runs in both WebGPU builds', async () => {
  // SwiftShader runs a block in ~0.1 s: one step keeps this to a few minutes
  const report = await browserBench(['--backend', 'webgpu'], { steps: 1, timeout: 600_000 });
  assert.equal(report.backend, 'webgpu');
  assert.match(report.environment, /WebGPU adapter/);
  const probes = report.graphCapture;
  assert.deepEqual(
    probes.map((p) => p.build),
    ['onnxruntime-web/webgpu (WebGPU EP)', 'onnxruntime-web (JSEP)'],
  );
  for (const p of probes) {
    assert.equal(p.block, report.readback.block, 'the probe times the same skip-free block');
    // a broken replay may compute garbage or throw: either way it is reported, never a match
    if (p.error !== undefined) assert.equal(p.matches, false, p.build);
    else {
      assert.ok(Number.isFinite(p.maxAbsDiff), `${p.build}: no difference measured`);
      assert.equal(p.matches, !p.nonFinite && p.maxAbsDiff <= 1e-5);
    }
    // timed exactly when the replays matched
    assert.equal(p.eagerMs !== null && p.capturedMs !== null, p.matches, p.build);
    if (p.matches) assert.ok(p.eagerMs > 0 && p.capturedMs > 0);
  }
  // JSEP's capture is the reference that the probe itself is sound: its replays must agree
  const jsep = probes[1];
  assert.equal(
    jsep.matches,
    true,
    `JSEP: ${jsep.error ?? `replays differ by ${jsep.maxAbsDiff}`}: the probe misuses capture`,
  );
});

const FIRST_IMAGE_PHASES = [
  'page',
  'worker',
  'model',
  'runtime-fetch',
  'runtime-start',
  'sessions',
  'warm-up',
  'hand-over',
  'first-step',
  'steps',
  'image',
];

test('bench --first-image reports every phase of a cold, a warm and a hot load; they add up to the first image', async () => {
  const { stdout } = await run(
    process.execPath,
    [
      'bin/adadiff.js',
      'bench',
      '--first-image',
      '--model',
      'fmnist-uvit13',
      '--reps',
      '1',
      '--throttle',
      '0',
    ].concat(['--json', '--quiet']),
    { timeout: 300_000, maxBuffer: 2 ** 26 },
  );
  const report = JSON.parse(stdout);
  assert.equal(report.backend, 'wasm');
  assert.deepEqual(
    report.rows.map((r) => r.cache),
    ['cold', 'warm', 'hot'],
  );
  for (const row of report.rows) {
    assert.equal(row.model, 'fmnist-uvit13');
    assert.equal(row.runs.length, 1);
    const [r] = row.runs;
    assert.equal(r.firstImageMs, row.firstImageMs);
    assert.ok(r.readyMs > 0 && r.readyMs < r.firstImageMs, `${row.cache}: ready before the image`);
    assert.equal(r.transferredBytes, r.bytes.runtime + r.bytes.model + r.bytes.page);
    const { spans, held, totalMs } = r.phases;
    assert.equal(totalMs, r.firstImageMs);
    assert.deepEqual(Object.keys(spans).sort(), [...FIRST_IMAGE_PHASES].sort(), `${row.cache}: every phase`);
    for (const [phase, span] of Object.entries(spans)) {
      assert.ok(span.start >= 0 && span.end >= span.start, `${row.cache} ${phase}: ${JSON.stringify(span)}`);
      assert.ok(span.end <= totalMs + 1e-6, `${row.cache} ${phase} ends within the run`);
    }
    const sum = Object.values(held).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - totalMs) < 1e-3, `${row.cache}: held times sum to ${sum}, not ${totalMs}`);
    assert.ok(Object.values(held).every((v) => v >= 0));
    // the sessions are named by their files, the fused prefix among them
    assert.ok(
      r.phases.segments.some((s) => s.file === 'prefix.onnx'),
      JSON.stringify(r.phases.segments),
    );
    assert.ok(r.phases.segments.every((s) => s.ms >= 0));
    // the wasm page fetches the wasm build of onnxruntime-web and no WebGPU build
    assert.ok(
      r.runtimeFiles.some((f) => /^ort-wasm-simd-threaded-[\w-]+\.wasm$/.test(f)),
      r.runtimeFiles.join(),
    );
    assert.deepEqual(
      r.runtimeFiles.filter((f) => /asyncify|jspi|jsep|webgpu/.test(f)),
      [],
      `the wasm path loads no WebGPU build`,
    );
  }
  const [cold, ...returns] = report.rows;
  assert.ok(cold.transferredBytes > cold.modelBytes * 0.5, 'a fresh profile downloads the model');
  // warm and hot: the runtime from the HTTP cache, the model from Cache Storage (manifest.json is revalidated)
  for (const again of returns) {
    assert.equal(again.bytes.runtime, 0, `${again.cache}: runtime bytes`);
    assert.ok(again.bytes.model < 0.01 * cold.bytes.model, `${again.cache} model bytes ${again.bytes.model}`);
  }
});

test('each backend fetches only its own onnxruntime-web build: wasm, or WebGPU on JSPI', async () => {
  const served = await servePreview(4191);
  const gpu = await launch({ webgpu: true });
  try {
    const runtimeFiles = async (backend) => {
      const from = gpu.requests.length;
      const page = await gpu.context.newPage();
      await page.goto(`${served.url}?backend=${backend}&steps=1`);
      await waitLoaded(page, 300_000);
      assert.equal(await page.getAttribute('[data-testid=backend-badge]', 'data-backend'), backend);
      await page.close();
      return gpu.requests
        .slice(from)
        .map((u) => new URL(u).pathname.split('/').pop())
        .filter((f) => /^ort[.-]/.test(f));
    };
    const wasm = await runtimeFiles('wasm');
    assert.ok(
      wasm.some((f) => /^ort-wasm-simd-threaded-[\w-]+\.wasm$/.test(f)),
      wasm.join(),
    );
    assert.deepEqual(
      wasm.filter((f) => /asyncify|jspi|jsep|webgpu/.test(f)),
      [],
      'the wasm path loads no WebGPU build',
    );
    // Debian's Chromium has WebAssembly.Suspending: the JSPI build, not asyncify's
    const webgpu = await runtimeFiles('webgpu');
    assert.ok(
      webgpu.some((f) => /^ort-wasm-simd-threaded\.jspi-[\w-]+\.wasm$/.test(f)),
      webgpu.join(),
    );
    assert.deepEqual(
      webgpu.filter((f) => /asyncify|jsep|^ort-wasm-simd-threaded-|^ort\.wasm\./.test(f)),
      [],
      'the WebGPU path loads neither the wasm build nor another WebGPU build',
    );
  } finally {
    await gpu.context.close();
    await served.server.close();
  }
});

test('bench --scale --browser times a model in Chromium wasm and reads its renderer memory', async () => {
  const probe = path.join(mkdtempSync(path.join(tmpdir(), 'scale-probe-')), 'probe.onnx');
  await run('/usr/bin/python3', [
    ...['-m', 'tools.export', 'matmul-probe', '--tokens', '51', '--dim', '128', '--hidden', '512'],
    ...['--out', probe],
  ]);
  const { stdout } = await run(
    process.execPath,
    [
      ...['bin/adadiff.js', 'bench', '--scale', '--browser', '--model', 'public/models/fmnist-uvit13'],
      ...['--matmul', probe, '--reps', '1', '--json', '--quiet'],
    ],
    { timeout: 300_000, maxBuffer: 2 ** 24 },
  );
  const r = JSON.parse(stdout);
  assert.equal(r.runtime, 'Chromium wasm');
  assert.equal(r.model, 'fmnist-uvit13');
  assert.equal(r.shallowBlocks, 8);
  for (const k of ['loadMs', 'blockMs', 'fullMs', 'shallowMs', 'monolithicMs', 'gflops', 'matmulGflops'])
    assert.ok(r[k] > 0, `${k} is ${r[k]}`);
  assert.deepEqual(r.matmulShape, [51, 128, 512]);
  // the renderer holds the page before anything, then onnxruntime-web, then the model's sessions
  assert.ok(r.baseRssMb > 0, `baseRssMb is ${r.baseRssMb}`);
  assert.ok(r.runtimeRssMb > r.baseRssMb, `runtime started: ${r.runtimeRssMb} MB, before ${r.baseRssMb} MB`);
  assert.ok(r.peakRssMb >= r.runtimeRssMb, `peak ${r.peakRssMb} MB, runtime started ${r.runtimeRssMb} MB`);
});
