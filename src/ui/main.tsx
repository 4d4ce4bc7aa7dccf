import { preloadRuntime } from './runtime-preload';

// onnxruntime's .wasm starts downloading while React and the app load (runtime-preload.ts)
void preloadRuntime(location.search);
void import('./start').then(({ startPage }) => startPage(document.getElementById('root')!));
