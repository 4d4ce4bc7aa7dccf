/**
 * `adadiff eval`: quality through the TypeScript runtime users run. N samples per class at full
 * depth and at each θ (same seeds), judged by the exporter's independent classifier: class
 * agreement, FID in its feature space against the test set, PSNR against full depth, blocks
 * saved. Optionally writes the calibration and the default θ into the model's manifest.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import type * as OrtModule from 'onnxruntime-web';
import {
  addTotals,
  emptyTotals,
  generate,
  resolveParams,
  type CalibrationRow,
  type Denoiser,
  type GenerateParams,
  type Manifest,
} from '../runtime';

export interface EvalRow extends Required<Omit<CalibrationRow, 'psnr' | 'mode'>> {
  /** What ran: 'full depth', 'θ=0.025', 'static depth 9', 'switch t > 800 → depth 5', … */
  label: string;
  mode: GenerateParams['mode'];
  psnr: number | null;
  samples: number;
}

/** One configuration to evaluate against full depth: the adaptive θ sweep, or a static baseline. */
export interface EvalConfig {
  label: string;
  /** θ for adaptive rows; null for the baselines, which have none. */
  threshold: number | null;
  params: Partial<GenerateParams>;
}

/** The quality a default θ must keep against full depth (issue #6: 2 points, 1.10× FID). */
export interface QualityBound {
  maxAgreementDrop: number;
  maxFidRatio: number;
}

export interface EvalDefault {
  threshold: number;
  savedFraction: number;
  agreement: number;
  agreementFull: number;
  fid: number;
  fidFull: number;
  /** Whether this θ keeps the bound; false only when no evaluated θ did and the manifest's was kept. */
  withinBound: boolean;
  /** 'bound': the largest saving within the bound; 'kept': none was, so the manifest's θ stays. */
  chosenBy: 'bound' | 'kept';
}

export interface EvalReport {
  model: string;
  perClass: number;
  steps: number;
  guidance: number;
  bound: QualityBound;
  rows: EvalRow[];
  /** The default θ's figures; null when only a baseline ran (no θ to choose). */
  default: EvalDefault | null;
}

function withinBound(r: EvalRow, full: EvalRow, bound: QualityBound): boolean {
  return r.agreement >= full.agreement - bound.maxAgreementDrop && r.fid <= full.fid * bound.maxFidRatio;
}

/**
 * The default θ: the largest saving among the exits within the bound. When none is, no default is
 * chosen and the manifest's own θ stays, reported as outside the bound, so the figures say what
 * the default costs rather than hiding it (tools/export choose-default's rule, for a new export the
 * config's θ). Full depth would be the literal answer, but writing it would quietly turn the
 * adaptive generator off.
 */
export function chooseDefault(rows: EvalRow[], manifestThreshold: number, bound: QualityBound): EvalDefault {
  const full = rows.find((r) => r.mode === 'full');
  if (!full) throw new Error('eval rows lack the full-depth row');
  const ok = rows.filter((r) => r.mode === 'adaptive' && withinBound(r, full, bound));
  const best = ok.reduce<EvalRow | undefined>(
    (a, r) => (!a || r.savedFraction > a.savedFraction ? r : a),
    undefined,
  );
  const kept = rows.find((r) => r.mode === 'adaptive' && r.threshold === manifestThreshold) ?? full;
  const row = best ?? kept;
  return {
    threshold: row.threshold,
    savedFraction: row.savedFraction,
    agreement: row.agreement,
    agreementFull: full.agreement,
    fid: row.fid,
    fidFull: full.fid,
    withinBound: withinBound(row, full, bound),
    chosenBy: best ? 'bound' : 'kept',
  };
}

interface Reference {
  testAccuracy: number;
  testFeatureMean: number[];
  testFeatureCov: number[][];
}

function covariance(rows: Float64Array[]): { mean: number[]; cov: Matrix } {
  const n = rows.length;
  const d = rows[0]!.length;
  const mean = new Array<number>(d).fill(0);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j]! += r[j]! / n;
  const centred = new Matrix(rows.map((r) => Array.from(r, (v, j) => v - mean[j]!)));
  return {
    mean,
    cov: centred
      .transpose()
      .mmul(centred)
      .div(n - 1),
  };
}

function symmetricSqrt(m: Matrix): Matrix {
  const e = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  const v = e.eigenvectorMatrix;
  const roots = e.realEigenvalues.map((x) => Math.sqrt(Math.max(x, 0)));
  return v.mmul(Matrix.diag(roots)).mmul(v.transpose());
}

/** Fréchet distance between two Gaussians: ‖μ1−μ2‖² + Tr(Σ1 + Σ2 − 2(Σ1Σ2)^½). */
export function frechetDistance(mu1: number[], cov1: Matrix, mu2: number[], cov2: Matrix): number {
  const s1 = symmetricSqrt(cov1);
  const inner = new EigenvalueDecomposition(s1.mmul(cov2).mmul(s1), { assumeSymmetric: true });
  const trSqrt = inner.realEigenvalues.reduce((a, x) => a + Math.sqrt(Math.max(x, 0)), 0);
  const diff = mu1.reduce((a, v, i) => a + (v - mu2[i]!) ** 2, 0);
  return diff + cov1.trace() + cov2.trace() - 2 * trSqrt;
}

/** PSNR against the manifest's value range (peak-to-peak `span`). */
function psnr(a: Float32Array, b: Float32Array, span: number): number {
  let sq = 0;
  for (let i = 0; i < a.length; i++) sq += (a[i]! - b[i]!) ** 2;
  const mse = sq / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((span * span) / mse);
}

export async function runEval(
  ort: typeof OrtModule,
  denoiser: Denoiser,
  manifest: Manifest,
  opts: {
    classifierDir: string;
    perClass: number;
    steps: number;
    /** Rows to run after full depth: adaptive θs, or a baseline (see adaptiveSweep). */
    configs: EvalConfig[];
    /** Settings every row but full depth runs with (e.g. the guidance schedule off). */
    common?: Partial<GenerateParams>;
    bound: QualityBound;
    onProgress?: (s: string) => void;
  },
): Promise<EvalReport> {
  const classifier = await ort.InferenceSession.create(
    new Uint8Array(await readFile(path.join(opts.classifierDir, 'classifier.onnx'))),
  );
  const ref = JSON.parse(
    await readFile(path.join(opts.classifierDir, 'classifier.json'), 'utf8'),
  ) as Reference;
  const refCov = new Matrix(ref.testFeatureCov);
  const { channels, height, width } = manifest.image;
  const size = channels * height * width;
  const numClasses = manifest.classes.length;
  const fullImages: Float32Array[] = [];
  const span = manifest.image.valueRange[1] - manifest.image.valueRange[0];
  const rows: EvalRow[] = [];
  try {
    // 'full' runs both passes at every step, whatever `common` says: the reference
    const reference: EvalConfig = { label: 'full depth', threshold: null, params: { mode: 'full' } };
    for (const config of [reference, ...opts.configs]) {
      const images: Float32Array[] = [];
      const totals = emptyTotals();
      const isFull = config === reference;
      for (let c = 0; c < numClasses; c++) {
        for (let i = 0; i < opts.perClass; i++) {
          const params = resolveParams(manifest, {
            ...(isFull ? {} : opts.common),
            ...config.params,
            classIndex: c,
            // image k (class-major) from seed 1000 + k: `evaluate --noise runtime` draws the same
            seed: 1000 + c * opts.perClass + i,
            steps: opts.steps,
          });
          const r = await generate(denoiser, manifest, params);
          images.push(r.image);
          addTotals(totals, r.totals);
        }
      }
      if (isFull) fullImages.push(...images);
      const batch = new Float32Array(images.length * size);
      images.forEach((img, i) => batch.set(img, i * size));
      const out = await classifier.run({
        image: new ort.Tensor('float32', batch, [images.length, channels, height, width]),
      });
      const logits = out.logits!.data as Float32Array;
      const feats = out.features!.data as Float32Array;
      const d = feats.length / images.length;
      let agree = 0;
      const featRows: Float64Array[] = [];
      images.forEach((_, i) => {
        const l = logits.subarray(i * numClasses, (i + 1) * numClasses);
        if (l.indexOf(Math.max(...l)) === Math.floor(i / opts.perClass)) agree++;
        featRows.push(Float64Array.from(feats.subarray(i * d, (i + 1) * d)));
      });
      const { mean, cov } = covariance(featRows);
      const row: EvalRow = {
        label: config.label,
        mode: config.params.mode ?? 'adaptive',
        threshold: config.threshold ?? 0,
        savedFraction: totals.savedFraction,
        savedByExits: totals.savedByExits,
        savedBySchedule: totals.savedBySchedule,
        savedByFixedDepth: totals.savedByFixedDepth,
        agreement: agree / images.length,
        fid: frechetDistance(mean, cov, ref.testFeatureMean, refCov),
        psnr: isFull
          ? null
          : images.reduce((a, img, i) => a + psnr(img, fullImages[i]!, span), 0) / images.length,
        samples: images.length,
      };
      rows.push(row);
      opts.onProgress?.(`${JSON.stringify(row)}\n`);
    }
  } finally {
    await classifier.release();
  }
  const adaptive = rows.some((r) => r.mode === 'adaptive');
  return {
    model: manifest.id,
    perClass: opts.perClass,
    steps: opts.steps,
    guidance: manifest.defaults.guidance,
    bound: opts.bound,
    rows,
    default: adaptive ? chooseDefault(rows, manifest.defaults.threshold, opts.bound) : null,
  };
}

/**
 * The adaptive rows for a list of θs. The manifest's θ always runs: if no θ keeps the bound it
 * stays the default, and the report must give its figures.
 */
export function adaptiveSweep(thresholds: number[], manifestThreshold: number): EvalConfig[] {
  return [...new Set([...thresholds, manifestThreshold])]
    .sort((a, b) => a - b)
    .map((t) => ({ label: `θ=${t}`, threshold: t, params: { mode: 'adaptive', threshold: t } }));
}
