/**
 * A first visit's head start: onnxruntime-web's .wasm for the backend that will run (the largest
 * file after the model) is requested by the page the moment its first script runs, not after React,
 * the app and the worker's script have loaded and the worker asks for it. The file is hashed and
 * served immutable, so the worker's own request is answered by the HTTP cache, or joins the download
 * under way. Measured: the wire sat almost idle for the first 0.7 s of a cold visit at 10 Mbit/s
 * (BENCHMARKS.md, time to first image). The worker's script is not preloaded: Chromium fetched it
 * twice (a worker's request does not take a preload's response).
 */
import { chooseBackend } from '../worker/backend';
import { isBackendChoice } from '../worker/api';
import { ortBuildFor, type OrtBuild } from '../worker/ort-build';
import wasmBuild from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import jspiBuild from 'onnxruntime-web/ort-wasm-simd-threaded.jspi.wasm?url';
import asyncifyBuild from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';

const RUNTIME: Record<OrtBuild, string> = { wasm: wasmBuild, jspi: jspiBuild, asyncify: asyncifyBuild };

function preload(href: string): void {
  const link = document.createElement('link');
  link.rel = 'preload';
  link.as = 'fetch';
  link.crossOrigin = 'anonymous';
  link.href = new URL(href, import.meta.url).href;
  document.head.append(link);
}

/** Preloads the runtime the page's engine will load, for the backend the link asks for (`search`). */
export async function preloadRuntime(search: string): Promise<void> {
  const asked = new URLSearchParams(search).get('backend');
  // the worker decides again and reports a refused choice; a wrong guess here costs bytes, not errors
  const chosen = await chooseBackend(isBackendChoice(asked) ? asked : 'auto').catch(() => null);
  preload(RUNTIME[ortBuildFor(chosen?.backend ?? 'wasm')]);
}
