/**
 * What the user asks for: every generate parameter, kept in the URL so a link reproduces an image.
 * Values read from a URL are parsed strictly; anything invalid is dropped (and reported).
 */
import { create } from 'zustand';
import type { PassBatching, SamplerName } from '../../runtime';
import { PASS_BATCHINGS } from '../../runtime/params';
import { SAMPLERS } from '../../runtime/samplers';
import type { BackendChoice } from '../../worker/client';

export interface ParamsState {
  classIndex: number;
  seed: number;
  steps: number;
  sampler: SamplerName;
  guidance: number;
  threshold: number;
  /** How the unconditional guidance pass exits (the runtime's batching). */
  batching: PassBatching;
  /** Run the unconditional pass on every N-th guided step, reuse it between. */
  unconditionalEvery: number;
  /** Guide only the steps with timestep t ≤ this. */
  guidanceMaxT: number;
  /**
   * Whether the guidance schedule (unconditionalEvery, guidanceMaxT) applies; off, every step is
   * guided with a fresh unconditional pass, so the counters show what the exits save alone.
   */
  guidanceSchedule: boolean;
  backend: BackendChoice;
  compare: boolean;
  /** Parameters a shared URL held that were invalid and ignored. */
  ignored: string[];
  set: (patch: Partial<Omit<ParamsState, 'set' | 'ignored'>>) => void;
}

export const DEFAULTS = {
  classIndex: 0,
  seed: 1,
  steps: 20,
  sampler: 'ddim' as SamplerName,
  guidance: 3,
  threshold: 0.1,
  // placeholders until a model loads: its manifest's defaults replace these (see loadModelIntent)
  batching: 'separate' as PassBatching,
  unconditionalEvery: 1,
  guidanceMaxT: 999,
  guidanceSchedule: true,
  backend: 'auto' as BackendChoice,
  compare: false,
};

type UrlKey = keyof typeof DEFAULTS;
const KEYS: Record<UrlKey, string> = {
  classIndex: 'class',
  seed: 'seed',
  steps: 'steps',
  sampler: 'sampler',
  guidance: 'guidance',
  threshold: 'threshold',
  batching: 'batching',
  unconditionalEvery: 'uncondEvery',
  guidanceMaxT: 'guidanceMaxT',
  guidanceSchedule: 'guidanceSchedule',
  backend: 'backend',
  compare: 'compare',
};

function parseValue(key: UrlKey, raw: string): unknown {
  switch (key) {
    case 'sampler':
      return (SAMPLERS as readonly string[]).includes(raw) ? raw : undefined;
    case 'batching':
      return (PASS_BATCHINGS as readonly string[]).includes(raw) ? raw : undefined;
    case 'backend':
      return ['auto', 'webgpu', 'wasm'].includes(raw) ? raw : undefined;
    case 'compare':
    case 'guidanceSchedule':
      return raw === '1' ? true : raw === '0' ? false : undefined;
    default: {
      const v = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(v)) return undefined;
      if (['classIndex', 'seed', 'steps', 'unconditionalEvery', 'guidanceMaxT'].includes(key)) {
        if (!Number.isInteger(v)) return undefined;
      }
      if (key === 'threshold' && (v < 0 || v > 1)) return undefined;
      if (key === 'unconditionalEvery' && v < 1) return undefined;
      if (v < 0) return undefined;
      return v;
    }
  }
}

export function paramsFromUrl(search: string): { values: Partial<typeof DEFAULTS>; ignored: string[] } {
  const q = new URLSearchParams(search);
  const values: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const key of Object.keys(KEYS) as UrlKey[]) {
    const raw = q.get(KEYS[key]);
    if (raw === null) continue;
    const v = parseValue(key, raw);
    if (v === undefined) ignored.push(`${KEYS[key]}=${raw}`);
    else values[key] = v;
  }
  return { values: values as Partial<typeof DEFAULTS>, ignored };
}

export function paramsToSearch(p: typeof DEFAULTS, keep: URLSearchParams = new URLSearchParams()): string {
  const q = new URLSearchParams(keep);
  for (const key of Object.keys(KEYS) as UrlKey[]) {
    const v = p[key];
    q.set(KEYS[key], typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  return `?${q.toString()}`;
}

const initial =
  typeof location === 'undefined' ? { values: {}, ignored: [] } : paramsFromUrl(location.search);

export const useParams = create<ParamsState>((set) => ({
  ...DEFAULTS,
  ...initial.values,
  ignored: initial.ignored,
  set: (patch) => set(patch),
}));

/** Which parameters the URL fixed, so manifest defaults do not overwrite them. */
export const urlGiven = new Set(Object.keys(initial.values));
