import { createEngineClient, type EngineClient } from '../worker/client';
import { preloadRuntime } from './runtime-preload';

const root = document.getElementById('root')!;

/** The app's own code could not be fetched: say so without it (React is in what failed). */
function appFailed(e: unknown): void {
  const message = document.createElement('p');
  message.dataset.testid = 'app-load-error';
  message.textContent = `The page's code did not load (${e instanceof Error ? e.message : String(e)}). Check your connection, then reload.`;
  const reload = document.createElement('button');
  reload.textContent = 'Reload';
  reload.addEventListener('click', () => location.reload());
  root.replaceChildren(message, reload);
}

// onnxruntime's .wasm starts downloading while React and the app load (runtime-preload.ts); the
// preload is a head start only, so its failure is nobody's business
preloadRuntime(location.search).catch(() => undefined);
// and the engine's worker starts then too: the model's load waits for its script, not React's. A
// worker the browser refuses here (a CSP, a sandbox) is made again at the load, which says why
let engine: EngineClient | null = null;
try {
  engine = createEngineClient();
} catch {
  // left null: the load makes the worker again and reports why it failed
}
import('./start').then(({ startPage }) => startPage(root, engine), appFailed);
