/**
 * A run on wasm is one long chain of promise continuations: without a real task boundary the
 * worker never reads its messages, so Cancel (and anything else sent to it) would wait for the
 * whole image. Yielding every YIELD_EVERY_MS keeps cancel latency short at a bounded cost.
 */
const YIELD_EVERY_MS = 25;

let lastYield = 0;

// not scheduler.yield(): its continuation is queued ahead of the messages we are waiting for
function nextTask(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  if (g.setImmediate) return new Promise((resolve) => g.setImmediate!(resolve)); // Node
  if (typeof MessageChannel !== 'undefined') {
    // unlike setTimeout, not clamped to 4 ms when nested
    return new Promise((resolve) => {
      const { port1, port2 } = new MessageChannel();
      port1.onmessage = () => {
        port1.close();
        resolve();
      };
      port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Gives the event loop a turn if the last one was more than YIELD_EVERY_MS ago. */
export async function yieldIfBusy(): Promise<void> {
  const now = performance.now();
  if (now - lastYield < YIELD_EVERY_MS) return;
  await nextTask();
  lastYield = performance.now();
}
