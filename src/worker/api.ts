/**
 * The worker's API as the UI sees it: one engine per worker, owning every ONNX session.
 * Only types (and the protocol's name) live here, so the UI can import it without pulling in the runtime.
 */
import type { Backend, GenerateParams, GenerateResult, LoadProgress, Manifest, StepEvent } from '../runtime';
import type { OrtSettings } from './ort-settings';

/**
 * What an engine answers to hello(): a worker built from another version of this package (an
 * app's own worker, `adadiff-web/worker`) says something else, and the client refuses it.
 */
export const ENGINE_PROTOCOL = 'adadiff-engine/1';

/** What a caller may ask for: a backend, or 'auto' (WebGPU on a hardware adapter, else wasm). */
export const BACKEND_CHOICES = ['auto', 'webgpu', 'wasm'] as const satisfies readonly ('auto' | Backend)[];
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export const isBackendChoice = (v: unknown): v is BackendChoice =>
  (BACKEND_CHOICES as readonly unknown[]).includes(v);

/** How an error names the choices: "auto, webgpu or wasm". */
export const BACKEND_CHOICES_TEXT = `${BACKEND_CHOICES.slice(0, -1).join(', ')} or ${BACKEND_CHOICES.at(-1)}`;

/** What a load knows once the model can generate, its deeper blocks perhaps still on their way. */
export interface StartInfo {
  manifest: Manifest;
  /** The backend that really runs (never a silent fallback). */
  backend: Backend;
  /** Why this backend: e.g. "no WebGPU adapter", "software adapter (swiftshader)". */
  backendReason: string;
}

export interface LoadInfo extends StartInfo {
  downloadedBytes: number;
  /** Set when the model could not be cached (private mode, quota): it still loads into memory. */
  cacheNotice: string | null;
  loadMs: number;
}

export interface EngineStats {
  loaded: boolean;
  liveTensors: number;
  running: boolean;
}

export interface EngineApi {
  /**
   * Resolves once every session exists. `ort`: onnxruntime-web's settings, set before the first
   * session (ort-settings.ts). `onStart`: generate may be called from then on, before the load
   * resolves (on wasm, while the deeper blocks still download: a run waits for a block not yet in).
   */
  load(
    modelUrl: string,
    backend: BackendChoice,
    onProgress?: (p: LoadProgress) => void,
    ort?: OrtSettings,
    onStart?: (info: StartInfo) => void,
  ): Promise<LoadInfo>;
  generate(params: Partial<GenerateParams>, onStep?: (e: StepEvent) => void): Promise<GenerateResult>;
  /** Stops the running generation within one segment; its promise rejects with CancelledError. */
  cancel(): void;
  unload(): Promise<void>;
  stats(): EngineStats;
  /** ENGINE_PROTOCOL: that a worker runs this engine, and which version of its API. */
  hello(): string;
}
