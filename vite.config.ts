import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { DEFAULT_MODEL_ID } from './src/session/model-url';
import { modelsIndex } from './tools/package/models-index.mjs';

// Cross-origin isolation lets onnxruntime-web's wasm backend use threads (SharedArrayBuffer).
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  base: './',
  plugins: [react(), modelsIndex({ first: DEFAULT_MODEL_ID })],
  worker: { format: 'es' },
  // onnxruntime-web locates its .wasm next to its own module; pre-bundling would move it
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
    rollupOptions: { input: { main: 'index.html', embed: 'embed.html', bench: 'bench.html' } },
  },
  server: { headers: isolation },
  preview: { headers: isolation },
});
