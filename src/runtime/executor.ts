/**
 * The onnxruntime executor: opens sessions, runs them one at a time (WebGPU and wasm must not run
 * concurrently), reads outputs back, keeps a ledger of every tensor it made or received until it
 * is disposed, releases everything, and turns ONNX Runtime's failures into the runtime's named
 * errors. What the segments are and how they chain is segments.ts's business, not this module's.
 */
import type * as OrtModule from 'onnxruntime-web';
import type { InferenceSession, Tensor } from 'onnxruntime-web';
import { BackendError, DeviceLostError, messageOf } from './errors';

export type Ort = typeof OrtModule;
export type Backend = 'webgpu' | 'wasm';
export type Feeds = Record<string, Tensor>;
/** Where each output should stay: on the device between segments, or read back. */
export type OutputLocation = Record<string, 'gpu-buffer' | 'cpu'>;

/**
 * Models whose segment files come to at most this many bytes have their weights prepacked (a
 * MatMul-ready copy of each, made at load); larger ones do not. Small MatMuls gain from it, large
 * ones pay for the copy in memory (compiled-code.ts's FILL_MAX_BYTES is another limit of the kind, on
 * the bytes a load holds). Measured 2026-12-04, the shipped model (4.9 MB of int8 segment files), its
 * 9 bench configurations, 2 interleaved runs of 5 images each: every one 1–5 % faster in Node and
 * 1–10 % in Chromium (θ 0.12: 214 against 225 ms, 224 against 246 ms), the first image no later
 * (0.90 against 0.97 s on a return visit, 5 loads each), the process no larger (216–268 against
 * 238–246 MB). The paper-size model (int8, 54.8 MB): a pass 1633 ms with it, 1545 ms without (within
 * noise), its peak memory 503 against 456 MB (3 runs each, medians).
 */
export const PREPACK_MAX_MODEL_BYTES = 16e6;

export class OrtExecutor {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly live = new Set<Tensor>();
  private readonly sessions: InferenceSession[] = [];
  /** Why the executor was released: what a later run or open rejects with. */
  private released: { why: unknown; done: Promise<void> } | null = null;

  constructor(
    readonly ort: Ort,
    readonly backend: Backend,
    /** Whether sessions prepack their weights (PREPACK_MAX_MODEL_BYTES says for which models). */
    private readonly prepack = true,
  ) {}

  /**
   * A session for one graph; `name` says which in the error when ONNX Runtime refuses it. In the run
   * queue: a model still loading makes its sessions between the runs of its first images.
   */
  open(bytes: Uint8Array, name: string, location?: OutputLocation): Promise<InferenceSession> {
    if (this.released) return Promise.reject(this.released.why);
    return this.enqueue(async () => {
      const session = await this.create(bytes, name, location);
      this.sessions.push(session); // release() waits for the queue, so it releases this one too
      return session;
    });
  }

  /**
   * Creates a session for one graph and releases it at once, in the run queue: for what creating
   * it leaves behind in the runtime (the browser's compiled code; src/worker/compiled-code.ts).
   */
  exercise(bytes: Uint8Array, name: string): Promise<void> {
    if (this.released) return Promise.reject(this.released.why);
    return this.enqueue(async () => {
      const session = await this.create(bytes, name);
      await session.release();
    });
  }

  private async create(
    bytes: Uint8Array,
    name: string,
    location?: OutputLocation,
  ): Promise<InferenceSession> {
    const gpu = this.backend === 'webgpu';
    try {
      return await this.ort.InferenceSession.create(bytes, {
        executionProviders: [this.backend],
        logSeverityLevel: 3, // shape ops placed on the CPU by design would otherwise warn on every load
        graphOptimizationLevel: 'all',
        // int8 files hold DequantizeLinear nodes over constant weights. ONNX Runtime keeps those
        // unfolded for QDQ kernel fusions we do not use, and then dequantizes at every run (+20 % per
        // block on wasm, measured); with QDQ off it folds them once at load into the fp32 weights.
        extra: {
          session: { disable_quant_qdq: '1', ...(this.prepack ? {} : { disable_prepacking: '1' }) },
        },
        ...(gpu && location ? { preferredOutputLocation: location } : {}),
      });
    } catch (e) {
      throw new BackendError(
        `${name}: ONNX Runtime could not create a ${this.backend} session (${messageOf(e)}). ` +
          (gpu ? 'Try the wasm backend.' : 'The file may be damaged: download the model again.'),
      );
    }
  }

  /** A tensor on the ledger: disposed by dispose() or at release. */
  tensor(type: 'float32', data: Float32Array, dims: readonly number[]): Tensor;
  tensor(type: 'int64', data: BigInt64Array, dims: readonly number[]): Tensor;
  tensor(type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]): Tensor {
    return this.track(new this.ort.Tensor(type, data as Float32Array, dims));
  }

  private track(t: Tensor): Tensor {
    this.live.add(t);
    return t;
  }

  dispose(t: Tensor | undefined): void {
    if (t && this.live.delete(t)) t.dispose();
  }

  /** Tensors made or received and not yet disposed (0 between runs, or something leaks). */
  liveCount(): number {
    return this.live.size;
  }

  /** Runs a session in the queue; its outputs go on the ledger. `fetches`: only these outputs. */
  run(session: InferenceSession, feeds: Feeds, fetches?: string[]): Promise<Record<string, Tensor>> {
    if (this.released) return Promise.reject(this.released.why);
    return this.enqueue(async () => {
      try {
        const out = await (fetches ? session.run(feeds, fetches) : session.run(feeds));
        for (const v of Object.values(out)) this.track(v);
        return out;
      } catch (e) {
        const msg = messageOf(e);
        if (/device (was )?lost|GPUDevice|destroyed/i.test(msg)) throw new DeviceLostError(msg);
        throw new BackendError(`ONNX Runtime failed on ${this.backend}: ${msg}`);
      }
    });
  }

  /** Why the executor was released (a failed load's own error, or an unload); undefined while it runs. */
  get releasedBecause(): unknown {
    return this.released?.why;
  }

  /** A tensor's values on the CPU (waits for the device work that makes it). */
  async read(t: Tensor): Promise<Float32Array> {
    if (this.released) throw this.released.why; // its tensors are disposed
    const data = (await t.getData()) as Float32Array;
    return data.slice();
  }

  /** A read in the run queue: after every run queued before it, and no run starts while it downloads. */
  readQueued(t: Tensor): Promise<Float32Array> {
    return this.enqueue(() => this.read(t));
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Waits for queued work, disposes every tensor on the ledger and releases every session. `why`:
   * what later runs reject with (a load that failed after its first images began: its own error).
   */
  release(why: unknown = new BackendError('the model was unloaded; load it again')): Promise<void> {
    // a second call (a failed load's own, then the engine's) waits for the same release
    if (this.released) return this.released.done;
    const done = (async () => {
      await this.queue;
      for (const t of [...this.live]) this.dispose(t);
      await Promise.all(this.sessions.map((s) => s.release().catch(() => undefined)));
    })();
    this.released = { why, done };
    return done;
  }
}
