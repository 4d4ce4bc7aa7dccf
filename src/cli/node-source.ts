/** Model files from a local directory, for the CLI (the page fetches them over HTTP instead). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
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
