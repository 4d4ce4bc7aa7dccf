/**
 * Sampling parity: the runtime's generate() on a model directory against the two PyTorch runs
 * tools/export saved with its fixtures (full depth, and at the default θ), on the same seed.
 * `tsx test/parity/sampling.ts MODEL_DIR FIXTURE_DIR` prints one line per run and exits 1 when the
 * pixels differ by more than 1e-3 or any exit decision differs.
 */
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';
import { directorySource } from '../../src/node/source';
import { generate, loadModel, resolveParams, SegmentRunner, type GenerateResult } from '../../src/runtime';
import { maxAbsDiff, readFixtures, type Fixtures } from '../unit/fixtures';

export const PIXEL_TOLERANCE = 1e-3;
export const RUNS = ['full', 'adaptive'] as const;

export interface SamplingComparison {
  run: (typeof RUNS)[number];
  pixelError: number;
  /** Exit block of each pass at each step: the runtime's, and the ones PyTorch's trace implies. */
  exits: { got: number[][]; want: number[][] };
  result: GenerateResult;
}

/** The exit blocks PyTorch's trace records for a step, as the runtime reports its passes. */
export function traceExits(
  s: Fixtures['sampling'],
  rec: Fixtures['sampling']['runs']['full']['trace'][number],
): number[] {
  // batched guidance passes exit together: one pass per step, as in the trace's equal pair
  return rec.exit_uncond && s.batching !== 'all'
    ? [rec.exit_cond[0]!, rec.exit_uncond[0]!]
    : [rec.exit_cond[0]!];
}

export function samplingParams(runner: SegmentRunner, s: Fixtures['sampling'], name: (typeof RUNS)[number]) {
  const run = s.runs[name];
  return resolveParams(runner.manifest, {
    classIndex: s.class,
    seed: s.seed,
    steps: s.steps,
    guidance: s.guidance,
    sampler: s.sampler,
    eta: s.eta,
    threshold: run.threshold,
    minDepth: s.minDepth ?? 1,
    batching: s.batching ?? 'separate',
    unconditionalEvery: run.uncondEvery ?? 1,
    guidanceMaxT: run.guidanceMaxT ?? undefined,
    mode: run.mode,
  });
}

export async function compareSampling(
  runner: SegmentRunner,
  fixtureDir?: string,
): Promise<SamplingComparison[]> {
  const fx = readFixtures(fixtureDir);
  const s = fx.meta.sampling;
  const out: SamplingComparison[] = [];
  for (const name of RUNS) {
    const result = await generate(runner, runner.manifest, samplingParams(runner, s, name));
    out.push({
      run: name,
      pixelError: maxAbsDiff(result.image, fx.f32(`sampling.${name}.image`)),
      exits: {
        got: result.steps.map((r) => r.passes.map((p) => p.exitBlock)),
        want: s.runs[name].trace.map((rec) => traceExits(s, rec)),
      },
      result,
    });
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [modelDir, fixtureDir] = process.argv.slice(2);
  if (!modelDir || !fixtureDir) {
    console.error('usage: tsx test/parity/sampling.ts MODEL_DIR FIXTURE_DIR');
    process.exit(2);
  }
  ort.env.logLevel = 'error';
  const model = await loadModel(directorySource(modelDir));
  const runner = await SegmentRunner.create(ort, model, { backend: 'wasm' });
  let failed = false;
  for (const c of await compareSampling(runner, fixtureDir)) {
    const sameExits = JSON.stringify(c.exits.got) === JSON.stringify(c.exits.want);
    failed ||= !(c.pixelError <= PIXEL_TOLERANCE) || !sameExits;
    const blocks = c.result.totals.blocksRun;
    console.log(
      `${c.run}: max pixel error ${c.pixelError.toExponential(2)} (tolerance ${PIXEL_TOLERANCE}), ` +
        `exits ${sameExits ? 'equal' : `differ: ${JSON.stringify(c.exits)}`}, ${blocks} blocks run`,
    );
  }
  await runner.release();
  process.exit(failed ? 1 : 0);
}
