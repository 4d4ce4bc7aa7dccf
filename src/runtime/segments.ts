/**
 * ONNX Runtime (web) sessions for the segments of one model: embed, one per block (tokens + UEM
 * uncertainty), the shared head, and (when the manifest has one) the fused prefix: embed and the
 * first blocks in one graph, run instead of them when a pass cannot exit before its end. On
 * WebGPU the hidden tokens and skips stay on the GPU ('gpu-buffer') between segments and only the
 * tiny uncertainty is read back. Every run goes through one queue: WebGPU and wasm must not run
 * concurrently.
 *
 * Speculation (off unless asked for): reading an uncertainty back waits for the device, which
 * then idles while the exit decision travels to JS and the next block is dispatched. A
 * speculative pass queues block i+1 before it reads block i's uncertainty, so the device always
 * has the next block; on exit that block is thrown away. That pays only where a GPU works beside
 * the CPU. Measured here it costs: +10 % per image on wasm (a run holds the thread, nothing
 * overlaps) and +11 % on WebGPU through SwiftShader (slower in each interleaved round; the "GPU"
 * is the same two cores), so it stays off until `adadiff bench --browser --backend webgpu` shows
 * a gain on a hardware adapter.
 *
 * Graph capture (ORT records a session's GPU commands once and replays them) is not used: the
 * benchmark's probe (src/bench/graph-capture.ts) found the WebGPU EP's replays wrong and JSEP's correct
 * but slower, on SwiftShader; see BENCHMARKS.md.
 */
import type * as OrtModule from 'onnxruntime-web';
import type { InferenceSession, Tensor } from 'onnxruntime-web';
import { BackendError, DeviceLostError, messageOf } from './errors';
import type { Denoiser, ForwardPass } from './denoiser';
import type { LoadedModel } from './loader';
import { prefixSkipOutput, prefixSkips, type FileSpec, type Manifest } from './manifest';

export type Ort = typeof OrtModule;
export type Backend = 'webgpu' | 'wasm';

export interface SegmentRunnerOptions {
  backend: Backend;
  /** Called after each session is created and warmed (shader compilation happens here). */
  onWarm?: (done: number, total: number) => void;
  /** Also create a session for the monolithic full-depth graph (benchmarks). */
  monolithic?: boolean;
  /** Queue the next block before reading the current uncertainty (default off; see above). */
  speculate?: boolean;
}

type Feeds = Record<string, Tensor>;

interface Prefix {
  session: InferenceSession;
  depth: number;
  /** Blocks before the last whose outputs the prefix hands out (later blocks' skips). */
  skips: number[];
}

export class SegmentRunner implements Denoiser {
  readonly numBlocks: number;
  readonly minimumDepth: number;
  /** Wall time of the last run of each block (ms), for the per-segment timing events. */
  readonly lastBlockMs: number[];
  /** Whether passes queue the next block before reading an uncertainty, unless begin says. */
  readonly speculate: boolean;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly live = new Set<Tensor>();
  private released = false;

  private constructor(
    private readonly ort: Ort,
    readonly manifest: Manifest,
    readonly backend: Backend,
    private readonly embed: InferenceSession,
    private readonly blocks: (InferenceSession | null)[],
    private readonly head: InferenceSession,
    private readonly prefix: Prefix | null,
    private readonly monolithic: InferenceSession | null,
    speculate: boolean,
  ) {
    this.speculate = speculate;
    this.numBlocks = blocks.length;
    this.minimumDepth = blocks[0] ? 1 : prefix!.depth;
    this.lastBlockMs = new Array<number>(blocks.length).fill(0);
  }

  static async create(ort: Ort, model: LoadedModel, options: SegmentRunnerOptions): Promise<SegmentRunner> {
    const { manifest, files } = model;
    const gpu = options.backend === 'webgpu';
    const created: InferenceSession[] = [];
    const fused = manifest.segments.prefix;
    const total =
      manifest.segments.blocks.filter((b) => files.has(b.path)).length +
      2 +
      (fused ? 1 : 0) +
      (options.monolithic ? 1 : 0);
    const open = async (spec: FileSpec, location?: Record<string, 'gpu-buffer' | 'cpu'>) => {
      const bytes = files.get(spec.path);
      if (!bytes) throw new BackendError(`${spec.path} was not loaded; load the model again`);
      try {
        const session = await ort.InferenceSession.create(bytes, {
          executionProviders: [options.backend],
          logSeverityLevel: 3, // shape ops placed on the CPU by design would otherwise warn on every load
          graphOptimizationLevel: 'all',
          ...(gpu && location ? { preferredOutputLocation: location } : {}),
        });
        created.push(session);
        options.onWarm?.(created.length, total);
        return session;
      } catch (e) {
        throw new BackendError(
          `${spec.path}: ONNX Runtime could not create a ${options.backend} session (${messageOf(e)}). ` +
            (gpu ? 'Try the wasm backend.' : 'The file may be damaged: download the model again.'),
        );
      }
    };
    try {
      const embed = await open(manifest.segments.embed, { hidden: 'gpu-buffer', temb: 'gpu-buffer' });
      // blocks the fused prefix replaces may have been left out of the load (the page's)
      const blocks: (InferenceSession | null)[] = [];
      for (const [i, spec] of manifest.segments.blocks.entries()) {
        const replaced = fused !== undefined && i < fused.depth && !files.has(spec.path);
        // on the GPU too, so a speculative pass can queue the next block before reading it back
        // (a plain pass reads it at once: the same download ORT would do for a 'cpu' output)
        blocks.push(
          replaced ? null : await open(spec, { hidden_out: 'gpu-buffer', uncertainty: 'gpu-buffer' }),
        );
      }
      const head = await open(manifest.segments.head, { eps: 'cpu' });
      let prefix: Prefix | null = null;
      if (fused) {
        const skips = prefixSkips(manifest, fused);
        const location: Record<string, 'gpu-buffer' | 'cpu'> = {
          hidden: 'gpu-buffer',
          temb: 'gpu-buffer',
          uncertainty: 'cpu',
        };
        for (const j of skips) location[prefixSkipOutput(j)] = 'gpu-buffer';
        prefix = { session: await open(fused, location), depth: fused.depth, skips };
      }
      const mono =
        options.monolithic && manifest.baselines?.monolithic
          ? await open(manifest.baselines.monolithic, { eps: 'cpu' })
          : null;
      const speculate = options.speculate ?? false;
      const runner = new SegmentRunner(
        ort,
        manifest,
        options.backend,
        embed,
        blocks,
        head,
        prefix,
        mono,
        speculate,
      );
      await runner.warm();
      return runner;
    } catch (e) {
      await Promise.all(created.map((s) => s.release().catch(() => undefined)));
      throw e;
    }
  }

  /** One full-depth pass so every graph's kernels (and WebGPU shaders) are compiled before timing. */
  private async warm(): Promise<void> {
    const { channels, height, width } = this.manifest.image;
    const image = new Float32Array(channels * height * width);
    for (const mustRun of this.prefix ? [this.minimumDepth, this.prefix.depth] : [1]) {
      const pass = await this.begin(image, 500, [0], mustRun, false);
      try {
        for (let i = 0; i < this.numBlocks; i++) await pass.runBlock(i);
        await pass.exit();
      } finally {
        pass.dispose();
      }
    }
    if (this.monolithic) await this.runMonolithic(new Float32Array(channels * height * width), 500, [0]);
  }

  /** Whether the monolithic baseline graph has a session (benchmarks need it). */
  get hasMonolithic(): boolean {
    return this.monolithic !== null;
  }

  /** Blocks the fused prefix runs in one go (0: the model has none). */
  get prefixDepth(): number {
    return this.prefix?.depth ?? 0;
  }

  /** Tensors created or received and not yet disposed (0 between runs, or something leaks). */
  liveTensorCount(): number {
    return this.live.size;
  }

  private track(t: Tensor): Tensor {
    this.live.add(t);
    return t;
  }

  disposeTensor(t: Tensor | undefined): void {
    if (t && this.live.delete(t)) t.dispose();
  }

  private inputs(x: Float32Array, t: number, classes: readonly number[]): Feeds {
    const { channels, height, width } = this.manifest.image;
    const batch = classes.length;
    return {
      x: this.track(new this.ort.Tensor('float32', x, [batch, channels, height, width])),
      t: this.track(new this.ort.Tensor('float32', new Float32Array(batch).fill(t), [batch])),
      y: this.track(
        new this.ort.Tensor(
          'int64',
          BigInt64Array.from(classes, (c) => BigInt(c)),
          [batch],
        ),
      ),
    };
  }

  /** Runs a session in the shared queue; outputs are tracked until disposed. `fetches`: only these outputs. */
  run(session: InferenceSession, feeds: Feeds, fetches?: string[]): Promise<Record<string, Tensor>> {
    if (this.released) return Promise.reject(new BackendError('the model was unloaded; load it again'));
    const next = this.queue.then(async () => {
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
    this.queue = next.catch(() => undefined);
    return next;
  }

  async read(t: Tensor): Promise<Float32Array> {
    const data = (await t.getData()) as Float32Array;
    return data.slice();
  }

  /**
   * A read in the run queue: it starts after every run queued before it (a speculative block
   * among them) and no run starts while it downloads.
   */
  readQueued(t: Tensor): Promise<Float32Array> {
    const next = this.queue.then(() => this.read(t));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** `speculate`: this pass queues each next block before reading an uncertainty (see above). */
  async begin(
    x: Float32Array,
    t: number,
    classes: readonly number[],
    mustRun = 1,
    speculate = this.speculate,
  ): Promise<ForwardPass> {
    const feeds = this.inputs(x, t, classes);
    const prefix = this.prefix && this.prefix.depth <= mustRun ? this.prefix : null;
    if (!prefix && mustRun < this.minimumDepth) {
      throw new BackendError(
        `a pass that may exit after ${mustRun} blocks needs the blocks the fused prefix replaces, which were not loaded`,
      );
    }
    const started = performance.now();
    let out: Record<string, Tensor>;
    try {
      out = await this.run(prefix ? prefix.session : this.embed, feeds);
    } finally {
      Object.values(feeds).forEach((f) => this.disposeTensor(f));
    }
    if (!prefix) return new SegmentPass(this, out.hidden!, out.temb!, this.blocks, this.head, speculate);
    let done: PrefixResult;
    try {
      // [batch, depth] row-major → one row per block, as runBlock reports it
      const all = await this.read(out.uncertainty!);
      const batch = classes.length;
      const uncertainties = Array.from({ length: prefix.depth }, (_, i) =>
        Float32Array.from({ length: batch }, (_, b) => all[b * prefix.depth + i]!),
      );
      const outputs = new Map<number, Tensor>(prefix.skips.map((j) => [j, out[prefixSkipOutput(j)]!]));
      done = { depth: prefix.depth, uncertainties, outputs };
    } catch (e) {
      Object.values(out).forEach((t) => this.disposeTensor(t)); // no pass will own them
      throw e;
    } finally {
      this.disposeTensor(out.uncertainty);
    }
    this.lastBlockMs.fill(0, 0, prefix.depth);
    this.lastBlockMs[prefix.depth - 1] = performance.now() - started;
    return new SegmentPass(this, out.hidden!, out.temb!, this.blocks, this.head, speculate, done);
  }

  /** The monolithic full-depth graph: what a user would run without AdaDiff. */
  async runMonolithic(x: Float32Array, t: number, classes: readonly number[]): Promise<Float32Array> {
    if (!this.monolithic)
      throw new BackendError('the monolithic graph was not loaded (create with monolithic: true)');
    const feeds = this.inputs(x, t, classes);
    try {
      const out = await this.run(this.monolithic, feeds);
      const eps = await this.read(out.eps!);
      this.disposeTensor(out.eps);
      return eps;
    } finally {
      Object.values(feeds).forEach((f) => this.disposeTensor(f));
    }
  }

  /**
   * Mean ms per run of block i (an in-block: no skip input), `runs` times on the same tokens,
   * either reading each run's uncertainty back (what the scheduler does) or fetching only the
   * tokens and reading the last of them at the end, so queued GPU work is finished either way.
   * The difference is what the per-block exit decision costs.
   */
  async timeBlock(i: number, runs: number, readUncertainty: boolean): Promise<number> {
    const session = this.blocks[i];
    if (!session || this.skipFrom(i) !== null) {
      throw new BackendError(`block ${i} is not loaded or takes a skip: time a loaded block without one`);
    }
    const { channels, height, width } = this.manifest.image;
    const pass = await this.begin(new Float32Array(channels * height * width), 500, [0], 1, false);
    const { hidden, temb } = (pass as SegmentPass).inputsOfFirstBlock();
    try {
      let last: Tensor | undefined;
      const started = performance.now();
      for (let r = 0; r < runs; r++) {
        const out = await this.run(session, { hidden, temb }, readUncertainty ? undefined : ['hidden_out']);
        if (readUncertainty) await this.read(out.uncertainty!);
        this.disposeTensor(out.uncertainty);
        this.disposeTensor(last);
        last = out.hidden_out;
      }
      if (last) await this.read(last);
      const ms = (performance.now() - started) / runs;
      this.disposeTensor(last);
      return ms;
    } finally {
      pass.dispose();
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.queue;
    for (const t of [...this.live]) this.disposeTensor(t);
    const sessions = [this.embed, ...this.blocks, this.head, this.prefix?.session, this.monolithic];
    await Promise.all(sessions.map((s) => s?.release().catch(() => undefined)));
  }

  skipFrom(i: number): number | null {
    return this.manifest.segments.blocks[i]!.skipFrom;
  }

  /** Whether block j's output is still needed after block `after` has run (as a later skip). */
  neededLater(j: number, after: number): boolean {
    for (let k = after + 1; k < this.numBlocks; k++) if (this.skipFrom(k) === j) return true;
    return false;
  }
}

/** What a fused prefix run already computed: blocks 0..depth−1. */
interface PrefixResult {
  depth: number;
  uncertainties: Float32Array[];
  /** Outputs of earlier blocks that later blocks take as skips. */
  outputs: Map<number, Tensor>;
}

class SegmentPass implements ForwardPass {
  /** Block outputs still needed: the latest (input of the next block) and pending skips. */
  private readonly outputs: Map<number, Tensor>;
  private hidden: Tensor;
  private last = -1;
  /** Blocks answered so far (== last + 1, except inside a fused prefix). */
  private answered = 0;
  /** The next block, queued before the current uncertainty was read (speculative passes). */
  private ahead: { block: number; out: Promise<Record<string, Tensor>> } | null = null;
  private disposed = false;

  constructor(
    private readonly runner: SegmentRunner,
    hidden: Tensor,
    private readonly temb: Tensor,
    private readonly blocks: (InferenceSession | null)[],
    private readonly head: InferenceSession,
    private readonly speculate: boolean,
    private readonly prefix?: PrefixResult,
  ) {
    this.hidden = hidden;
    this.outputs = prefix ? new Map(prefix.outputs) : new Map();
    if (prefix) {
      this.last = prefix.depth - 1;
      this.outputs.set(this.last, hidden);
    }
  }

  async runBlock(i: number): Promise<Float32Array> {
    if (this.disposed) throw new BackendError('forward pass already disposed');
    if (i !== this.answered)
      throw new BackendError(`blocks run in order: expected ${this.answered}, got ${i}`);
    this.answered++;
    if (this.prefix && i < this.prefix.depth) {
      if (i === this.prefix.depth - 1) this.queueAhead();
      return this.prefix.uncertainties[i]!;
    }
    const src = this.runner.skipFrom(i);
    const started = performance.now();
    let pending: Promise<Record<string, Tensor>>;
    if (this.ahead?.block === i) {
      pending = this.ahead.out;
      this.ahead = null;
    } else {
      pending = this.launch(i);
    }
    const out = await pending;
    // the previous hidden is garbage now unless a later block takes it as its skip
    if (this.last < 0) this.runner.disposeTensor(this.hidden);
    else if (!this.runner.neededLater(this.last, i)) {
      this.runner.disposeTensor(this.outputs.get(this.last));
      this.outputs.delete(this.last);
    }
    if (src !== null && !this.runner.neededLater(src, i)) {
      this.runner.disposeTensor(this.outputs.get(src));
      this.outputs.delete(src);
    }
    this.hidden = out.hidden_out!;
    this.outputs.set(i, this.hidden);
    this.last = i;
    this.queueAhead();
    try {
      return this.ahead
        ? await this.runner.readQueued(out.uncertainty!)
        : await this.runner.read(out.uncertainty!);
    } finally {
      this.runner.disposeTensor(out.uncertainty);
      this.runner.lastBlockMs[i] = performance.now() - started;
    }
  }

  /** Queues block i on the latest tokens (and its skip); the run is not awaited here. */
  private launch(i: number): Promise<Record<string, Tensor>> {
    const session = this.blocks[i];
    if (!session) throw new BackendError(`block ${i} was not loaded (the fused prefix replaces it)`);
    const feeds: Feeds = { hidden: this.hidden, temb: this.temb };
    const src = this.runner.skipFrom(i);
    if (src !== null) feeds.skip = this.outputs.get(src)!;
    return this.runner.run(session, feeds);
  }

  private queueAhead(): void {
    const next = this.last + 1;
    if (!this.speculate || next >= this.blocks.length || this.ahead) return;
    const out = this.launch(next);
    out.catch(() => undefined); // awaited by runBlock or dropped by discardAhead
    this.ahead = { block: next, out };
  }

  /** Throws the speculative block away once its run is done (its outputs are ours to free). */
  private async discardAhead(): Promise<void> {
    const ahead = this.ahead;
    this.ahead = null;
    if (!ahead) return;
    try {
      const out = await ahead.out;
      for (const t of Object.values(out)) this.runner.disposeTensor(t);
    } catch {
      // a failed speculative run has nothing to free, and the pass did not need it
    }
  }

  /** The embedded tokens and timestep embedding, before any block ran (for timing a block). */
  inputsOfFirstBlock(): { hidden: Tensor; temb: Tensor } {
    if (this.answered !== 0) throw new BackendError('blocks already ran in this pass');
    return { hidden: this.hidden, temb: this.temb };
  }

  async exit(): Promise<Float32Array> {
    if (this.answered === 0) throw new BackendError('exit before any block ran');
    if (this.answered - 1 !== this.last) {
      throw new BackendError(
        `exit at block ${this.answered - 1} inside the fused prefix (begin with a lower mustRun)`,
      );
    }
    const run = this.runner.run(this.head, { hidden: this.hidden });
    await this.discardAhead(); // queued before the head, so it is done first
    const out = await run;
    const eps = await this.runner.read(out.eps!);
    this.runner.disposeTensor(out.eps);
    return eps;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const free = () => {
      for (const t of this.outputs.values()) this.runner.disposeTensor(t);
      this.outputs.clear();
      this.runner.disposeTensor(this.hidden);
      this.runner.disposeTensor(this.temb);
    };
    // a pass abandoned mid-way (cancelled) may have a block queued that still reads our tokens
    if (this.ahead) void this.discardAhead().then(free);
    else free();
  }
}
