/**
 * Official-checkpoint parity: a model folder made by `tools.export import-official` from the tiny
 * official case (test/fixtures/official/tiny), run by the runtime's own exit loop per image, against
 * what the official UViT.forward gave: the same exit block for every image, continuous time and
 * threshold, and the same output within 1e-4.
 * `tsx test/parity/official.ts MODEL_DIR CASE_DIR` prints one line and exits 1 on any difference.
 */
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-web';
import { directorySource } from '../../src/node/source';
import { loadModel, runPass, SegmentRunner, type DepthPolicy } from '../../src/runtime';
import { maxAbsDiff, readFixtures } from '../unit/fixtures';

export const TOLERANCE = 1e-4;

export async function checkOfficial(modelDir: string, caseDir: string) {
  const runner = await SegmentRunner.create(ort, await loadModel(directorySource(modelDir)), {
    backend: 'wasm',
  });
  const fx = readFixtures(caseDir);
  const [images, channels, h, w] = fx.dims('inputs.x') as [number, number, number, number];
  const x = fx.f32('inputs.x');
  const timesteps = fx.f32('inputs.timesteps');
  const thresholds = fx.f32('thresholds');
  const exits = fx.i64('exit.block');
  const exitOut = fx.f32('exit.out');
  const fullOut = fx.f32('full.out');
  const size = channels * h * w;
  const m = runner.manifest;
  const differences: string[] = [];
  let worst = 0;
  let compared = 0;
  try {
    for (let b = 0; b < images; b++) {
      const image = x.slice(b * size, (b + 1) * size);
      for (let k = 0; k < timesteps.length; k++) {
        const t = timesteps[k]!;
        const full = await runPass(runner, image, t, [0], { kind: 'full' }, 0);
        const at = (b * timesteps.length + k) * size;
        worst = Math.max(worst, maxAbsDiff(full.eps, fullOut.subarray(at, at + size)));
        for (let j = 0; j < thresholds.length; j++) {
          // the manifest's θ reads uncertainty: 1 − the official certainty threshold
          const policy: DepthPolicy = {
            kind: 'adaptive',
            threshold: 1 - thresholds[j]!,
            rule: m.exit.rule,
            numInBlocks: m.architecture.numInBlocks,
            minDepth: 1,
            batch: 'all',
          };
          const r = await runPass(runner, image, t, [0], policy, 0);
          const index = (b * timesteps.length + k) * thresholds.length + j;
          const want = exits[index]!;
          if (r.exitBlock !== want)
            differences.push(
              `image ${b}, t ${t}, certainty ${thresholds[j]}: exit ${r.exitBlock}, official ${want}`,
            );
          worst = Math.max(worst, maxAbsDiff(r.eps, exitOut.subarray(index * size, (index + 1) * size)));
          compared++;
        }
      }
    }
  } finally {
    await runner.release();
  }
  return { compared, differences, worst };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [modelDir, caseDir] = process.argv.slice(2);
  if (!modelDir || !caseDir) {
    console.error('usage: tsx test/parity/official.ts MODEL_DIR CASE_DIR');
    process.exit(2);
  }
  ort.env.logLevel = 'error';
  const r = await checkOfficial(modelDir, caseDir);
  for (const d of r.differences) console.error(`FAIL ${d}`);
  const equal = r.compared - r.differences.length;
  console.log(
    `${equal} exits equal of ${r.compared}; worst output difference ${r.worst.toExponential(2)} (tolerance ${TOLERANCE})`,
  );
  process.exit(r.differences.length || !(r.worst <= TOLERANCE) ? 1 : 0);
}
