import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.{ts,tsx}'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // the model tests load ONNX sessions; one file at a time keeps a 2-core machine responsive
    fileParallelism: false,
  },
});
