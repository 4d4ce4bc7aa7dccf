import path from 'node:path';
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

/**
 * The page's app (React and the UI) is a dynamic import, so that the page's first script can start
 * onnxruntime's download before the app has loaded (src/ui/runtime-preload.ts). The HTML still asks
 * for the app's chunks from the start, beside that script, so the import finds them already fetched.
 */
function preloadApp(entry: string): Plugin {
  return {
    name: 'adadiff:preload-app',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(html, ctx) {
        if (!ctx.bundle || path.basename(ctx.filename) !== 'index.html') return html;
        const bundle = ctx.bundle;
        const app = Object.values(bundle).find(
          (c) => c.type === 'chunk' && c.facadeModuleId?.endsWith(entry),
        );
        if (app?.type !== 'chunk') throw new Error(`${entry} is not a chunk of the build`);
        // the app's chunk and everything it imports, however deep
        const chunks = new Set<string>();
        const css = new Set<string>();
        const walk = (file: string) => {
          const chunk = bundle[file];
          if (chunks.has(file) || chunk?.type !== 'chunk') return;
          chunks.add(file);
          chunk.viteMetadata?.importedCss.forEach((f) => css.add(f));
          chunk.imports.forEach(walk);
        };
        walk(app.fileName);
        const link = (rel: string, file: string, as?: string) => ({
          tag: 'link',
          attrs: { rel, href: `./${file}`, crossorigin: true, ...(as ? { as } : {}) },
          injectTo: 'head' as const,
        });
        return {
          html,
          tags: [
            // the entry's own imports are in the HTML already
            ...[...chunks].filter((f) => !html.includes(`"./${f}"`)).map((f) => link('modulepreload', f)),
            ...[...css].map((f) => link('preload', f, 'style')),
          ],
        };
      },
    },
  };
}

export default defineConfig({
  base: './',
  // the site's files get brotli and gzip copies for hosts that serve them (tools/package/precompress.mjs);
  // not the models' folders, which the package ships as they are
  plugins: [
    react(),
    preloadApp('src/ui/start.tsx'),
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
