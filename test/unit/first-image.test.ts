/**
 * bench --first-image: its flags are checked before Chromium starts; a page load's timeline is cut
 * into phases that are never negative and add up to the first image; and its BENCHMARKS.md section
 * shows every measured row with the conditions it was measured under, old reports as they were.
 */
import { describe, expect, it } from 'vitest';
import { chromiumReady } from '../../src/bench/browser';
import { firstImageMarkdown, type CacheState, type FirstImageReport } from '../../src/bench/first-image';
import {
  held,
  PHASES,
  runPhases,
  summarisePhases,
  type GlobalTimeline,
  type ObservedRun,
} from '../../src/bench/first-image-phases';
import { main } from '../../src/cli/main';

async function cli(...args: string[]) {
  let stderr = '';
  const code = await main(args, { stdout: () => undefined, stderr: (s) => void (stderr += s) });
  return { code, stderr };
}

/** The conditions the rendered reports below were measured under. */
const WASM_AT_10_MBPS = {
  environment: 'Chromium (wasm), linux',
  backend: 'wasm',
  throttleMbps: 10,
  latencyMs: 20,
  compression: 'gzip',
} as const;

describe('bench --first-image', () => {
  it('refuses a bad throttle, a throttle without --first-image and a missing model, in words', async () => {
    const nan = await cli('bench', '--first-image', '--throttle', 'fast');
    expect(nan.code).toBe(2);
    expect(nan.stderr).toMatch(/--throttle/);
    const alone = await cli('bench', '--throttle', '10');
    expect(alone.code).toBe(2);
    expect(alone.stderr).toMatch(/--throttle goes with --first-image/);
    const missing = await cli('bench', '--first-image', '--model', '/nonexistent/model');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/\/nonexistent\/model\/manifest\.json/);
    const site = await cli('bench', '--site', 'a=dist');
    expect(site.code).toBe(2);
    expect(site.stderr).toMatch(/--site goes with --first-image/);
    const twice = await cli('bench', '--first-image', '--site', 'a=dist,a=other');
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/each label once/);
  });

  it('chromiumReady, which every browser bench calls first, names a missing Chromium and how to get one', () => {
    expect(() => chromiumReady('/nonexistent/chromium')).toThrow(
      /no Chromium at \/nonexistent\/chromium: apt-get install chromium, or set CHROMIUM_PATH/,
    );
    expect(chromiumReady(process.execPath)).toBe(process.execPath);
  });

  it('renders one table row per model and cache state, with the network conditions', () => {
    const report: FirstImageReport = {
      ...WASM_AT_10_MBPS,
      rows: [
        {
          model: 'm',
          storage: 'int8',
          modelBytes: 3.2e6,
          cache: 'cold',
          readyMs: 10400,
          firstImageMs: 11700,
          transferredBytes: 6.64e6,
          reps: 3,
        },
        {
          model: 'm',
          modelStep: 15018,
          storage: 'int8',
          modelBytes: 3.2e6,
          cache: 'warm',
          readyMs: 2800,
          firstImageMs: 4400,
          transferredBytes: 0,
          reps: 3,
        },
      ],
    };
    const md = firstImageMarkdown([report]).join('\n');
    expect(md).toMatch(
      /throttled to 10 Mbit\/s each way, 20 ms latency; served gzip; medians of 3 runs per row/,
    );
    expect(md).toContain('| m (int8) | 3.20 MB | cold | 10.4 s | 11.7 s | 6.64 MB |');
    // which weights a row timed, where the report recorded it
    expect(md).toContain('| m (step 15,018, int8) | 3.20 MB | warm | 2.8 s | 4.4 s | 0.00 MB |');
    expect(firstImageMarkdown([])).toEqual([]);
  });
});

/** A load as the engine marks it (src/worker/marks.ts), the worker started 300 ms after navigation. */
function timeline(): ObservedRun {
  const page: GlobalTimeline = { timeOrigin: 1_000_000, marks: [], resources: [] };
  const at = (name: string, t: number) => ({ name: `adadiff:${name}`, startTime: t - 300 });
  const res = (name: string, start: number, end: number) => ({
    name: `http://127.0.0.1:1/${name}`,
    startTime: start - 300,
    responseEnd: end - 300,
    transferSize: 1000,
  });
  const worker: GlobalTimeline = {
    timeOrigin: 1_000_300,
    marks: [
      at('load', 400),
      at('model:start', 420),
      at('runtime:start', 430),
      at('runtime', 2600),
      at('model', 3000),
      at('sessions', 3000),
      at('session embed.onnx', 3050),
      // a session made as its file came in: timed from its own start
      at('creating prefix.onnx', 3100),
      at('session prefix.onnx', 3400),
      at('ready', 3600),
      at('generate', 3700),
      at('step 1', 3760),
      at('generated', 4100),
    ],
    // the runtime downloads while the model does
    resources: [
      res('m0/manifest.json', 420, 450),
      res('m0/prefix.onnx', 450, 2900),
      res('assets/ort.wasm.bundle.min-abc.js', 430, 500),
      res('assets/ort-wasm-simd-threaded-abc.wasm', 500, 2400),
    ],
  };
  return { page, worker, readyAt: 3650, clickAt: 3650, imageAt: 4150, modelPrefix: '/m0/' };
}

describe('first-image phases', () => {
  it('cuts a load into every phase, none negative, each within the run, and the held times add up', () => {
    const r = runPhases(timeline());
    expect(r.totalMs).toBe(4150);
    expect(Object.keys(r.spans).sort()).toEqual([...PHASES].sort());
    for (const [phase, span] of Object.entries(r.spans)) {
      expect(span.start, phase).toBeGreaterThanOrEqual(0);
      expect(span.end, phase).toBeGreaterThanOrEqual(span.start);
      expect(span.end, phase).toBeLessThanOrEqual(r.totalMs);
    }
    expect(r.spans.page).toEqual({ start: 0, end: 300 });
    expect(r.spans['runtime-fetch']).toEqual({ start: 430, end: 2400 });
    // compile and start: what remains after the download
    expect(r.spans['runtime-start']).toEqual({ start: 2400, end: 2600 });
    expect(r.spans.model).toEqual({ start: 420, end: 3000 });
    expect(r.segments).toEqual([
      { file: 'embed.onnx', ms: 50 },
      { file: 'prefix.onnx', ms: 300 },
    ]);
    const total = Object.values(r.held).reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(r.totalMs, 6);
    for (const v of Object.values(r.held)) expect(v).toBeGreaterThanOrEqual(0);
    // concurrent work: the model ends last, so it holds the time the runtime shares with it
    expect(r.held['runtime-fetch'] ?? 0).toBe(0);
    expect(r.held.model).toBeCloseTo(3000 - 420, 6);
  });

  it('a build without the marks still gets what the network and the page show', () => {
    const run = timeline();
    run.worker!.marks = [];
    const r = runPhases(run);
    expect(r.spans.model).toEqual({ start: 420, end: 2900 });
    expect(r.spans['runtime-fetch']).toBeDefined();
    expect(r.spans.sessions).toBeUndefined();
    expect(r.spans.image).toEqual({ start: 3650, end: 4150 });
    const total = Object.values(r.held).reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(r.totalMs, 6);
    const bare = runPhases({ ...run, worker: null });
    expect(Object.keys(bare.spans).sort()).toEqual(['hand-over', 'image']);
    expect(bare.held.waiting).toBeCloseTo(3650, 6);
  });

  it('gives each moment to the phase under way that ends last; time under none is waiting', () => {
    expect(
      held(
        {
          model: { start: 0, end: 10 },
          'runtime-fetch': { start: 5, end: 20 },
          sessions: { start: 25, end: 30 },
        },
        30,
      ),
    ).toEqual({ model: 5, 'runtime-fetch': 15, waiting: 5, sessions: 5 });
  });

  it('summarises runs: medians of the spans, the spread of the held times, segments by file', () => {
    const a = runPhases(timeline());
    const slow = timeline();
    slow.imageAt = 5150;
    const b = runPhases(slow);
    const { phases, segments } = summarisePhases([a, b]);
    const image = phases.find((p) => p.phase === 'image')!;
    expect(image.runs).toBe(2);
    expect(image.held.min).toBeCloseTo(50, 6);
    expect(image.held.max).toBeCloseTo(1050, 6);
    expect(image.held.median).toBeCloseTo(550, 6);
    expect(segments.map((g) => g.file)).toEqual(['embed.onnx', 'prefix.onnx']);
  });
});

describe('first-image markdown with phases', () => {
  it('compares builds side by side: the summary with the wire limit, the phases, the segments', () => {
    const phases = runPhases(timeline());
    const summary = summarisePhases([phases]);
    const row = (site: string, cache: CacheState) => ({
      model: 'm',
      modelStep: 100,
      storage: 'int8',
      modelBytes: 3.8e6,
      site,
      cache,
      readyMs: 3650,
      firstImageMs: 4150,
      transferredBytes: cache === 'cold' ? 5e6 : 0,
      reps: 5,
      ready: { median: 3650, min: 3600, max: 3700 },
      firstImage: { median: 4150, min: 4100, max: 4300 },
      bytes:
        cache === 'cold' ? { runtime: 2e6, model: 2.9e6, page: 0.1e6 } : { runtime: 0, model: 0, page: 0 },
      wireLimitMs: cache === 'cold' ? 4000 : 0,
      ...summary,
    });
    const report: FirstImageReport = {
      ...WASM_AT_10_MBPS,
      sites: [
        { label: 'before', dir: '/tmp/before/dist', compression: 'gzip' },
        { label: 'after', dir: '/x/dist', compression: 'br' },
      ],
      rows: [row('before', 'cold'), row('after', 'cold'), row('before', 'warm'), row('after', 'warm')],
    };
    const md = firstImageMarkdown([report]).join('\n');
    expect(md).toMatch(/served before: gzip, after: brotli \(precompressed\); medians of 5 runs per row/);
    expect(md).toContain(
      '| m (step 100, int8) | before | cold | 3.6 s (3.6 s–3.7 s) | 4.2 s (4.1 s–4.3 s) | 5.00 MB: 2.00 MB + 2.90 MB + 0.10 MB | 4.0 s | 1.04× |',
    );
    expect(md).toContain(
      '| m | before → after | 4.15 s → 4.15 s (±0.00 s) | 5.00 MB → 5.00 MB (±0.00 MB) | 4.15 s → 4.15 s (±0.00 s) | 0.00 MB → 0.00 MB (±0.00 MB) |',
    );
    expect(md).toContain('| phase | before, cold | after, cold | before, warm | after, warm |');
    expect(md).toMatch(/\| session creation, every segment \| 0\.40 s \(3\.00 s–3\.40 s\) \|/);
    expect(md).toContain('| prefix.onnx | 300 | 300 | 300 | 300 |');
    expect(md).toContain('| **first image** | **4.15 s** |');
    expect(md).not.toContain('hot: first image');

    expect(firstImageMarkdown([{ ...report, warmAfterMs: 5000 }]).join('\n')).toMatch(
      /the warm visit 5 s after the cold one's image/,
    );

    // a third visit: its own columns, after the warm ones whatever order the rows come in, and its
    // first image compared build to build ('–' where a build has none)
    const faster = { ...row('after', 'hot'), firstImageMs: 1500 };
    const [coldBefore, coldAfter, warmBefore, warmAfter] = report.rows;
    const withHot = {
      ...report,
      warmAfterMs: 5000,
      rows: [row('before', 'hot'), faster, coldBefore!, warmBefore!, coldAfter!, warmAfter!],
    };
    const hot = firstImageMarkdown([withHot]).join('\n');
    expect(hot).toMatch(/each return visit 5 s after the image before it/);
    expect(hot).toContain('| warm: first image | warm: over the wire | hot: first image |');
    expect(hot).toContain('| 0.00 MB → 0.00 MB (±0.00 MB) | 4.15 s → 1.50 s (−2.65 s) |');
    expect(hot).toContain(
      '| phase | before, cold | after, cold | before, warm | after, warm | before, hot | after, hot |',
    );
    const oneHot = firstImageMarkdown([{ ...withHot, rows: withHot.rows.filter((x) => x !== faster) }]);
    expect(oneHot.join('\n')).toMatch(/\| 0\.00 MB → 0\.00 MB \(±0\.00 MB\) \| – \|/);
  });
});
