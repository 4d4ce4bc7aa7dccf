/** Reads the tensors tools/export wrote (fixtures.json index + fixtures.bin little-endian data). */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const MODEL_ID = 'fmnist-uvit13';
export const MODEL_DIR = path.resolve('public/models', process.env.ADADIFF_TEST_MODEL ?? MODEL_ID);
export const FIXTURE_DIR = path.resolve('test/fixtures', process.env.ADADIFF_TEST_MODEL ?? MODEL_ID);

interface TensorEntry {
  dtype: 'float32' | 'int64';
  dims: number[];
  offset: number;
  bytes: number;
}

export interface TraceRecord {
  t: number;
  exit_cond: number[];
  unc_cond: number[][];
  exit_uncond?: number[];
  unc_uncond?: number[][];
  /** The step reused the last unconditional estimate (no unconditional pass ran). */
  uncond_reused?: boolean;
  /** The step was outside the guidance interval: the conditional pass alone. */
  unguided?: boolean;
}

export interface Fixtures {
  model: string;
  sampling: {
    seed: number;
    class: number;
    steps: number;
    guidance: number;
    sampler: 'ddim' | 'dpmpp2m' | 'ddpm';
    eta: number;
    /** Absent in fixtures written before the exporter recorded it: 1. */
    minDepth?: number;
    /** Absent in fixtures written before the exporter recorded it: separate. */
    batching?: 'separate' | 'weighted' | 'shallow' | 'all';
    runs: Record<
      'full' | 'adaptive',
      {
        /** 'full': the reference (every block of both passes at every step); 'adaptive': exits at θ. */
        mode: 'full' | 'adaptive';
        threshold: number;
        /** Absent in fixtures written before the exporter recorded it: 1. */
        uncondEvery?: number;
        /** Absent in fixtures written before the exporter recorded it; null: every step guided. */
        guidanceMaxT?: number | null;
        trace: TraceRecord[];
      }
    >;
  };
  tensors: Record<string, TensorEntry>;
}

export function readFixtures(dir = FIXTURE_DIR) {
  const meta = JSON.parse(readFileSync(path.join(dir, 'fixtures.json'), 'utf8')) as Fixtures;
  const bin = readFileSync(path.join(dir, 'fixtures.bin'));
  const f32 = (name: string): Float32Array => {
    const e = meta.tensors[name];
    if (!e || e.dtype !== 'float32') throw new Error(`fixture ${name} missing or not float32`);
    return new Float32Array(bin.buffer.slice(bin.byteOffset + e.offset, bin.byteOffset + e.offset + e.bytes));
  };
  const i64 = (name: string): number[] => {
    const e = meta.tensors[name];
    if (!e || e.dtype !== 'int64') throw new Error(`fixture ${name} missing or not int64`);
    const view = new BigInt64Array(
      bin.buffer.slice(bin.byteOffset + e.offset, bin.byteOffset + e.offset + e.bytes),
    );
    return Array.from(view, Number);
  };
  return { meta, f32, i64, dims: (name: string) => meta.tensors[name]!.dims };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
