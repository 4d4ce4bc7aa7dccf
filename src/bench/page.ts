/**
 * The browser side of `adadiff bench --browser`: runs the benchmark in its own worker (the page's
 * runtime and backend choice, with the baselines loaded), or with `mode=scale` the scale benchmark.
 * Parameters come from the query string; the report lands in #out (data-status done | error) for
 * the CLI to read.
 */
import * as Comlink from 'comlink';
import type { BackendChoice } from '../worker/api';
import type { BenchApi } from './bench.worker';
import type { ProcessMemory } from './scale';

declare global {
  interface Window {
    /** Set by the CLI that opened this page (playwright's exposeFunction): the renderer's memory. */
    adadiffProcessMemory?: () => Promise<ProcessMemory | null>;
  }
}

const out = document.querySelector<HTMLPreElement>('#out')!;
const q = new URLSearchParams(location.search);
const numbers = (key: string) =>
  (q.get(key) ?? '')
    .split(',')
    .filter((v) => v.trim() !== '')
    .map(Number);

async function run(): Promise<void> {
  const worker = new Worker(new URL('./bench.worker.ts', import.meta.url), { type: 'module' });
  const bench = Comlink.wrap<BenchApi>(worker);
  const progress = Comlink.proxy((line: string) => console.info(line.trimEnd()));
  try {
    const report =
      q.get('mode') === 'scale'
        ? await bench.scale(
            {
              modelUrl: new URL(q.get('model') ?? '', location.href).href,
              backend: (q.get('backend') ?? 'wasm') as BackendChoice,
              reps: Number(q.get('reps') ?? 5),
              matmulUrl: q.get('matmul') ? new URL(q.get('matmul')!, location.href).href : undefined,
            },
            Comlink.proxy(async () => (await window.adadiffProcessMemory?.()) ?? null),
            progress,
          )
        : await bench.run(
            {
              modelUrl: new URL(q.get('model') ?? 'models/fmnist-uvit13/', location.href).href,
              backend: (q.get('backend') ?? 'wasm') as BackendChoice,
              reps: Number(q.get('reps') ?? 5),
              steps: Number(q.get('steps') ?? 20),
              thresholds: numbers('thresholds'),
            },
            progress,
          );
    out.textContent = JSON.stringify(report);
    out.dataset.status = 'done';
  } catch (e) {
    out.textContent = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    out.dataset.status = 'error';
  } finally {
    worker.terminate();
  }
}

void run();
