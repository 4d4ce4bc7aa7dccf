/**
 * `adadiff bench --browser`: the benchmark in the page's worker in Debian's Chromium, end to end
 * through the CLI (built site, vite preview, playwright-core).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';

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
