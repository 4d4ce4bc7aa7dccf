/**
 * Graph capture on WebGPU, measured before it is trusted. With `enableGraphCapture` ONNX Runtime
 * records a session's GPU commands on its first run and replays them afterwards, which saves the
 * per-kernel CPU work of every later run — but only if the replay computes what an ordinary run
 * does. It reads and writes the same GPU buffers every time (bound on the first run), so this
 * probe owns fixed input and output buffers, writes each new input into them, and compares every
 * replay with an ordinary (eager) run of the same block on the same input. Then it times both,
 * each run reading its uncertainty back as the scheduler does.
 *
 * The probe takes any onnxruntime-web build, so a benchmark can ask each WebGPU implementation
 * (the native WebGPU EP and the older JSEP) the same question. It needs WebGPU: call it only
 * where `navigator.gpu` exists.
 */
import type { InferenceSession } from 'onnxruntime-web';
import { messageOf, Mulberry32, normals, type Ort } from '../runtime';
import { median } from './stats';

export interface GraphCaptureProbe {
  /** Which onnxruntime-web build ran it. */
  build: string;
  block: number;
  batch: number;
  /** Inputs compared (each replayed once after the capturing run). */
  cases: number;
  /** Largest finite |captured − eager| over every output element of every case (null: it failed). */
  maxAbsDiff: number | null;
  /** Whether some replayed element was NaN or infinite where the eager run's was not. */
  nonFinite: boolean;
  /** Whether every replay matched its eager run (within 1e-5). */
  matches: boolean;
  /** ms per run, medians of interleaved rounds (null: not timed, the replays did not match). */
  eagerMs: number | null;
  capturedMs: number | null;
  runs: number;
  /** Why the probe stopped, if it did. */
  error?: string;
}

export interface GraphCaptureOptions {
  build: string;
  /** The block segment's ONNX bytes; it must take only `hidden` and `temb` (no skip). */
  block: Uint8Array;
  blockIndex: number;
  tokens: number;
  width: number;
  batch?: number;
  cases?: number;
  /** Runs per timing round, and rounds (interleaved eager / captured; the first is a warm-up). */
  runs?: number;
  rounds?: number;
}

const TOLERANCE = 1e-5;

export async function probeGraphCapture(ort: Ort, o: GraphCaptureOptions): Promise<GraphCaptureProbe> {
  const batch = o.batch ?? 2;
  const cases = o.cases ?? 4;
  const runs = o.runs ?? 20;
  const rounds = o.rounds ?? 4;
  const result: GraphCaptureProbe = {
    build: o.build,
    block: o.blockIndex,
    batch,
    cases,
    maxAbsDiff: null,
    nonFinite: false,
    matches: false,
    eagerMs: null,
    capturedMs: null,
    runs,
  };
  const hiddenDims = [batch, o.tokens, o.width];
  const hiddenSize = batch * o.tokens * o.width;
  const tembSize = batch * o.width;
  const sessions: InferenceSession[] = [];
  const buffers: GPUBuffer[] = [];
  try {
    const open = async (options: InferenceSession.SessionOptions) => {
      const s = await ort.InferenceSession.create(o.block, {
        executionProviders: ['webgpu'],
        logSeverityLevel: 3,
        ...options,
      });
      sessions.push(s);
      return s;
    };
    const eager = await open({
      preferredOutputLocation: { hidden_out: 'gpu-buffer', uncertainty: 'gpu-buffer' },
    });
    // replays need one shape: the batch is pinned so no dimension is left free
    const captured = await open({ enableGraphCapture: true, freeDimensionOverrides: { batch } });
    const device = (await ort.env.webgpu.device) as GPUDevice;
    // WebGPU binds whole 16-byte words: a 2-float uncertainty buffer would be too small to replay
    const buffer = (floats: number, usage: number) => {
      const b = device.createBuffer({ size: Math.ceil((floats * 4) / 16) * 16, usage });
      buffers.push(b);
      return b;
    };
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const fixed = {
      hidden: buffer(hiddenSize, storage),
      temb: buffer(tembSize, storage),
      hiddenOut: buffer(hiddenSize, storage),
      uncertainty: buffer(batch, storage),
    };
    const feeds = {
      hidden: ort.Tensor.fromGpuBuffer(fixed.hidden, { dataType: 'float32', dims: hiddenDims }),
      temb: ort.Tensor.fromGpuBuffer(fixed.temb, { dataType: 'float32', dims: [batch, o.width] }),
    };
    const fetches = {
      hidden_out: ort.Tensor.fromGpuBuffer(fixed.hiddenOut, { dataType: 'float32', dims: hiddenDims }),
      uncertainty: ort.Tensor.fromGpuBuffer(fixed.uncertainty, { dataType: 'float32', dims: [batch] }),
    };
    const read = async (source: GPUBuffer, floats: number) => {
      const bytes = Math.ceil((floats * 4) / 16) * 16;
      const staging = device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      try {
        const encoder = device.createCommandEncoder();
        encoder.copyBufferToBuffer(source, 0, staging, 0, bytes);
        device.queue.submit([encoder.finish()]);
        await staging.mapAsync(GPUMapMode.READ);
        return new Float32Array(staging.getMappedRange().slice(0, floats * 4));
      } finally {
        staging.destroy();
      }
    };

    // transformer-scale activations: seeded normals for the tokens and the timestep embedding
    const rng = new Mulberry32(1234);
    const inputs = Array.from({ length: cases + 1 }, () => ({
      hidden: normals(rng, hiddenSize),
      temb: normals(rng, tembSize),
    }));
    let maxAbsDiff = 0;
    // input 0 is the capturing run; the comparison is about the replays after it
    for (const [i, input] of inputs.entries()) {
      device.queue.writeBuffer(fixed.hidden, 0, input.hidden);
      device.queue.writeBuffer(fixed.temb, 0, input.temb);
      await captured.run(feeds, fetches);
      if (i === 0) continue;
      const got = [await read(fixed.hiddenOut, hiddenSize), await read(fixed.uncertainty, batch)];
      const ref = await eager.run({
        hidden: new ort.Tensor('float32', input.hidden, hiddenDims),
        temb: new ort.Tensor('float32', input.temb, [batch, o.width]),
      });
      const want = [
        (await ref.hidden_out!.getData()) as Float32Array,
        (await ref.uncertainty!.getData()) as Float32Array,
      ];
      Object.values(ref).forEach((t) => t.dispose());
      for (const [k, w] of want.entries()) {
        const g = got[k]!;
        for (let j = 0; j < w.length; j++) {
          const d = Math.abs(g[j]! - w[j]!);
          if (Number.isFinite(d)) maxAbsDiff = Math.max(maxAbsDiff, d);
          else result.nonFinite = true;
        }
      }
    }
    result.maxAbsDiff = maxAbsDiff;
    result.matches = !result.nonFinite && maxAbsDiff <= TOLERANCE;
    if (!result.matches) return result; // a wrong replay is not worth timing

    const eagerTimes: number[] = [];
    const capturedTimes: number[] = [];
    for (let round = 0; round < rounds; round++) {
      let started = performance.now();
      for (let r = 0; r < runs; r++) {
        // the same fixed input buffers: both sessions time the same work
        const out = await eager.run(feeds);
        await read(out.uncertainty!.gpuBuffer, batch);
        Object.values(out).forEach((t) => t.dispose());
      }
      const e = (performance.now() - started) / runs;
      started = performance.now();
      for (let r = 0; r < runs; r++) {
        await captured.run(feeds, fetches);
        await read(fixed.uncertainty, batch);
      }
      const c = (performance.now() - started) / runs;
      if (round > 0) {
        eagerTimes.push(e);
        capturedTimes.push(c);
      }
    }
    result.eagerMs = median(eagerTimes);
    result.capturedMs = median(capturedTimes);
  } catch (e) {
    result.error = messageOf(e);
  } finally {
    await Promise.all(sessions.map((s) => s.release().catch(() => undefined)));
    buffers.forEach((b) => b.destroy());
  }
  return result;
}
