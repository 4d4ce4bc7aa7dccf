/**
 * The contract between the adaptive scheduler and whatever runs the network: begin a forward
 * pass, run blocks one at a time reading back only their uncertainty, exit through the head.
 * The ONNX Runtime segment runner implements it; tests script it.
 */
export interface ForwardPass {
  /** Runs block i (blocks run in order) and returns each sample's mean uncertainty. */
  runBlock(i: number): Promise<Float32Array>;
  /** The shared head on the latest block's tokens: ε for every sample, [batch·C·H·W]. */
  exit(): Promise<Float32Array>;
  /** Frees every tensor the pass still holds; safe to call twice. */
  dispose(): void;
}

export interface Denoiser {
  readonly numBlocks: number;
  /**
   * Blocks every pass must run (absent: 1): a model loaded without the blocks its fused prefix
   * replaces cannot exit inside the prefix.
   */
  readonly minimumDepth?: number;
  /**
   * Embeds a batch: x [batch·C·H·W], one timestep for all, one class per sample. `mustRun`: how
   * many blocks this pass will run whatever the uncertainties say (the policy's minimum), so an
   * implementation may run them fused; runBlock still answers for each of them.
   */
  begin(x: Float32Array, t: number, classes: readonly number[], mustRun?: number): Promise<ForwardPass>;
}
