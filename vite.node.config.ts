/**
 * The package's Node files → dist/node: the engine API (index.js) and the `adadiff` CLI (cli.js),
 * one flat folder so the shipped model is `../models` from every chunk. Everything is bundled
 * but onnxruntime-web (its wasm files stay in its own package) and the dev-only tools the
 * browser bench loads on demand.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  publicDir: false,
  ssr: { noExternal: true },
  build: {
    ssr: true,
    outDir: 'dist/node',
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    rollupOptions: {
      input: { index: 'src/api/node.ts', cli: 'src/cli/main.ts' },
      external: ['onnxruntime-web', 'vite', 'playwright-core', /^node:/],
      output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
    },
  },
});
