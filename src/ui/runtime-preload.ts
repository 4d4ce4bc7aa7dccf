/**
 * A first visit's head start: onnxruntime-web's .wasm for the backend that will run (the largest
 * file after the model) is fetched by the page the moment its first script runs, not after React,
 * the app and the worker's script have loaded and the worker asks for it. Measured: the wire sat
 * almost idle for the first 0.7 s of a cold visit at 10 Mbit/s (BENCHMARKS.md, time to first image).
 *
 * The page only fills the HTTP cache: the file is hashed and served immutable, so the worker's own
 * request is answered from there, or waits on the download under way. A plain fetch whose body is
 * drained, not a <link rel=preload>: the page never uses the response, and a preload would keep it
 * and warn that it went unused. The worker's script is not fetched ahead: Chromium fetched it twice.
 */
import { chooseBackend } from '../worker/backend';
import { isBackendChoice } from '../worker/api';
import { ortBuildFor, type OrtBuild } from '../worker/ort-build';
import wasmBuild from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import jspiBuild from 'onnxruntime-web/ort-wasm-simd-threaded.jspi.wasm?url';
import asyncifyBuild from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';

const RUNTIME: Record<OrtBuild, string> = { wasm: wasmBuild, jspi: jspiBuild, asyncify: asyncifyBuild };

/**
 * The runtime fetched on an earlier visit (its URL, hashed by its contents), which the HTTP cache
 * likely still holds: reading its megabytes again here would only slow the worker's start. Asking
 * the cache itself (`cache: 'only-if-cached'`) logs an error in the console at every miss.
 */
const FETCHED_KEY = 'adadiff-web:runtime-fetched';
const storage = (): Storage | null => {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage blocked: every visit counts as a first one
  }
};

/**
 * Fetches the runtime the page's engine will load, for the link's backend and model (`search`). A
 * model on another site waits for the visitor's consent, and may never load: nothing is fetched.
 */
export async function preloadRuntime(search: string): Promise<void> {
  const link = new URLSearchParams(search);
  const model = link.get('model');
  if (model !== null && new URL(model, location.href).origin !== location.origin) return;
  const urls = Object.values(RUNTIME).map((f) => new URL(f, import.meta.url).href);
  if (urls.includes(storage()?.getItem(FETCHED_KEY) ?? '')) return;
  const asked = link.get('backend');
  const choice = isBackendChoice(asked) ? asked : 'auto';
  // the worker decides again, by the same rule, and reports a refused choice. A wrong guess (a browser
  // with WebGPU in pages and not in workers; a page cannot ask what a worker has) downloads a second
  // runtime beside the first
  const chosen = choice === 'wasm' ? null : await chooseBackend(choice).catch(() => null);
  const url = new URL(RUNTIME[ortBuildFor(chosen?.backend ?? 'wasm')], import.meta.url).href;
  const response = await fetch(url);
  await response.body?.pipeTo(new WritableStream());
  if (response.ok) storage()?.setItem(FETCHED_KEY, url);
}
