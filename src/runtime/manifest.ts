/**
 * manifest.json: what a model directory holds and how its segments chain. Validated field by
 * field; an error names the file and the field, never "undefined is not a function" later.
 */
import { z } from 'zod';
import { ManifestError } from './errors';
import { PASS_BATCHINGS } from './batching';
import format from './manifest-format.json';
import { SAMPLERS, type SamplerName } from './samplers';
import { EXIT_RULES } from './exit-rule';

/** The version this runtime reads; tools/export writes it from the same file. */
export const FORMAT_VERSION: number = format.formatVersion;
const MANIFEST = 'manifest.json';

const ioSpec = z.object({
  name: z.string().min(1),
  type: z.enum(['float32', 'int64']),
  dims: z.array(z.union([z.string(), z.number().int().positive()])),
});

const isRelativePath = (p: string) => !p.includes('..') && !p.startsWith('/') && !/^[a-z]+:/i.test(p);

const fileSpec = z.object({
  path: z.string().min(1).refine(isRelativePath, 'must be a relative path'),
  bytes: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  flops: z.number().nonnegative(),
  inputs: z.array(ioSpec).min(1),
  outputs: z.array(ioSpec).min(1),
});

const blockSpec = fileSpec.extend({ skipFrom: z.number().int().nonnegative().nullable() });
/** Embed and the first `depth` blocks fused into one graph, for passes that cannot exit sooner. */
const prefixSpec = fileSpec.extend({ depth: z.number().int().min(2) });

const calibrationRow = z.object({
  /** 'full': the reference every saving is counted against (every block of both passes at every step). */
  mode: z.literal('full').optional(),
  /** θ of an adaptive row (absent mode); 0 in the reference row. */
  threshold: z.number().min(0).max(1),
  savedFraction: z.number().min(0).max(1),
  /** savedFraction by source (Totals): the exits' share is what θ buys; the others come at any θ. */
  savedByExits: z.number().min(0).max(1).optional(),
  savedBySchedule: z.number().min(0).max(1).optional(),
  savedByFixedDepth: z.number().min(0).max(1).optional(),
  agreement: z.number().min(0).max(1).optional(),
  fid: z.number().nonnegative().optional(),
  psnr: z.number().optional(),
  /** Images the row was measured on, so that a figure can say what it rests on. */
  samples: z.number().int().positive().optional(),
});

export const manifestSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be letters, digits, dot, dash or underscore'),
  name: z.string(),
  image: z.object({
    channels: z.number().int().positive(),
    height: z.number().int().positive(),
    width: z.number().int().positive(),
    valueRange: z.tuple([z.number(), z.number()]),
  }),
  /** The class names, in label order; none: an unconditional model (no y input, no guidance). */
  classes: z.array(z.string()),
  /** The label of the unconditional guidance pass (= classes.length); absent with no classes. */
  nullClass: z.number().int().nonnegative().optional(),
  /** What the model was trained on, and the held-out split its quality was measured against. */
  data: z
    .object({
      /** A short name for files: tools/export/judges/<id> holds the classifier that judges it. */
      id: z.string().regex(/^[A-Za-z0-9._ -]+$/, 'must be a plain file name'),
      name: z.string(),
      /** How the held-out split was made; absent when not known (a checkpoint trained elsewhere). */
      split: z
        .object({
          rule: z.string(),
          train: z.number().int().nonnegative(),
          heldout: z.number().int().nonnegative(),
        })
        .optional(),
      attribution: z.string().optional(),
    })
    .optional(),
  /** The noise schedule: discrete DDPM steps, or the official AdaDiff code's continuous VP-SDE (noise-schedule.ts). */
  schedule: z.discriminatedUnion('type', [
    z.object({
      type: z.literal('ddpm-linear'),
      numTimesteps: z.number().int().positive(),
      betaStart: z.number().positive().lt(1),
      betaEnd: z.number().positive().lt(1),
      predicts: z.literal('epsilon'),
    }),
    z.object({
      type: z.literal('vp-continuous'),
      betaMin: z.number().positive(),
      betaMax: z.number().positive(),
      /** The network is fed timeScale·s for continuous time s (999·s in the official code). */
      timeScale: z.number().positive(),
      /** The last sampling step's s (the official Euler–Maruyama grid ends at 1e-3). */
      tMin: z.number().positive().lt(1),
      predicts: z.literal('epsilon'),
    }),
  ]),
  /**
   * How blocks decide to exit. head 'uem': AdaDiff's timestep-aware uncertainty module (the paper's);
   * 'lte': the official AdaDiff code's certainty head, whose block graphs output 1 − its mean
   * certainty, so that one θ reads both. rule 'first': the first block at or after the minimum
   * depth whose mean uncertainty is at most θ; 'official': the official code's (exit-rule.ts).
   */
  exit: z.object({
    head: z.enum(['uem', 'lte']),
    rule: z.enum(EXIT_RULES),
    /** An imported official checkpoint's threshold as its authors ran it: a certainty (θ = 1 − it). */
    officialCertainty: z.number().gt(0).lt(1).optional(),
  }),
  architecture: z.object({
    type: z.literal('uvit'),
    embedDim: z.number().int().positive(),
    tokens: z.number().int().positive(),
    extraTokens: z.number().int().nonnegative(),
    patchSize: z.number().int().positive(),
    numBlocks: z.number().int().positive(),
    numInBlocks: z.number().int().nonnegative(),
    /** Every weight of the model, exit heads included (what "a 44 M model" counts). */
    parameters: z.number().int().positive().optional(),
  }),
  segments: z.object({
    embed: fileSpec,
    blocks: z.array(blockSpec).min(1),
    head: fileSpec,
    prefix: prefixSpec.optional(),
  }),
  baselines: z.object({ monolithic: fileSpec.optional() }).optional(),
  defaults: z.object({
    threshold: z.number().min(0).max(1),
    steps: z.number().int().positive(),
    guidance: z.number().positive(),
    sampler: z.enum(SAMPLERS as [SamplerName, ...SamplerName[]]),
    /** No exit before this many blocks; θ was calibrated with it. Absent: 1. */
    minDepth: z.number().int().positive().optional(),
    /** How the guidance passes were run when θ was calibrated (see params' batching). Absent: separate. */
    batching: z.enum(PASS_BATCHINGS).optional(),
    /** The unconditional pass's interval in steps when θ was calibrated (params' unconditionalEvery). Absent: 1. */
    unconditionalEvery: z.number().int().positive().optional(),
    /** Guidance only at t ≤ this when θ was calibrated (params' guidanceMaxT). Absent: every step. */
    guidanceMaxT: z.number().int().nonnegative().optional(),
  }),
  /**
   * How the files store the weights: int8 holds one scale per output channel and a
   * DequantizeLinear node per weight, so every backend computes in fp32 as with fp32 files.
   * Absent: fp32.
   */
  storage: z.enum(['fp32', 'int8']).optional(),
  calibration: z.array(calibrationRow),
  /** How the calibration was measured (tool, samples, steps). */
  calibrationSource: z.string().optional(),
  provenance: z.record(z.string(), z.unknown()),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type FileSpec = z.infer<typeof fileSpec>;
export type BlockSpec = z.infer<typeof blockSpec>;
export type PrefixSpec = z.infer<typeof prefixSpec>;
export type CalibrationRow = z.infer<typeof calibrationRow>;

function fieldPath(path: PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
}

/** Parse and check a manifest; `source` names it in errors (a URL or a path). */
export function parseManifest(json: unknown, source = MANIFEST): Manifest {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ManifestError(source, '(root)', 'must be a JSON object');
  }
  const version = (json as Record<string, unknown>).formatVersion;
  if (version !== FORMAT_VERSION) {
    throw new ManifestError(
      source,
      'formatVersion',
      version === undefined
        ? 'is missing'
        : `is ${JSON.stringify(version)}, but this runtime reads version ${FORMAT_VERSION}`,
    );
  }
  const result = manifestSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
    throw new ManifestError(
      source,
      fieldPath(issue.path),
      missing ? 'is missing' : `is invalid: ${issue.message}`,
    );
  }
  checkWiring(result.data, source);
  return result.data;
}

/** Cross-field checks the schema cannot express: counts, skip wiring and that shapes chain. */
function checkWiring(m: Manifest, source: string): void {
  const { blocks } = m.segments;
  const arch = m.architecture;
  if (blocks.length !== arch.numBlocks) {
    throw new ManifestError(
      source,
      'segments.blocks',
      `lists ${blocks.length} blocks but architecture.numBlocks is ${arch.numBlocks}`,
    );
  }
  checkConditioning(m, source);
  if (m.defaults.threshold < 0 || m.defaults.threshold > 1) {
    throw new ManifestError(source, 'defaults.threshold', 'must be in [0, 1]');
  }
  if (m.defaults.minDepth !== undefined && m.defaults.minDepth > arch.numBlocks) {
    throw new ManifestError(source, 'defaults.minDepth', `must be at most numBlocks (${arch.numBlocks})`);
  }
  const tokenDims = ['batch', arch.tokens, arch.embedDim];
  const sameDims = (dims: (string | number)[]) =>
    dims.length === 3 && dims[1] === tokenDims[1] && dims[2] === tokenDims[2];
  const embedHidden = m.segments.embed.outputs.find((o) => o.name === 'hidden');
  if (!embedHidden || !sameDims(embedHidden.dims)) {
    throw new ManifestError(
      source,
      'segments.embed.outputs',
      `must have "hidden" of dims ${tokenDims.join('×')}`,
    );
  }
  blocks.forEach((b, i) => {
    const field = `segments.blocks[${i}]`;
    const hiddenIn = b.inputs.find((x) => x.name === 'hidden');
    const hiddenOut = b.outputs.find((x) => x.name === 'hidden_out');
    if (!hiddenIn || !sameDims(hiddenIn.dims)) {
      throw new ManifestError(
        source,
        `${field}.inputs`,
        `does not chain: input "hidden" must be ${tokenDims.join('×')}`,
      );
    }
    if (!hiddenOut || !sameDims(hiddenOut.dims)) {
      throw new ManifestError(
        source,
        `${field}.outputs`,
        `does not chain: output "hidden_out" must be ${tokenDims.join('×')}`,
      );
    }
    if (!b.outputs.some((x) => x.name === 'uncertainty')) {
      throw new ManifestError(source, `${field}.outputs`, 'has no "uncertainty" output');
    }
    const hasSkipInput = b.inputs.some((x) => x.name === 'skip');
    if (b.skipFrom !== null && (b.skipFrom >= i || b.skipFrom >= arch.numInBlocks || !hasSkipInput)) {
      throw new ManifestError(
        source,
        `${field}.skipFrom`,
        `is ${b.skipFrom}: must name an earlier in-block and come with a "skip" input`,
      );
    }
    if (b.skipFrom === null && hasSkipInput) {
      throw new ManifestError(source, `${field}.skipFrom`, 'is null but the block has a "skip" input');
    }
  });
  const prefix = m.segments.prefix;
  if (prefix) checkPrefix(m, prefix, source);
}

/** Whether the model draws a class the caller picks (and is guided towards it). */
export function isConditional(m: Manifest): boolean {
  return m.classes.length > 0;
}

/** The label of the unconditional guidance pass; a model with no classes has none. */
export function nullClassOf(m: Manifest): number {
  if (m.nullClass === undefined) throw new ManifestError(MANIFEST, 'nullClass', 'is missing');
  return m.nullClass;
}

/**
 * A class-conditional model takes y and has a null class for guidance; an unconditional one takes
 * neither and is never guided, so its defaults cannot ask for guidance.
 */
function checkConditioning(m: Manifest, source: string): void {
  const takesY = m.segments.embed.inputs.some((i) => i.name === 'y');
  if (isConditional(m)) {
    if (m.nullClass !== m.classes.length) {
      throw new ManifestError(source, 'nullClass', `must equal the number of classes (${m.classes.length})`);
    }
    if (!takesY)
      throw new ManifestError(source, 'segments.embed.inputs', 'has no "y" but the model has classes');
    return;
  }
  if (m.nullClass !== undefined) {
    throw new ManifestError(source, 'nullClass', 'must be absent: the model has no classes');
  }
  if (takesY)
    throw new ManifestError(source, 'segments.embed.inputs', 'has "y" but the model has no classes');
  if (m.defaults.guidance !== 1) {
    throw new ManifestError(source, 'defaults.guidance', 'must be 1: a model with no classes is not guided');
  }
}

function checkPrefix(m: Manifest, prefix: PrefixSpec, source: string): void {
  const { blocks } = m.segments;
  if (prefix.depth > blocks.length) {
    throw new ManifestError(
      source,
      'segments.prefix.depth',
      `is ${prefix.depth}, more than the ${blocks.length} blocks`,
    );
  }
  // a page loads the prefix instead of its blocks: the default settings must never exit inside it
  const minDepth = m.defaults.minDepth ?? 1;
  if (prefix.depth > minDepth) {
    throw new ManifestError(
      source,
      'segments.prefix.depth',
      `is ${prefix.depth}, deeper than defaults.minDepth (${minDepth}): the default settings could exit inside it`,
    );
  }
  const names = new Set(prefix.outputs.map((o) => o.name));
  // earlier outputs that blocks after the prefix take as their skip must come out of it too
  const needed = ['hidden', 'temb', 'uncertainty', ...prefixSkips(m, prefix).map(prefixSkipOutput)];
  const missing = needed.filter((n) => !names.has(n));
  if (missing.length) {
    throw new ManifestError(
      source,
      'segments.prefix.outputs',
      `lacks ${missing.map((n) => `"${n}"`).join(', ')}`,
    );
  }
  // an output no block takes would be produced on every pass and owned by nothing
  const extra = [...names].filter((n) => !needed.includes(n));
  if (extra.length) {
    throw new ManifestError(
      source,
      'segments.prefix.outputs',
      `has ${extra.map((n) => `"${n}"`).join(', ')}, which no later block takes`,
    );
  }
}

/** Blocks before the prefix's last whose tokens a block after the prefix takes as its skip. */
export function prefixSkips(m: Manifest, prefix: PrefixSpec): number[] {
  const later = m.segments.blocks.slice(prefix.depth).map((b) => b.skipFrom);
  return [...new Set(later)]
    .filter((j): j is number => j !== null && j < prefix.depth - 1)
    .sort((a, b) => a - b);
}

/** The prefix output that carries block j's tokens (a later block's skip). */
export function prefixSkipOutput(j: number): string {
  return `hidden_${String(j).padStart(2, '0')}`;
}

/**
 * The graphs a fused prefix runs in one go: the embed and the blocks before its depth. A load may
 * leave them out (the page's does), and passes then run at least the prefix's depth.
 */
export function replacedByPrefix(m: Manifest): FileSpec[] {
  const { embed, blocks, prefix } = m.segments;
  return prefix ? [embed, ...blocks.slice(0, prefix.depth)] : [];
}

/** Every segment file (the monolithic baseline is not one). */
export function segmentFiles(m: Manifest): FileSpec[] {
  const { embed, blocks, head, prefix } = m.segments;
  return [embed, ...blocks, head, ...(prefix ? [prefix] : [])];
}

export function totalBytes(files: FileSpec[]): number {
  return files.reduce((sum, f) => sum + f.bytes, 0);
}
