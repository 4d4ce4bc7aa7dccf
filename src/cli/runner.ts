/** The one lifecycle every command shares: load a model directory, open its sessions on wasm, release them. */
import { loadModel, SegmentRunner, type LoadedModel, type LoadOptions, type Ort } from '../runtime';
import { directorySource, loadOrt } from './node-source';

export const DEFAULT_MODEL = 'public/models/fmnist-uvit13';

export function loadModelDir(dir: string, options?: LoadOptions): Promise<LoadedModel> {
  return loadModel(directorySource(dir), options);
}

/** Runs fn over a wasm runner for the model and releases the runner however fn ends. */
export async function withRunner<T>(
  model: LoadedModel,
  fn: (runner: SegmentRunner, ort: Ort) => Promise<T>,
): Promise<T> {
  const ort = await loadOrt();
  const runner = await SegmentRunner.create(ort, model, { backend: 'wasm' });
  try {
    return await fn(runner, ort);
  } finally {
    await runner.release();
  }
}
