/**
 * Which build of onnxruntime-web a backend loads, and only that one (gzip-9 sizes of the .wasm):
 * wasm the CPU-only build (3.5 MiB); WebGPU the native WebGPU EP, on JSPI where the browser has
 * WebAssembly.Suspending (3.9 MiB), else on asyncify (6.3 MiB). All are imported by name: inside
 * the package's prebuilt worker they are bundled, in `adadiff-web/worker` the app's bundler resolves
 * them (and emits their .wasm files).
 */
import type { Backend, Ort } from '../runtime';

export type OrtBuild = 'wasm' | 'jspi' | 'asyncify';

/** The build `backend` runs on in this browser (the page preloads its .wasm by the same rule). */
export function ortBuildFor(backend: Backend): OrtBuild {
  if (backend === 'wasm') return 'wasm';
  return 'Suspending' in WebAssembly ? 'jspi' : 'asyncify';
}

export async function importOrt(backend: Backend): Promise<Ort> {
  const build = ortBuildFor(backend);
  const ort =
    build === 'wasm'
      ? await import('onnxruntime-web/wasm')
      : build === 'jspi'
        ? await import('onnxruntime-web/jspi')
        : await import('onnxruntime-web/webgpu');
  ort.env.logLevel = 'error'; // the default; a generator's ort.logLevel is set after this
  return ort;
}
