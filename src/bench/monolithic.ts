/**
 * The monolithic full-depth graph behind the Denoiser interface, so benchmarks run it through the
 * same sampling loop: one session run per pass, no per-block reads — what a user would run without
 * AdaDiff. Use it with mode 'full' (it never offers an early exit).
 */
import type { Denoiser, ForwardPass, SegmentRunner } from '../runtime';

export function monolithicDenoiser(runner: SegmentRunner): Denoiser {
  return {
    numBlocks: runner.numBlocks,
    async begin(x, t, classes): Promise<ForwardPass> {
      const eps = await runner.runMonolithic(x, t, classes);
      const never = new Float32Array(classes.length).fill(1);
      return {
        runBlock: async () => never,
        exit: async () => eps,
        dispose: () => undefined,
      };
    },
  };
}
