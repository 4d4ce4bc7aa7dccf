/**
 * `adadiff bench --browser`: the same benchmark in Debian's Chromium, in the worker the page
 * uses. Serves the built site (dist/) with vite preview, opens bench.html with playwright-core
 * and reads the report back. WebGPU runs on whatever adapter Chromium offers (SwiftShader
 * on a machine without a GPU, correct but no measure of GPU speed).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { Backend } from '../runtime';
import type { BenchReport } from './harness';
import { CHROMIUM_PATH, chromiumArgs } from './chromium.mjs';

export interface BrowserBenchOptions {
  /** The model directory; it must lie under public/ so the built site serves it. */
  modelDir: string;
  backend: Backend;
  reps: number;
  steps: number;
  thresholds: number[];
  chromium?: string;
  onProgress?: (line: string) => void;
}

export class BrowserBenchError extends Error {
  override name = 'BrowserBenchError';
}

/**
 * What every browser bench needs before it starts: the built site's bench page and a Chromium to
 * open it in. Returns that Chromium's path.
 */
export function browserBenchReady(chromium: string = CHROMIUM_PATH): string {
  if (!existsSync('dist/bench.html')) {
    throw new BrowserBenchError(
      'dist/bench.html is missing: run `npm run build` first (the browser bench runs the built site)',
    );
  }
  return chromiumReady(chromium);
}

/** A Chromium at `chromium`, or a BrowserBenchError that says how to get one. Returns its path. */
export function chromiumReady(chromium: string = CHROMIUM_PATH): string {
  if (!existsSync(chromium)) {
    throw new BrowserBenchError(`no Chromium at ${chromium}: apt-get install chromium, or set CHROMIUM_PATH`);
  }
  return chromium;
}

/**
 * Opens bench.html at `url` and waits for the report it writes in #out (data-status done | error);
 * its progress lines (console.info) go to `onProgress`.
 */
export async function benchPageReport<T>(
  page: Page,
  url: string,
  onProgress?: ((line: string) => void) | undefined,
): Promise<T> {
  page.on('console', (m) => {
    if (m.type() === 'info') onProgress?.(`${m.text()}\n`);
  });
  await page.goto(url);
  const out = page.locator('#out:is([data-status=done], [data-status=error])');
  // a renderer that runs out of memory (a large model) would otherwise be waited on for an hour
  const crashed = new Promise<never>((_, reject) =>
    page.once('crash', () =>
      reject(
        new BrowserBenchError(
          'the page crashed in Chromium (out of memory?): try the model exported with --storage int8, or a smaller one',
        ),
      ),
    ),
  );
  await Promise.race([out.waitFor({ timeout: 60 * 60_000 }), crashed]);
  const text = (await out.textContent()) ?? '';
  if ((await out.getAttribute('data-status')) === 'error')
    throw new BrowserBenchError(`in Chromium: ${text}`);
  return JSON.parse(text) as T;
}

export async function runBrowserBench(o: BrowserBenchOptions): Promise<BenchReport> {
  const relative = path.relative(path.resolve('public'), path.resolve(o.modelDir));
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new BrowserBenchError(
      `--model ${o.modelDir} is not under public/, so the built site does not serve it`,
    );
  }
  const executablePath = browserBenchReady(o.chromium);
  const { preview } = await import('vite');
  const { chromium } = await import('playwright-core');
  const server = await preview({ preview: { port: 4300, open: false }, logLevel: 'silent' });
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: chromiumArgs(o.backend === 'webgpu'),
  });
  try {
    const base = server.resolvedUrls?.local[0] ?? 'http://localhost:4300/';
    const query = new URLSearchParams({
      model: `${relative.split(path.sep).join('/')}/`,
      backend: o.backend,
      reps: String(o.reps),
      steps: String(o.steps),
      thresholds: o.thresholds.join(','),
    });
    const page = await browser.newPage();
    return await benchPageReport<BenchReport>(page, `${base}bench.html?${query}`, o.onProgress);
  } finally {
    await browser.close();
    await server.close();
  }
}
