/**
 * Every shipped model against PyTorch besides the default one, which model-parity.test.ts studies in
 * depth: each segment on the exporter's inputs, and whole sampling runs (full depth and at the
 * default θ) with their exit decisions, on whatever image shape and classes the model has.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { afterAll, describe, expect, it } from 'vitest';
import { directorySource } from '../../src/node/source';
import { loadModel, SegmentRunner } from '../../src/runtime';
import { checkParity, TOLERANCE } from '../parity/check.mjs';
import { compareSampling, PIXEL_TOLERANCE, RUNS } from '../parity/sampling';
import { MODEL_DIR } from './fixtures';

ort.env.logLevel = 'error';
const MODELS = path.resolve('public/models');
const FIXTURES = path.resolve('test/fixtures');
const shipped = readdirSync(MODELS).filter((id) => existsSync(path.join(MODELS, id, 'manifest.json')));

describe('shipped models', () => {
  it('each shipped model has its parity fixtures (export --fixtures test/fixtures/<id>)', () => {
    expect(shipped.length).toBeGreaterThanOrEqual(2);
    for (const id of shipped) expect(existsSync(path.join(FIXTURES, id, 'fixtures.json')), id).toBe(true);
  });

  for (const id of shipped.filter((id) => path.join(MODELS, id) !== MODEL_DIR)) {
    describe(id, () => {
      const modelDir = path.join(MODELS, id);
      const fixtureDir = path.join(FIXTURES, id);
      let runner: SegmentRunner | undefined;
      afterAll(async () => {
        await runner?.release();
      });

      it('every segment and the chained full depth match PyTorch (max abs error ≤ 1e-4)', async () => {
        const results = await checkParity(modelDir, fixtureDir);
        expect(results.length).toBeGreaterThan(0);
        for (const r of results) expect(r.error, `${id} ${r.name}`).toBeLessThanOrEqual(TOLERANCE);
      });

      it('sampling: same seed → same pixels and the same exit decisions as PyTorch', async () => {
        const model = await loadModel(directorySource(modelDir));
        runner = await SegmentRunner.create(ort, model, { backend: 'wasm' });
        const comparisons = await compareSampling(runner, fixtureDir);
        expect(comparisons.map((c) => c.run)).toEqual([...RUNS]);
        for (const c of comparisons) {
          expect(c.exits.got, `${id} ${c.run}`).toEqual(c.exits.want);
          expect(c.pixelError, `${id} ${c.run}`).toBeLessThanOrEqual(PIXEL_TOLERANCE);
        }
        // the adaptive run exits somewhere before the last block, or the comparison says little
        const adaptive = comparisons.find((c) => c.run === 'adaptive')!;
        expect(adaptive.result.totals.savedFraction).toBeGreaterThan(0);
        expect(runner.liveTensorCount()).toBe(0);
      }, 60_000);
    });
  }
});
