/**
 * The package's browser files, Vite library mode → dist/lib: the engine API (adadiff.js), the
 * widget (adadiff-widget.js), the engine's worker, and onnxruntime-web's wasm files beside them.
 * Every URL is resolved from the module's own URL, so they work from a CDN-like origin other than
 * the host page's. The worker keeps a fixed name, so the API can find it under `assets` too.
 *
 * adadiff-worker.js (`adadiff-web/worker`) is the same worker for an app's bundler to build: it
 * imports onnxruntime-web by name, so the app's bundler resolves it and emits its .wasm files.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';
import { WORKER_FILE } from './src/session/model-url';

const require = createRequire(import.meta.url);
const ortDist = path.dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm'));
/** The builds the engine loads (src/worker/expose.ts): wasm; WebGPU on JSPI, or on asyncify without it. */
const ORT_FILES = [
  'ort-wasm-simd-threaded.jspi.mjs',
  'ort-wasm-simd-threaded.jspi.wasm',
  'ort-wasm-simd-threaded.asyncify.mjs',
  'ort-wasm-simd-threaded.asyncify.wasm',
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
];

/** onnxruntime-web's runtime files, next to the chunk that loads them (it looks beside itself). */
function copyOrtRuntime(): Plugin {
  return {
    name: 'adadiff:copy-ort-runtime',
    generateBundle() {
      for (const file of ORT_FILES) {
        this.emitFile({
          type: 'asset',
          fileName: `assets/${file}`,
          source: readFileSync(path.join(ortDist, file)),
        });
      }
    },
  };
}

/** The worker entry's types: it exports nothing, importing it starts the engine. */
function workerEntryTypes(): Plugin {
  return {
    name: 'adadiff:worker-entry-types',
    generateBundle() {
      this.emitFile({
        type: 'asset',
        fileName: 'adadiff-worker.d.ts',
        source:
          "/** Importing 'adadiff-web/worker' in a Web Worker runs the engine there; hand that worker to createGenerator({ worker }). */\nexport {};\n",
      });
    },
  };
}

/** onnxruntime-web, left for the app's bundler (only adadiff-worker.js imports it in this build). */
const isOrt = (id: string) => id === 'onnxruntime-web' || id.startsWith('onnxruntime-web/');

export default defineConfig({
  base: './',
  publicDir: false,
  plugins: [react(), copyOrtRuntime(), workerEntryTypes()],
  // library mode inlines import.meta.url assets as base64 (a 70 MB module); onnxruntime-web's
  // "extern wasm" build instead fetches its wasm at run time from beside itself
  resolve: { conditions: ['onnxruntime-web-use-extern-wasm', 'module', 'browser', 'production'] },
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  worker: {
    format: 'es',
    plugins: () => [copyOrtRuntime()],
    rollupOptions: { output: { entryFileNames: WORKER_FILE, chunkFileNames: 'assets/[name]-[hash].js' } },
  },
  build: {
    outDir: 'dist/lib',
    emptyOutDir: true,
    target: 'es2022',
    lib: {
      entry: {
        adadiff: 'src/api/browser.ts',
        'adadiff-widget': 'src/widget/index.ts',
        'adadiff-worker': 'src/api/worker.ts',
      },
      formats: ['es'],
      fileName: (_format, name) => `${name}.js`,
    },
    rollupOptions: { external: isOrt, output: { chunkFileNames: 'assets/[name]-[hash].js' } },
  },
});
