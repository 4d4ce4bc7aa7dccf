/**
 * Time to first image in Chromium, as a visitor sees it: open the built page, wait for the model,
 * press Generate, wait for the image. Cold (a fresh profile: nothing cached) and warm (the same
 * profile again: the HTTP cache holds the runtime, Cache Storage the model), with the network
 * throttled through the DevTools protocol. Files are served gzip-compressed, as any static host
 * or CDN serves them, from a server of its own so the throttle sees the real bytes.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { modelFiles, type Backend, type Manifest } from '../runtime';
import { BrowserBenchError } from './browser';
import { CHROMIUM_PATH, chromiumArgs } from './chromium.mjs';
import { weightsPrefix } from './results';
import { median } from './stats';
import { stepLabel, trainingStep } from './weights';

export interface FirstImageOptions {
  /** Model directories to time, each served at /m<i>/ (default: the page's own model). */
  modelDirs: string[];
  backend: Backend;
  reps: number;
  /** Download and upload in Mbit/s, with 20 ms latency; null: not throttled. */
  throttleMbps: number | null;
  onProgress?: (line: string) => void;
}

export interface FirstImageRow {
  /** The model's id and how its files store the weights (manifest.storage). */
  model: string;
  /** The weights' optimiser step (manifest.provenance); absent in reports written before it was recorded. */
  modelStep?: number;
  storage: string;
  /** The model files' size on disk (uncompressed). */
  modelBytes: number;
  cache: 'cold' | 'warm';
  /** Navigation to the model ready (backend badge shown). */
  readyMs: number;
  /** Navigation to the first image done. */
  firstImageMs: number;
  /** Bytes over the (throttled) wire: what the visitor downloads. */
  transferredBytes: number;
  reps: number;
}

export interface FirstImageReport {
  environment: string;
  backend: Backend;
  throttleMbps: number | null;
  latencyMs: number;
  compression: 'gzip';
  rows: FirstImageRow[];
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.css': 'text/css',
};
const LATENCY_MS = 20;

/** What the page downloads of a model: manifest.json aside, the files its load reads. */
const pageBytes = (m: Manifest) =>
  modelFiles(m, { skipFusedBlocks: true }).reduce((sum, f) => sum + f.bytes, 0);

/** A saved report's file name in the results folder: the weights of its first model, then the backend. */
export function firstImageFileName(r: FirstImageReport): string {
  return `${weightsPrefix(r.rows[0]?.modelStep)}first-image-${r.backend}.json`;
}

/**
 * BENCHMARKS.md's section for saved first-image reports; `links[i]`, where given, is where report i is
 * saved, as the markdown links it.
 */
export function firstImageMarkdown(reports: FirstImageReport[], links: string[] = []): string[] {
  if (!reports.length) return [];
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  const runs = (n: number) => `${n} run${n === 1 ? '' : 's'}`;
  return [
    '',
    '## Time to first image (Chromium)',
    '',
    'Written by `npx adadiff bench --first-image --model DIR,DIR… --markdown BENCHMARKS.md`: the built page from navigation to the model ready and to the first image at the default settings, in a fresh profile (cold: nothing cached) and again in the same profile (warm: the runtime in the HTTP cache, the model in Cache Storage). Files served gzip-compressed, as a static host would; the bytes are what crossed the wire, onnxruntime-web included. Medians.',
    ...reports.flatMap((r, i) => [
      '',
      `${r.environment}; network ${r.throttleMbps === null ? 'not throttled' : `throttled to ${r.throttleMbps} Mbit/s each way, ${r.latencyMs} ms latency`}; ${runs(r.rows[0]?.reps ?? 0)} per row.${r.backend === 'webgpu' ? " WebGPU on this machine is SwiftShader, a software adapter, far slower than wasm: these rows show the path works and what the model's size changes, not a GPU's speed." : ''}`,
      '',
      '| model (weights) | model files | cache | ready | first image | over the wire |',
      '|---|---|---|---|---|---|',
      ...r.rows.map(
        (row) =>
          `| ${row.model} (${[stepLabel(row.modelStep), row.storage].filter(Boolean).join(', ')}) | ${mb(row.modelBytes)} | ${row.cache} | ${s(row.readyMs)} | ${s(row.firstImageMs)} | ${mb(row.transferredBytes)} |`,
      ),
      ...(links[i] ? ['', `Data: [${links[i].split('/').pop()}](${links[i]}).`] : []),
    ]),
  ];
}

/** dist/ and the models, gzip on the fly (kept in memory), cross-origin isolated like `vite preview`. */
function serve(roots: [string, string][]): Promise<{ server: Server; url: string }> {
  const zipped = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const pathname = url.pathname === '/' ? '/index.html' : url.pathname;
    const root = roots.find(([prefix]) => pathname.startsWith(prefix));
    const file = root && path.join(root[1], decodeURIComponent(pathname.slice(root[0].length)));
    if (!file || !file.startsWith(root[1]) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    let body = zipped.get(file);
    if (!body) zipped.set(file, (body = gzipSync(readFileSync(file), { level: 6 })));
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Content-Encoding': 'gzip',
      'Cache-Control': 'max-age=3600',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    res.end(body);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ server, url: `http://127.0.0.1:${port}` });
    }),
  );
}

export async function runFirstImageBench(o: FirstImageOptions): Promise<FirstImageReport> {
  if (!existsSync('dist/index.html')) {
    throw new BrowserBenchError('dist/index.html is missing: run `npm run build` first');
  }
  if (!existsSync(CHROMIUM_PATH)) {
    throw new BrowserBenchError(
      `no Chromium at ${CHROMIUM_PATH}: apt-get install chromium, or set CHROMIUM_PATH`,
    );
  }
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
  const { server, url } = await serve([
    ...models.map((m): [string, string] => [m.prefix, m.dir]),
    ['/', path.resolve('dist')],
  ]);
  const rows: FirstImageRow[] = [];
  try {
    for (const m of models) {
      const samples: Record<
        'cold' | 'warm',
        Pick<FirstImageRow, 'readyMs' | 'firstImageMs' | 'transferredBytes'>[]
      > = {
        cold: [],
        warm: [],
      };
      for (let rep = 0; rep < o.reps; rep++) {
        const profile = mkdtempSync(path.join(tmpdir(), 'adadiff-first-image-'));
        const context = await chromium.launchPersistentContext(profile, {
          executablePath: CHROMIUM_PATH,
          headless: true,
          args: chromiumArgs(o.backend === 'webgpu'),
        });
        try {
          const page = context.pages()[0] ?? (await context.newPage());
          const cdp = await context.newCDPSession(page);
          await cdp.send('Network.enable');
          if (o.throttleMbps !== null) {
            const bytesPerSecond = (o.throttleMbps * 1e6) / 8;
            await cdp.send('Network.emulateNetworkConditions', {
              offline: false,
              latency: LATENCY_MS,
              downloadThroughput: bytesPerSecond,
              uploadThroughput: bytesPerSecond,
            });
          }
          // every response, the worker's fetches included (a page's CDP session does not see those)
          let transferred = 0;
          const sizes: Promise<void>[] = [];
          context.on('requestfinished', (request) => {
            sizes.push(
              request.sizes().then((size) => {
                transferred += size.responseBodySize + size.responseHeadersSize;
              }),
            );
          });
          for (const cache of ['cold', 'warm'] as const) {
            transferred = 0;
            const query = new URLSearchParams({ backend: o.backend, model: m.prefix });
            const started = Date.now();
            await page.goto(`${url}/index.html?${query}`);
            await page.waitForSelector('[data-testid=backend-badge], [data-testid=load-error]', {
              timeout: 10 * 60_000,
            });
            if (await page.locator('[data-testid=load-error]').count())
              throw new BrowserBenchError(`the page did not load ${m.dir}`);
            const readyMs = Date.now() - started;
            await page.getByRole('button', { name: 'Generate' }).click();
            await page.waitForSelector('[data-testid=run-status][data-status=done]', {
              timeout: 10 * 60_000,
            });
            const firstImageMs = Date.now() - started;
            await Promise.all(sizes.splice(0));
            samples[cache].push({ readyMs, firstImageMs, transferredBytes: transferred });
            o.onProgress?.(
              `${path.basename(m.dir)} ${cache}: ready ${readyMs} ms, first image ${firstImageMs} ms, ${(transferred / 1e6).toFixed(2)} MB\n`,
            );
          }
        } finally {
          await context.close();
          rmSync(profile, { recursive: true, force: true });
        }
      }
      for (const cache of ['cold', 'warm'] as const) {
        const s = samples[cache];
        rows.push({
          model: m.id,
          modelStep: m.step,
          storage: m.storage,
          modelBytes: m.bytes,
          cache,
          readyMs: median(s.map((r) => r.readyMs)),
          firstImageMs: median(s.map((r) => r.firstImageMs)),
          transferredBytes: median(s.map((r) => r.transferredBytes)),
          reps: s.length,
        });
      }
    }
  } finally {
    await new Promise((r) => server.close(r));
  }
  return {
    environment: `Chromium (${o.backend}), ${process.platform}`,
    backend: o.backend,
    throttleMbps: o.throttleMbps,
    latencyMs: o.throttleMbps === null ? 0 : LATENCY_MS,
    compression: 'gzip',
    rows,
  };
}
