/**
 * The benchmark's baselines beside the segments: the monolithic full-depth graph, opened on the
 * runner's executor and offered behind the Denoiser interface so it runs through the same sampling
 * loop (one session run per pass, no per-block reads: what a user would run without AdaDiff), and
 * one block timed with and without its read-back.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-web';
import { BackendError, type Denoiser, type ForwardPass, type SegmentRunner } from '../runtime';

export interface Monolithic {
  /** ε of the whole model for one batch: [batch·C·H·W]. */
  run(x: Float32Array, t: number, classes: readonly number[]): Promise<Float32Array>;
  /** The graph behind the Denoiser interface; use it with mode 'full' or a static full depth. */
  denoiser: Denoiser;
}

/** Opens the monolithic graph (`files`: a model loaded with includeMonolithic) and warms it. */
export async function openMonolithic(
  runner: SegmentRunner,
  files: ReadonlyMap<string, Uint8Array>,
): Promise<Monolithic> {
  const spec = runner.manifest.baselines?.monolithic;
  const bytes = spec && files.get(spec.path);
  if (!spec || !bytes) {
    throw new BackendError('the monolithic graph was not loaded: load the model with includeMonolithic');
  }
  const exec = runner.executor;
  const session: InferenceSession = await exec.open(bytes, spec.path, { eps: 'cpu' });
  const run = async (x: Float32Array, t: number, classes: readonly number[]) => {
    const feeds = runner.inputs(x, t, classes);
    try {
      const out = await exec.run(session, feeds);
      const eps = await exec.read(out.eps!);
      exec.dispose(out.eps);
      return eps;
    } finally {
      Object.values(feeds).forEach((f) => exec.dispose(f));
    }
  };
  const { channels, height, width } = runner.manifest.image;
  await run(new Float32Array(channels * height * width), 500, [0]); // compile before timing
  const denoiser: Denoiser = {
    numBlocks: runner.numBlocks,
    async begin(x, t, classes): Promise<ForwardPass> {
      const eps = await run(x, t, classes);
      const never = new Float32Array(classes.length).fill(1);
      return { runBlock: async () => never, exit: async () => eps, dispose: () => undefined };
    },
  };
  return { run, denoiser };
}

/**
 * Mean ms per run of block i (an in-block: no skip input), `runs` times on the same tokens, either
 * reading each run's uncertainty back (what the scheduler does) or fetching only the tokens and
 * reading the last of them at the end, so queued GPU work is finished either way. The difference
 * is what the per-block exit decision costs.
 */
export async function timeBlock(runner: SegmentRunner, i: number, runs: number, readUncertainty: boolean) {
  const session = runner.blockSession(i);
  if (!session || runner.skipFrom(i) !== null) {
    throw new BackendError(`block ${i} is not loaded or takes a skip: time a loaded block without one`);
  }
  const exec = runner.executor;
  const { channels, height, width } = runner.manifest.image;
  const pass = await runner.begin(new Float32Array(channels * height * width), 500, [0], 1, false);
  const { hidden, temb } = pass.inputsOfFirstBlock();
  try {
    let last: Tensor | undefined;
    const started = performance.now();
    for (let r = 0; r < runs; r++) {
      const feeds = runner.blockFeeds(i, hidden, temb);
      const out = await exec.run(session, feeds, readUncertainty ? undefined : ['hidden_out']);
      if (readUncertainty) await exec.read(out.uncertainty!);
      exec.dispose(out.uncertainty);
      exec.dispose(last);
      last = out.hidden_out;
    }
    if (last) await exec.read(last);
    const ms = (performance.now() - started) / runs;
    exec.dispose(last);
    return ms;
  } finally {
    pass.dispose();
  }
}
