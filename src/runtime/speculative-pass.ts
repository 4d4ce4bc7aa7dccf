/**
 * Speculation, a pass strategy of its own, off by default. Reading an uncertainty back waits for
 * the device, which then idles while the exit decision travels to JS and the next block is
 * dispatched. A speculative pass queues block i+1 before it reads block i's uncertainty, so the
 * device always has the next block; on exit that block is thrown away. That pays only where a GPU
 * works beside the CPU. Measured here it costs: +10 % per image on wasm (a run holds the thread,
 * nothing overlaps) and +11 % on WebGPU through SwiftShader (the "GPU" is the same two cores), so
 * it stays off until `adadiff bench --browser --backend webgpu` shows a gain on a hardware
 * adapter; no real GPU has measured it yet.
 */
import type { Tensor } from 'onnxruntime-web';
import { SegmentPass } from './segment-pass';

export class SpeculativePass extends SegmentPass {
  /** The next block, queued before the current uncertainty was read. */
  private ahead: { block: number; out: Promise<Record<string, Tensor>> } | null = null;

  protected override afterPrefixBlock(i: number): void {
    if (this.prefix && i === this.prefix.depth - 1) this.queueAhead();
  }

  protected override outputsOf(i: number): Promise<Record<string, Tensor>> {
    if (this.ahead?.block === i) {
      const out = this.ahead.out;
      this.ahead = null;
      return out;
    }
    return this.launch(i);
  }

  protected override advance(i: number, hidden: Tensor): void {
    super.advance(i, hidden);
    this.queueAhead();
  }

  /** With the next block queued, the read waits its turn in the queue (and blocks nothing after it). */
  protected override readUncertainty(t: Tensor): Promise<Float32Array> {
    return this.ahead ? this.exec.readQueued(t) : this.exec.read(t);
  }

  private queueAhead(): void {
    const next = this.last + 1;
    // a block still downloading would hold up an exit here until it is in: run it only if asked
    if (next >= this.runner.numBlocks || this.ahead || !this.runner.blockSession(next)) return;
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
      for (const t of Object.values(out)) this.exec.dispose(t);
    } catch {
      // a failed speculative run has nothing to free, and the pass did not need it
    }
  }

  protected override beforeHead(): Promise<void> {
    return this.discardAhead();
  }

  override dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // a pass abandoned mid-way (cancelled) may have a block queued that still reads our tokens
    if (this.ahead) void this.discardAhead().then(() => this.free());
    else this.free();
  }
}
