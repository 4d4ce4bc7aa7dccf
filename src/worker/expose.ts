/**
 * The engine's Web Worker: one Engine exposed over comlink on this worker's global scope. The
 * page's worker (engine.worker.ts) and the package's `adadiff-web/worker` (src/api/worker.ts,
 * which an app's bundler builds into the app's own worker) both run exactly this.
 */
import * as Comlink from 'comlink';
import { watchDeviceLoss } from './backend';
import { Engine } from './engine';
import { installErrorTransfer } from './error-transfer';
import { importOrt } from './ort-build';

let exposed = false;

/** Exposes the engine once; a second call (the module imported twice) does nothing. */
export function exposeEngine(): void {
  if (exposed) return;
  exposed = true;
  const engine = new Engine(importOrt);
  installErrorTransfer();
  watchDeviceLoss((reason) => engine.deviceLost(reason));
  Comlink.expose(engine);
}
