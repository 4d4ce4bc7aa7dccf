/** Model files from a local directory, for the CLI (the page fetches them over HTTP instead). */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FetchError, type ModelSource } from '../runtime';

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
 * The shipped model's directory: in the package, dist/models beside dist/node; in a checkout,
 * public/models (this file is src/node/source.ts).
 */
export function shippedModelDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.join(here, '../models/fmnist-uvit13'),
    path.join(here, '../../public/models/fmnist-uvit13'),
  ];
  return candidates.find((dir) => existsSync(path.join(dir, 'manifest.json'))) ?? candidates[1]!;
}
