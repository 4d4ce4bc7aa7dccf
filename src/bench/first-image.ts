/**
 * Time to first image in Chromium, as a visitor sees it: open the built page, wait for the model,
 * press Generate, wait for the image. Cold (a fresh profile: nothing cached), warm (the same
 * profile again: the HTTP cache holds the runtime, Cache Storage the model) and hot (once more: V8's
 * code cache holds what the warm visit optimised; CACHE_STATES), with the network
 * throttled through the DevTools protocol. The site is served by tools/package/serve.mjs: its
 * precompressed copies where the build wrote them, otherwise every file gzip-compressed on the fly,
 * as any static host or CDN does; from a server of its own, so the throttle sees the real bytes.
 *
 * Where the time goes: a script the bench adds to the page records, on the page's clock, when the
 * backend badge appears, presses Generate at that moment (no round trip through the bench), and
 * records when the image is done; the engine worker's User Timing marks (src/worker/marks.ts) and
 * both globals' Resource Timing give the phases in between (first-image-phases.ts). A build
 * without the marks (an older one) still gets the phases the network shows.
 *
 * Several builds (`sites`, e.g. before and after a change) are timed in the same run, their runs
 * interleaved, so that they share the machine's conditions.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { modelFiles, type Backend, type Manifest } from '../runtime';
import { serveSite } from '../../tools/package/serve.mjs';
import { BrowserBenchError, chromiumReady } from './browser';
import { chromiumArgs } from './chromium.mjs';
import { RUNTIME_FILE, runPhases, spread, summarisePhases, type GlobalTimeline } from './first-image-phases';
import {
  CACHE_STATES,
  type CacheState,
  type FirstImageReport,
  type FirstImageRow,
  type FirstImageRun,
  type FirstImageSite,
  type WireBytes,
} from './first-image-report';
import { median } from './stats';
import { trainingStep } from './weights';

export * from './first-image-report';

export interface FirstImageOptions {
  /** Model directories to time, each served at /m<i>/. */
  modelDirs: string[];
  backend: Backend;
  reps: number;
  /** Download and upload in Mbit/s, with 20 ms latency; null: not throttled. */
  throttleMbps: number | null;
  /** The builds to time (default: dist/, unlabelled). */
  sites?: FirstImageSite[];
  onProgress?: (line: string) => void;
}

const LATENCY_MS = 20;
/**
 * Each return visit comes this long after the image before it, as a return visit does: what V8 writes
 * to its code cache during a visit (measured: within 2 s of the image, the engine's fill included) and
 * the page's own writes have landed by then, which a reload within a second might not find.
 */
const WARM_AFTER_MS = 5000;

/** What the page downloads of a model: manifest.json aside, the files its load reads. */
const pageBytes = (m: Manifest) =>
  modelFiles(m, { skipFusedBlocks: true }).reduce((sum, f) => sum + f.bytes, 0);

/** How serve.mjs serves a build: brotli where the build wrote precompressed copies of its .wasm. */
function compressionOf(dir: string): 'gzip' | 'br' {
  const assets = path.join(dir, 'assets');
  return existsSync(assets) && readdirSync(assets).some((f) => f.endsWith('.wasm.br')) ? 'br' : 'gzip';
}

/**
 * Added to every page the bench opens: records on the page's clock when the model is ready, presses
 * Generate at that moment, records when the image is done (or what failed).
 */
const OBSERVER = `(() => {
  if (window.top !== window) return;
  const t = { readyAt: null, clickAt: null, imageAt: null, error: null };
  Object.defineProperty(window, '__adadiffFirstImage', { value: t });
  const check = () => {
    if (t.error !== null || t.imageAt !== null) return;
    const failed = document.querySelector('[data-testid=load-error]');
    if (failed) { t.error = 'the model did not load: ' + failed.textContent; return; }
    if (t.readyAt === null && document.querySelector('[data-testid=backend-badge]')) t.readyAt = performance.now();
    if (t.readyAt !== null && t.clickAt === null) {
      const button = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Generate' && !b.disabled);
      if (button) { t.clickAt = performance.now(); button.click(); }
    }
    const status = document.querySelector('[data-testid=run-status]');
    const state = status && status.getAttribute('data-status');
    if (t.clickAt !== null && state === 'error') t.error = 'the run failed: ' + status.textContent;
    if (t.clickAt !== null && state === 'done') t.imageAt = performance.now();
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
})();`;

interface Observed {
  readyAt: number;
  clickAt: number;
  imageAt: number;
  error: string | null;
}

/**
 * A global's timeline, read inside it (the page or the engine's worker). A string, not a function:
 * what a transpiler adds to a function (name helpers) would not exist in the browser.
 */
const READ_TIMELINE = `({
  timeOrigin: performance.timeOrigin,
  marks: performance.getEntriesByType('mark').map((m) => ({ name: m.name, startTime: m.startTime })),
  resources: performance.getEntriesByType('resource').map((r) => ({
    name: r.name, startTime: r.startTime, responseEnd: r.responseEnd, transferSize: r.transferSize,
  })),
})`;

/** The observer's record once the image is done or something failed, else null. */
const OBSERVED = `(() => {
  const t = window.__adadiffFirstImage;
  return t && (t.imageAt !== null || t.error !== null) ? t : null;
})()`;

function kindOf(url: string, modelPrefix: string): keyof WireBytes {
  const p = new URL(url).pathname;
  if (p.startsWith(modelPrefix)) return 'model';
  return RUNTIME_FILE.test(p) ? 'runtime' : 'page';
}

export async function runFirstImageBench(o: FirstImageOptions): Promise<FirstImageReport> {
  const sites = (o.sites?.length ? o.sites : [{ label: '', dir: 'dist' }]).map((x) => ({
    ...x,
    dir: path.resolve(x.dir),
  }));
  for (const site of sites) {
    if (!existsSync(path.join(site.dir, 'index.html'))) {
      throw new BrowserBenchError(
        `${path.join(site.dir, 'index.html')} is missing: run \`npm run build\` first${site.label ? ` (site ${site.label})` : ''}`,
      );
    }
  }
  const executablePath = chromiumReady();
  const { chromium } = await import('playwright-core');
  const models = o.modelDirs.map((dir, i) => {
    const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
    return {
      dir: path.resolve(dir),
      prefix: `/m${i}/`,
      id: m.id,
      step: trainingStep(m),
      storage: m.storage ?? 'fp32',
      bytes: pageBytes(m),
    };
  });
  const servers = await Promise.all(
    sites.map((site) =>
      serveSite([...models.map((m): [string, string] => [m.prefix, m.dir]), ['/', site.dir]]),
    ),
  );
  const samples = new Map<string, FirstImageRun[]>();
  const key = (site: number, model: number, cache: CacheState) => `${site} ${model} ${cache}`;
  const bandwidth = o.throttleMbps === null ? null : (o.throttleMbps * 1e6) / 8; // bytes per second
  try {
    for (let rep = 0; rep < o.reps; rep++) {
      // interleaved, and the order turned every other round, so that no build always goes first
      const order = sites.map((_, i) => i);
      if (rep % 2) order.reverse();
      for (const si of order) {
        for (const [mi, m] of models.entries()) {
          const profile = mkdtempSync(path.join(tmpdir(), 'adadiff-first-image-'));
          const context = await chromium.launchPersistentContext(profile, {
            executablePath,
            headless: true,
            args: chromiumArgs(o.backend === 'webgpu'),
          });
          try {
            await context.addInitScript({ content: OBSERVER });
            const page = context.pages()[0] ?? (await context.newPage());
            const cdp = await context.newCDPSession(page);
            await cdp.send('Network.enable');
            if (bandwidth !== null) {
              await cdp.send('Network.emulateNetworkConditions', {
                offline: false,
                latency: LATENCY_MS,
                downloadThroughput: bandwidth,
                uploadThroughput: bandwidth,
              });
            }
            // every response, the worker's fetches included (a page's CDP session does not see those)
            let bytes: WireBytes = { runtime: 0, model: 0, page: 0 };
            let runtimeFiles = new Set<string>();
            const sizes: Promise<void>[] = [];
            context.on('requestfinished', (request) => {
              const kind = kindOf(request.url(), m.prefix);
              if (kind === 'runtime') runtimeFiles.add(new URL(request.url()).pathname.split('/').pop()!);
              sizes.push(
                request.sizes().then((size) => {
                  bytes[kind] += size.responseBodySize + size.responseHeadersSize;
                }),
              );
            });
            for (const cache of CACHE_STATES) {
              if (cache !== 'cold') await page.waitForTimeout(WARM_AFTER_MS);
              bytes = { runtime: 0, model: 0, page: 0 };
              runtimeFiles = new Set();
              const query = new URLSearchParams({ backend: o.backend, model: m.prefix });
              await page.goto(`${servers[si]!.url}/index.html?${query}`);
              const handle = await page.waitForFunction(OBSERVED, null, {
                timeout: 10 * 60_000,
                polling: 100,
              });
              const seen = (await handle.jsonValue()) as Observed;
              if (seen.error !== null)
                throw new BrowserBenchError(`${sites[si]!.label || 'the page'}, ${m.dir}: ${seen.error}`);
              const pageTimeline = (await page.evaluate(READ_TIMELINE)) as GlobalTimeline;
              const engine = page.workers().find((w) => /engine\.worker/.test(w.url()));
              const workerTimeline = engine
                ? ((await engine.evaluate(READ_TIMELINE).catch(() => null)) as GlobalTimeline | null)
                : null;
              await Promise.all(sizes.splice(0));
              const phases = runPhases({
                page: pageTimeline,
                worker: workerTimeline,
                readyAt: seen.readyAt,
                clickAt: seen.clickAt,
                imageAt: seen.imageAt,
                modelPrefix: m.prefix,
              });
              const transferredBytes = bytes.runtime + bytes.model + bytes.page;
              const run: FirstImageRun = {
                readyMs: seen.readyAt,
                firstImageMs: seen.imageAt,
                transferredBytes,
                bytes,
                runtimeFiles: [...runtimeFiles].sort(),
                phases,
              };
              const k = key(si, mi, cache);
              samples.set(k, [...(samples.get(k) ?? []), run]);
              o.onProgress?.(
                `${sites[si]!.label ? `${sites[si]!.label} ` : ''}${m.id} ${cache}: ready ${run.readyMs.toFixed(0)} ms, first image ${run.firstImageMs.toFixed(0)} ms, ${(transferredBytes / 1e6).toFixed(2)} MB\n`,
              );
            }
          } finally {
            await context.close();
            rmSync(profile, { recursive: true, force: true });
          }
        }
      }
    }
  } finally {
    await Promise.all(servers.map((x) => x.close()));
  }
  const rows: FirstImageRow[] = [];
  for (const [mi, m] of models.entries()) {
    for (const cache of CACHE_STATES) {
      for (const [si, site] of sites.entries()) {
        const r = samples.get(key(si, mi, cache)) ?? [];
        if (!r.length) continue;
        const transferredBytes = median(r.map((x) => x.transferredBytes));
        const { phases, segments } = summarisePhases(r.map((x) => x.phases));
        rows.push({
          model: m.id,
          modelStep: m.step,
          storage: m.storage,
          modelBytes: m.bytes,
          ...(site.label ? { site: site.label } : {}),
          cache,
          readyMs: median(r.map((x) => x.readyMs)),
          firstImageMs: median(r.map((x) => x.firstImageMs)),
          transferredBytes,
          reps: r.length,
          ready: spread(r.map((x) => x.readyMs)),
          firstImage: spread(r.map((x) => x.firstImageMs)),
          bytes: {
            runtime: median(r.map((x) => x.bytes.runtime)),
            model: median(r.map((x) => x.bytes.model)),
            page: median(r.map((x) => x.bytes.page)),
          },
          wireLimitMs: bandwidth === null ? null : (1000 * transferredBytes) / bandwidth,
          phases,
          segments,
          runs: r,
        });
      }
    }
  }
  const labelled = sites.some((x) => x.label);
  return {
    environment: `Chromium (${o.backend}), ${process.platform}`,
    backend: o.backend,
    throttleMbps: o.throttleMbps,
    latencyMs: o.throttleMbps === null ? 0 : LATENCY_MS,
    compression: compressionOf(sites[0]!.dir),
    warmAfterMs: WARM_AFTER_MS,
    ...(labelled
      ? { sites: sites.map((x) => ({ label: x.label, dir: x.dir, compression: compressionOf(x.dir) })) }
      : {}),
    rows,
  };
}
