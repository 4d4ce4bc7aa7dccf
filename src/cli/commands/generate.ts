/** `adadiff generate`: images through the runtime users run, with the saving by source per image and in total. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  addTotals,
  emptyTotals,
  encodePng,
  generate,
  resolveParams,
  type GenerateParams,
} from '../../runtime';
import {
  BASELINE_FLAGS,
  baselineParams,
  classIndex,
  num,
  onlyFlags,
  scheduleParams,
  specParams,
  UsageError,
  type CliIo,
  type Values,
} from '../flags';
import { loadModelDir, modelDirFlag, withRunner } from '../runner';

const GENERATE_FLAGS = [
  'model',
  'class',
  'count',
  'seed',
  'steps',
  'sampler',
  'eta',
  'guidance',
  'threshold',
  'min-depth',
  'batching',
  'uncond-every',
  'guidance-max-t',
  'no-guidance-schedule',
  ...BASELINE_FLAGS,
  'out',
  'json',
  'quiet',
];

export async function runGenerate(values: Values, io: CliIo): Promise<number> {
  onlyFlags(values, GENERATE_FLAGS);
  const count = num('count', values.count) ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 10000) {
    throw new UsageError(`--count must be an integer 1…10000, got ${values.count}`);
  }
  const progress = values.quiet ? () => undefined : io.stderr;
  const model = await loadModelDir(modelDirFlag(values.model));
  const { manifest } = model;
  const steps = resolveParams(manifest, { steps: num('steps', values.steps) }).steps;
  const baseline = baselineParams(manifest, values, steps);
  const base: Partial<GenerateParams> = {
    // --depth is a baseline's, read below with the others
    ...specParams(values, ['depth']),
    ...scheduleParams(manifest, values),
    classIndex: classIndex(manifest, values.class),
    steps,
    ...baseline?.params,
  };
  const first = resolveParams(manifest, base); // validate every flag before any work
  if (first.seed + count - 1 > 0xffffffff) throw new UsageError('--seed + --count runs past 4294967295');

  return withRunner(model, async (runner) => {
    if (values.out) await mkdir(values.out, { recursive: true });
    const images = [];
    const sum = emptyTotals();
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const params = { ...first, seed: first.seed + i };
      const result = await generate(runner, manifest, params, {
        onStep: (e) =>
          progress(
            `image ${i + 1}/${count} step ${e.step + 1}/${e.steps} t=${e.t} exits ${e.passes
              .map((p) => p.exitBlock + 1)
              .join(
                '/',
              )} of ${runner.numBlocks} blocks, saved ${(100 * e.totals.savedFraction).toFixed(1)}%\n`,
          ),
      });
      let file: string | null = null;
      if (values.out) {
        file = path.join(values.out, `${manifest.id}-c${params.classIndex}-s${params.seed}.png`);
        await writeFile(file, encodePng(result.image, manifest));
      }
      addTotals(sum, result.totals);
      images.push({
        file,
        class: params.classIndex,
        className: manifest.classes[params.classIndex],
        seed: params.seed,
        blocksRun: result.totals.blocksRun,
        blocksFull: result.totals.blocksFull,
        savedFraction: result.totals.savedFraction,
        savedByExits: result.totals.savedByExits,
        savedBySchedule: result.totals.savedBySchedule,
        savedByFixedDepth: result.totals.savedByFixedDepth,
        flopsSavedFraction: result.totals.flopsSavedFraction,
        wallMs: result.totals.wallMs,
      });
    }
    sum.wallMs = performance.now() - started;
    const summary = {
      model: manifest.id,
      backend: 'wasm',
      mode: first.mode,
      threshold: first.mode === 'adaptive' ? first.threshold : null,
      steps: first.steps,
      sampler: first.sampler,
      guidance: first.guidance,
      batching: first.batching,
      unconditionalEvery: first.unconditionalEvery,
      guidanceMaxT: first.guidanceMaxT,
      ...(first.mode === 'static' ? { staticDepth: first.staticDepth } : {}),
      ...(first.mode === 'depths' ? { depths: first.depths } : {}),
      images,
      totals: sum,
      savedFraction: sum.savedFraction,
      savedByExits: sum.savedByExits,
      savedBySchedule: sum.savedBySchedule,
      savedByFixedDepth: sum.savedByFixedDepth,
      wallMs: sum.wallMs,
    };
    if (values.json) io.stdout(`${JSON.stringify(summary, null, 2)}\n`);
    else
      progress(
        `${count} image(s) in ${(sum.wallMs / 1000).toFixed(1)} s; blocks run ${sum.blocksRun}/${sum.blocksFull} (saved ${(100 * sum.savedFraction).toFixed(1)} %: exits ${(100 * sum.savedByExits).toFixed(1)}, guidance schedule ${(100 * sum.savedBySchedule).toFixed(1)}, fixed depth ${(100 * sum.savedByFixedDepth).toFixed(1)})\n`,
      );
    return 0;
  });
}
