/** Model files from a local directory, for the CLI (the page fetches them over HTTP instead). */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_ID, FetchError, isModelId, type ModelSource } from '../runtime';

export function directorySource(dir: string): ModelSource {
  return {
    location: dir,
    async read(file, onBytes) {
      const full = path.join(dir, file);
      try {
        const bytes = new Uint8Array(await readFile(full));
        onBytes?.(bytes.byteLength);
        return bytes;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new FetchError(full, code === 'ENOENT' ? 'no such file' : String(code ?? e));
      }
    },
  };
}

/** onnxruntime-web's Node build (wasm), quiet and with one thread per session run queue. */
export async function loadOrt() {
  const ort = await import('onnxruntime-web');
  ort.env.logLevel = 'error';
  return ort;
}

/**
 * The shipped models' directory: in the package, dist/models beside dist/node; in a checkout,
 * public/models (this file is src/node/source.ts).
 */
export function shippedModelsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, '../models'), path.join(here, '../../public/models')];
  const holds = (dir: string) => existsSync(path.join(dir, DEFAULT_MODEL_ID, 'manifest.json'));
  return candidates.find(holds) ?? candidates[1]!;
}

/** A shipped model's directory (the default one's without an id). */
export function shippedModelDir(id = DEFAULT_MODEL_ID): string {
  return path.join(shippedModelsDir(), id);
}

/** The ids of the models this package ships: the folders of shippedModelsDir() with a manifest. */
export function shippedModelIds(): string[] {
  const dir = shippedModelsDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((id) => isModelId(id) && existsSync(path.join(dir, id, 'manifest.json')))
    .sort();
}

/** A model given by the user: a shipped model's id, else a directory path. */
export function modelDirOf(given: string): string {
  return isModelId(given) && shippedModelIds().includes(given) ? shippedModelDir(given) : given;
}
