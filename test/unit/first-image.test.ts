/**
 * bench --first-image: its flags are checked before Chromium starts, and its BENCHMARKS.md section
 * shows every measured row with the conditions it was measured under.
 */
import { describe, expect, it } from 'vitest';
import { firstImageMarkdown, type FirstImageReport } from '../../src/bench/first-image';
import { main } from '../../src/cli/main';

async function cli(...args: string[]) {
  let stderr = '';
  const code = await main(args, { stdout: () => undefined, stderr: (s) => void (stderr += s) });
  return { code, stderr };
}

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
  });

  it('renders one table row per model and cache state, with the network conditions', () => {
    const report: FirstImageReport = {
      environment: 'Chromium (wasm), linux',
      backend: 'wasm',
      throttleMbps: 10,
      latencyMs: 20,
      compression: 'gzip',
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
    expect(md).toMatch(/throttled to 10 Mbit\/s each way, 20 ms latency; 3 runs per row/);
    expect(md).toContain('| m (int8) | 3.20 MB | cold | 10.4 s | 11.7 s | 6.64 MB |');
    // which weights a row timed, where the report recorded it
    expect(md).toContain('| m (step 15,018, int8) | 3.20 MB | warm | 2.8 s | 4.4 s | 0.00 MB |');
    expect(firstImageMarkdown([])).toEqual([]);
  });
});
