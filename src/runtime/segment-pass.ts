/**
 * The plain forward pass over a model's segments: each block runs when the scheduler asks, and its
 * uncertainty is read at once. Strategies (speculative-pass.ts) extend it.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-web';
import type { ForwardPass } from './denoiser';
import { BackendError } from './errors';
import type { Feeds, OrtExecutor } from './executor';

/** What a fused prefix run already computed: blocks 0..depth−1. */
export interface PrefixResult {
  depth: number;
  uncertainties: Float32Array[];
  /** Outputs of earlier blocks that later blocks take as skips. */
  outputs: Map<number, Tensor>;
}

/** What a pass needs of the model it runs on (the SegmentRunner). */
export interface PassHost {
  readonly executor: OrtExecutor;
  readonly head: InferenceSession;
  readonly numBlocks: number;
  /** A block's session, or null where it is not made yet (awaitBlock) or not loaded. */
  blockSession(i: number): InferenceSession | null;
  awaitBlock(i: number): Promise<InferenceSession>;
  skipFrom(i: number): number | null;
  blockFeeds(i: number, hidden: Tensor, temb: Tensor, skip?: Tensor): Feeds;
  neededLater(j: number, after: number): boolean;
}

/** A forward pass that runs each block when asked and reads its uncertainty at once. */
export class SegmentPass implements ForwardPass {
  /** Block outputs still needed: the latest (input of the next block) and pending skips. */
  protected readonly outputs: Map<number, Tensor>;
  protected hidden: Tensor;
  protected last = -1;
  /** Blocks answered so far (== last + 1, except inside a fused prefix). */
  protected answered = 0;
  protected disposed = false;

  constructor(
    protected readonly runner: PassHost,
    hidden: Tensor,
    protected readonly temb: Tensor,
    protected readonly prefix?: PrefixResult,
  ) {
    this.hidden = hidden;
    this.outputs = prefix ? new Map(prefix.outputs) : new Map();
    if (prefix) {
      this.last = prefix.depth - 1;
      this.outputs.set(this.last, hidden);
    }
  }

  protected get exec(): OrtExecutor {
    return this.runner.executor;
  }

  async runBlock(i: number): Promise<Float32Array> {
    if (this.disposed) throw new BackendError('forward pass already disposed');
    if (i !== this.answered)
      throw new BackendError(`blocks run in order: expected ${this.answered}, got ${i}`);
    this.answered++;
    if (this.prefix && i < this.prefix.depth) {
      this.afterPrefixBlock(i);
      return this.prefix.uncertainties[i]!;
    }
    const out = await this.outputsOf(i);
    this.advance(i, out.hidden_out!);
    try {
      return await this.readUncertainty(out.uncertainty!);
    } finally {
      this.exec.dispose(out.uncertainty);
    }
  }

  /** Hook for strategies that act once the prefix's blocks have been answered. */
  protected afterPrefixBlock(_i: number): void {}

  /** Block i's outputs: run now. */
  protected outputsOf(i: number): Promise<Record<string, Tensor>> {
    return this.launch(i);
  }

  protected readUncertainty(t: Tensor): Promise<Float32Array> {
    return this.exec.read(t);
  }

  /** Block i ran: its tokens are the latest, and what no later block takes as a skip is freed. */
  protected advance(i: number, hidden: Tensor): void {
    const src = this.runner.skipFrom(i);
    if (this.last < 0) this.exec.dispose(this.hidden);
    else if (!this.runner.neededLater(this.last, i)) {
      this.exec.dispose(this.outputs.get(this.last));
      this.outputs.delete(this.last);
    }
    if (src !== null && !this.runner.neededLater(src, i)) {
      this.exec.dispose(this.outputs.get(src));
      this.outputs.delete(src);
    }
    this.hidden = hidden;
    this.outputs.set(i, hidden);
    this.last = i;
  }

  /**
   * Queues block i on the latest tokens (and its skip); the run is not awaited here. A block whose
   * session is still being made (its file still downloading) runs once it exists.
   */
  protected launch(i: number): Promise<Record<string, Tensor>> {
    const src = this.runner.skipFrom(i);
    const feeds = this.runner.blockFeeds(
      i,
      this.hidden,
      this.temb,
      src === null ? undefined : this.outputs.get(src),
    );
    const session = this.runner.blockSession(i);
    if (session) return this.exec.run(session, feeds);
    return this.runner.awaitBlock(i).then((s) => this.exec.run(s, feeds));
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
    const run = this.exec.run(this.runner.head, { hidden: this.hidden });
    await this.beforeHead();
    const out = await run;
    const eps = await this.exec.read(out.eps!);
    this.exec.dispose(out.eps);
    return eps;
  }

  /** Hook for strategies with work queued before the head (it is done first). */
  protected async beforeHead(): Promise<void> {}

  protected free(): void {
    for (const t of this.outputs.values()) this.exec.dispose(t);
    this.outputs.clear();
    this.exec.dispose(this.hidden);
    this.exec.dispose(this.temb);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.free();
  }
}
