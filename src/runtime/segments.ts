/**
 * The segment wiring of one model over the onnxruntime executor: embed, one session per block
 * (tokens + UEM uncertainty), the shared head, and (when the manifest has one) the fused prefix:
 * embed and the first blocks in one graph, run instead of them when a pass cannot exit before its
 * end. On WebGPU the hidden tokens and skips stay on the GPU ('gpu-buffer') between segments and
 * only the tiny uncertainty is read back; a block's output is freed as soon as no later block
 * takes it as a skip.
 *
 * Graph capture (ORT records a session's GPU commands once and replays them) is not used: the
 * benchmark's probe (src/bench/graph-capture.ts) found the WebGPU EP's replays wrong and JSEP's
 * correct but slower, on SwiftShader; see BENCHMARKS.md. Speculation is a pass strategy of its own
 * (speculative-pass.ts), off by default.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-web';
import type { Denoiser } from './denoiser';
import { BackendError } from './errors';
import {
  OrtExecutor,
  PREPACK_MAX_MODEL_BYTES,
  type Backend,
  type Feeds,
  type Ort,
  type OutputLocation,
} from './executor';
import { byNeed, type LoadedModel } from './loader';
import {
  isConditional,
  prefixSkipOutput,
  prefixSkips,
  replacedByPrefix,
  segmentFiles,
  totalBytes,
  type FileSpec,
  type Manifest,
} from './manifest';
import { SegmentPass, type PassHost, type PrefixResult } from './segment-pass';
import { SpeculativePass } from './speculative-pass';
import { yieldIfBusy } from './yield';

export type { Backend, Ort } from './executor';

export interface SegmentRunnerOptions {
  backend: Backend;
  /**
   * Called once a pass can begin, while the blocks' sessions may still be on their way: a pass that
   * reaches a block waits for it (wasm; on WebGPU after the warm-up, with every session made). The
   * first steps exit early, so on a model still downloading they run beside its deeper blocks' files.
   */
  onStart?: (runner: SegmentRunner) => void;
  /** Queue the next block before reading the current uncertainty (default off; speculative-pass.ts). */
  speculate?: boolean;
  /**
   * A segment file's bytes, for a model still loading: each session is created as soon as its file is
   * in. Undefined, at once: the load leaves the file out. Default: the model's loaded files.
   */
  file?: (path: string) => Promise<Uint8Array> | undefined;
}

/** A block's session that may not exist yet: null once settled means the load left it out. */
interface BlockSlot {
  session: InferenceSession | null;
  settled: Promise<InferenceSession | null>;
}

interface Prefix {
  session: InferenceSession;
  depth: number;
  /** Blocks before the last whose outputs the prefix hands out (later blocks' skips). */
  skips: number[];
}

export class SegmentRunner implements Denoiser, PassHost {
  readonly numBlocks: number;
  readonly minimumDepth: number;
  /** Whether passes queue the next block before reading an uncertainty, unless begin says. */
  readonly speculate: boolean;

  private constructor(
    readonly executor: OrtExecutor,
    // the manifest, not the loaded model: once the sessions exist, nothing here keeps the files' bytes
    readonly manifest: Manifest,
    /** Null where the load left it out with the blocks the fused prefix replaces (it embeds itself). */
    private readonly embed: InferenceSession | null,
    private readonly blocks: BlockSlot[],
    readonly head: InferenceSession,
    private readonly prefix: Prefix | null,
    speculate: boolean,
    /** Whether the load reads the embed and block 0 (a model with a fused prefix may leave them out). */
    firstBlockLoaded: boolean,
  ) {
    this.speculate = speculate;
    this.numBlocks = blocks.length;
    this.minimumDepth = firstBlockLoaded ? 1 : prefix!.depth;
  }

  get backend(): Backend {
    return this.executor.backend;
  }

  /**
   * Creates every segment's session, each as soon as its file is in, one at a time (ONNX Runtime
   * must not create two at once, nor create while it runs), and resolves once all exist. The runner
   * exists, and onStart hears of it, as soon as every graph but the blocks does.
   */
  static async create(ort: Ort, model: LoadedModel, options: SegmentRunnerOptions): Promise<SegmentRunner> {
    const { manifest, files } = model;
    const file =
      options.file ?? ((path: string) => (files.has(path) ? Promise.resolve(files.get(path)!) : undefined));
    const prepack = totalBytes(segmentFiles(manifest)) <= PREPACK_MAX_MODEL_BYTES;
    const executor = new OrtExecutor(ort, options.backend, prepack);
    const fused = manifest.segments.prefix;
    const skips = fused ? prefixSkips(manifest, fused) : [];
    const prefixLocation: OutputLocation = { hidden: 'gpu-buffer', temb: 'gpu-buffer', uncertainty: 'cpu' };
    for (const j of skips) prefixLocation[prefixSkipOutput(j)] = 'gpu-buffer';
    const n = manifest.segments.blocks.length;
    const replaced = new Set(replacedByPrefix(manifest)); // the page's load leaves them out
    // every session: its file, where its outputs stay, and whether the load may have left it out
    const jobs: { spec: FileSpec; location: OutputLocation; optional: boolean }[] = [
      {
        spec: manifest.segments.embed,
        location: { hidden: 'gpu-buffer', temb: 'gpu-buffer' },
        optional: replaced.has(manifest.segments.embed),
      },
      // on the GPU too, so a speculative pass can queue the next block before reading it back
      // (a plain pass reads it at once: the same download ORT would do for a 'cpu' output)
      ...manifest.segments.blocks.map((spec) => ({
        spec,
        location: { hidden_out: 'gpu-buffer', uncertainty: 'gpu-buffer' } as OutputLocation,
        optional: replaced.has(spec),
      })),
      { spec: manifest.segments.head, location: { eps: 'cpu' }, optional: false },
      ...(fused ? [{ spec: fused as FileSpec, location: prefixLocation, optional: false }] : []),
    ];
    const isBlock = (i: number) => i >= 1 && i <= n;
    const sessions: (InferenceSession | null | undefined)[] = jobs.map(() => undefined);
    const blockDone: ((s: InferenceSession | null) => void)[] = [];
    const blockFailed: ((e: unknown) => void)[] = [];
    const slots: BlockSlot[] = manifest.segments.blocks.map((_, b) => {
      const slot: BlockSlot = {
        session: null,
        settled: new Promise((resolve, reject) => {
          blockDone[b] = (s) => {
            slot.session = s;
            resolve(s);
          };
          blockFailed[b] = reject;
        }),
      };
      slot.settled.catch(() => undefined); // a pass waiting on it hears; nobody else need
      return slot;
    });
    const made = (i: number, session: InferenceSession | null) => {
      sessions[i] = session;
      if (isBlock(i)) blockDone[i - 1]!(session);
    };
    let runner: SegmentRunner | null = null;
    const startIfReady = () => {
      if (runner || jobs.some((_, i) => !isBlock(i) && sessions[i] === undefined)) return;
      const prefix: Prefix | null = fused ? { session: sessions[n + 2]!, depth: fused.depth, skips } : null;
      runner = new SegmentRunner(
        executor,
        manifest,
        sessions[0] ?? null,
        slots,
        sessions[n + 1]!,
        prefix,
        options.speculate ?? false,
        sessions[0] !== null && sessions[1] !== null,
      );
      // WebGPU's warm-up runs every graph: it starts the runner once all exist
      if (options.backend !== 'webgpu') options.onStart?.(runner);
    };
    try {
      // in the order a pass needs them: of the files already in (a cached model), those come first
      const need = byNeed(manifest);
      const needOrder = [...jobs.keys()].sort((a, b) => need(jobs[a]!.spec, jobs[b]!.spec));
      const arriving = new Map<number, Promise<{ i: number; b: Uint8Array }>>();
      needOrder.forEach((i) => {
        const job = jobs[i]!;
        const bytes = file(job.spec.path);
        if (bytes === undefined) {
          if (!job.optional) throw new BackendError(`${job.spec.path} was not loaded; load the model again`);
          made(i, null);
          return;
        }
        const arrival = bytes.then((b) => ({ i, b }));
        arrival.catch(() => undefined); // a failed load rejects them all; the first one says why
        arriving.set(i, arrival);
      });
      // each session as soon as its file is in: with the model still loading, in the order they come
      while (arriving.size) {
        const { i, b } = await Promise.race(arriving.values());
        arriving.delete(i);
        made(i, await executor.open(b, jobs[i]!.spec.path, jobs[i]!.location));
        startIfReady();
        // creating a session holds the thread: let a load still under way read its next files
        await yieldIfBusy();
      }
      startIfReady();
      const ready = runner as SegmentRunner | null;
      if (!ready) throw new BackendError('the model has no sessions; load it again');
      // WebGPU compiles a graph's shaders at its first run: paid while loading, not by the first image.
      // wasm compiles nothing there, and a full-depth pass would only delay the model's readiness
      if (options.backend === 'webgpu') {
        await ready.warm();
        options.onStart?.(ready);
      }
      return ready;
    } catch (e) {
      // a pass waiting for a block fails with the load's error
      blockFailed.forEach((fail) => fail(e));
      await executor.release(e);
      throw e;
    }
  }

  /**
   * A full-depth pass through every graph (the fused prefix's, and the embed's where passes may exit
   * inside the prefix), so that WebGPU has compiled their shaders before the first image.
   */
  private async warm(): Promise<void> {
    const { channels, height, width } = this.manifest.image;
    const image = new Float32Array(channels * height * width);
    for (const mustRun of new Set(this.prefix ? [this.minimumDepth, this.prefix.depth] : [1])) {
      const pass = await this.begin(image, 500, [0], mustRun, false);
      try {
        for (let i = 0; i < this.numBlocks; i++) await pass.runBlock(i);
        await pass.exit();
      } finally {
        pass.dispose();
      }
    }
  }

  /** Blocks the fused prefix runs in one go (0: the model has none). */
  get prefixDepth(): number {
    return this.prefix?.depth ?? 0;
  }

  /** Tensors created or received and not yet disposed (0 between runs, or something leaks). */
  liveTensorCount(): number {
    return this.executor.liveCount();
  }

  /** A block's session (null: replaced by the fused prefix and not loaded, or not made yet). */
  blockSession(i: number): InferenceSession | null {
    return this.blocks[i]?.session ?? null;
  }

  /** A block's session once it exists; rejects for a block the load left out, or the load's failure. */
  async awaitBlock(i: number): Promise<InferenceSession> {
    const session = await this.blocks[i]?.settled;
    if (!session) throw new BackendError(`block ${i} was not loaded (the fused prefix replaces it)`);
    return session;
  }

  /**
   * x, t and y as the graphs take them, on the executor's ledger. `classes` gives the batch (one
   * entry per sample); a model with no classes takes no y, and its entries are ignored.
   */
  inputs(x: Float32Array, t: number, classes: readonly number[]): Feeds {
    const { channels, height, width } = this.manifest.image;
    const batch = classes.length;
    const exec = this.executor;
    const feeds: Feeds = {
      x: exec.tensor('float32', x, [batch, channels, height, width]),
      t: exec.tensor('float32', new Float32Array(batch).fill(t), [batch]),
    };
    if (isConditional(this.manifest)) {
      feeds.y = exec.tensor(
        'int64',
        BigInt64Array.from(classes, (c) => BigInt(c)),
        [batch],
      );
    }
    return feeds;
  }

  /** `speculate`: this pass queues each next block before reading an uncertainty. */
  async begin(
    x: Float32Array,
    t: number,
    classes: readonly number[],
    mustRun = 1,
    speculate = this.speculate,
  ): Promise<SegmentPass> {
    const exec = this.executor;
    const prefix = this.prefix && this.prefix.depth <= mustRun ? this.prefix : null;
    const first = prefix ? prefix.session : mustRun >= this.minimumDepth ? this.embed : null;
    if (!first) {
      throw new BackendError(
        `a pass that may exit after ${mustRun} blocks needs the embed and blocks the fused prefix replaces, which were not loaded`,
      );
    }
    const feeds = this.inputs(x, t, classes);
    let out: Record<string, Tensor>;
    try {
      out = await exec.run(first, feeds);
    } finally {
      Object.values(feeds).forEach((f) => exec.dispose(f));
    }
    const Pass = speculate ? SpeculativePass : SegmentPass;
    if (!prefix) return new Pass(this, out.hidden!, out.temb!);
    let done: PrefixResult;
    try {
      // [batch, depth] row-major → one row per block, as runBlock reports it
      const all = await exec.read(out.uncertainty!);
      const batch = classes.length;
      const uncertainties = Array.from({ length: prefix.depth }, (_, i) =>
        Float32Array.from({ length: batch }, (_, b) => all[b * prefix.depth + i]!),
      );
      const outputs = new Map<number, Tensor>(prefix.skips.map((j) => [j, out[prefixSkipOutput(j)]!]));
      done = { depth: prefix.depth, uncertainties, outputs };
    } catch (e) {
      Object.values(out).forEach((t) => exec.dispose(t)); // no pass will own them
      throw e;
    } finally {
      exec.dispose(out.uncertainty);
    }
    return new Pass(this, out.hidden!, out.temb!, done);
  }

  release(): Promise<void> {
    return this.executor.release();
  }

  skipFrom(i: number): number | null {
    return this.manifest.segments.blocks[i]!.skipFrom;
  }

  /**
   * Block i's feeds from the tokens, the timestep embedding and its skip: only the inputs its graph
   * takes (the official certainty head reads no time, so its blocks take no temb).
   */
  blockFeeds(i: number, hidden: Tensor, temb: Tensor, skip?: Tensor): Feeds {
    const feeds: Feeds = { hidden };
    for (const input of this.manifest.segments.blocks[i]!.inputs) {
      if (input.name === 'temb') feeds.temb = temb;
      if (input.name === 'skip' && skip) feeds.skip = skip;
    }
    return feeds;
  }

  /** Whether block j's output is still needed after block `after` has run (as a later skip). */
  neededLater(j: number, after: number): boolean {
    for (let k = after + 1; k < this.numBlocks; k++) if (this.skipFrom(k) === j) return true;
    return false;
  }
}
