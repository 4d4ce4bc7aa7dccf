/**
 * The browser side of `adadiff bench --browser`: loads the model (with the monolithic baseline)
 * in the same worker the page uses and runs the runtime's benchmark there. Parameters come from
 * the query string; the report lands in #out (data-status done | error) for the CLI to read.
 */
import type { BackendChoice } from '../worker/api';
import { createEngineClient } from '../worker/client';

const out = document.querySelector<HTMLPreElement>('#out')!;
const q = new URLSearchParams(location.search);
const numbers = (key: string) =>
  (q.get(key) ?? '')
    .split(',')
    .filter((v) => v.trim() !== '')
    .map(Number);

async function run(): Promise<void> {
  const client = createEngineClient();
  try {
    await client.load(
      q.get('model') ?? 'models/fmnist-uvit13/',
      (q.get('backend') ?? 'wasm') as BackendChoice,
      undefined,
      {
        monolithic: true,
      },
    );
    const report = await client.bench(
      {
        reps: Number(q.get('reps') ?? 5),
        steps: Number(q.get('steps') ?? 20),
        thresholds: numbers('thresholds'),
      },
      (line) => console.info(line.trimEnd()),
    );
    out.textContent = JSON.stringify(report);
    out.dataset.status = 'done';
  } catch (e) {
    out.textContent = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    out.dataset.status = 'error';
  } finally {
    client.terminate();
  }
}

void run();
