/** The one lifecycle every command shares: load a model directory, open its sessions on wasm, release them. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  isModelId,
  loadModel,
  readManifest,
  replacedByPrefix,
  SegmentRunner,
  type LoadedModel,
  type LoadOptions,
  type Ort,
} from '../runtime';
import { directorySource, loadOrt, modelDirOf, shippedModelDir, shippedModelIds } from '../node/source';
import { UsageError } from './flags';

export const DEFAULT_MODEL = shippedModelDir();

/** --model: a shipped model's id (`emoji`) or a model directory; default: the default model's. */
export function modelDirFlag(given: string | undefined): string {
  if (given === undefined) return DEFAULT_MODEL;
  const dir = modelDirOf(given);
  if (dir === given && isModelId(given) && !existsSync(given)) {
    throw new UsageError(
      `--model ${given}: no shipped model has that id (${shippedModelIds().join(', ')}), and there is no ` +
        'directory of that name here',
    );
  }
  return dir;
}

/**
 * Loads a model directory. The package's copy leaves out the embed and the blocks the fused prefix
 * replaces, as the page's load does; such a copy loads without them (a pass shallower than the prefix then
 * says that it needs them).
 */
export async function loadModelDir(dir: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const source = directorySource(dir);
  const manifest = await readManifest(source);
  // the package's copy lacks all of them; a checkout that lost some is told which are missing
  const replaced = replacedByPrefix(manifest);
  const partial = replaced.length > 0 && replaced.every((f) => !existsSync(path.join(dir, f.path)));
  return loadModel(source, { ...options, skipFusedBlocks: options.skipFusedBlocks || partial });
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
