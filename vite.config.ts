import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';
import { DEFAULT_MODEL_ID } from './src/session/model-url';
import { modelsIndex } from './tools/package/models-index.mjs';
import { precompress } from './tools/package/precompress.mjs';
import { siteFiles } from './tools/package/serve.mjs';

// Cross-origin isolation lets onnxruntime-web's wasm backend use threads (SharedArrayBuffer).
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * `vite preview` (`npm start`) serves the build as a static host should: the precompressed copies,
 * gzip for the rest, cache headers (tools/package/serve.mjs); Vite's own server is the fallback.
 */
function serveCompressed(): Plugin {
  let outDir = 'dist';
  return {
    name: 'adadiff:serve-compressed',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    configurePreviewServer(server) {
      server.middlewares.use(siteFiles(outDir));
    },
  };
}

export default defineConfig({
  base: './',
  // the site's files get brotli and gzip copies for hosts that serve them (tools/package/precompress.mjs);
  // not the models' folders, which the package ships as they are
  plugins: [
    react(),
    modelsIndex({ first: DEFAULT_MODEL_ID }),
    precompress({ skip: ['models'] }),
    serveCompressed(),
  ],
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
