/**
 * What the user asks for: every generate parameter, kept in the URL so a link reproduces an image.
 * Values read from a URL are parsed strictly; anything invalid is dropped (and reported).
 */
import { create } from 'zustand';
import type { PassBatching, SamplerName } from '../../runtime';
import { checkValue, PARAM_SPECS, type ParamSpec } from '../../runtime/params';
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
type Generated = Exclude<UrlKey, PageOnly>;
type PageOnly = 'backend' | 'compare' | 'guidanceSchedule';

/** The page's own settings; every other link key is a generate parameter's, from its descriptor. */
const PAGE_KEYS: Record<PageOnly, string> = {
  backend: 'backend',
  compare: 'compare',
  guidanceSchedule: 'guidanceSchedule',
};

const KEYS = {
  ...Object.fromEntries(
    (Object.keys(DEFAULTS) as UrlKey[])
      .filter((k): k is Generated => !(k in PAGE_KEYS))
      .map((k) => [k, (PARAM_SPECS[k] as ParamSpec).urlKey ?? k]),
  ),
  ...PAGE_KEYS,
} as Record<UrlKey, string>;

/** A link's value, strictly: as its descriptor says (the model's own bounds are checked at Generate). */
function parseValue(key: UrlKey, raw: string): unknown {
  switch (key) {
    case 'backend':
      return ['auto', 'webgpu', 'wasm'].includes(raw) ? raw : undefined;
    case 'compare':
    case 'guidanceSchedule':
      return raw === '1' ? true : raw === '0' ? false : undefined;
  }
  const spec = PARAM_SPECS[key as Generated] as ParamSpec;
  const value = spec.kind === 'enum' ? raw : raw.trim() === '' ? NaN : Number(raw);
  return checkValue(spec, null, value) === null ? value : undefined;
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
