/**
 * What the user asks for, kept in the URL so a link reproduces an image: the generate parameters
 * the user or the link set, and the page's own settings. A generate parameter nobody set is the
 * loaded model's (its manifest is the only default), so the page holds no placeholder of its own
 * and shows nothing before a model has loaded. Values read from a URL are parsed strictly;
 * anything invalid is dropped (and reported).
 */
import { create } from 'zustand';
import type { GenerateParams, Manifest } from '../../runtime';
import { checkValue, defaultParams, PARAM_SPECS, type ParamSpec } from '../../runtime/params';
import { isBackendChoice, type BackendChoice } from '../../worker/api';

/** The generate parameters the page lets a user set (and a link carry). */
export const GENERATE_KEYS = [
  'classIndex',
  'seed',
  'steps',
  'sampler',
  'guidance',
  'threshold',
  'batching',
  'unconditionalEvery',
  'guidanceMaxT',
] as const satisfies readonly (keyof GenerateParams)[];
export type GenerateKey = (typeof GENERATE_KEYS)[number];
export type GenerateSettings = Pick<GenerateParams, GenerateKey>;

/** The page's own settings: not the model's, so these defaults are the page's to decide. */
export const PAGE_DEFAULTS = {
  /**
   * Whether the guidance schedule (unconditionalEvery, guidanceMaxT) applies; off, every step is
   * guided with a fresh unconditional pass, so the counters show what the exits save alone.
   */
  guidanceSchedule: true,
  /** Run the reference instead: every block of both passes at every step (mode 'full'). */
  fullDepth: false,
  backend: 'auto' as BackendChoice,
  compare: false,
};
type PageSettings = typeof PAGE_DEFAULTS;
type PageKey = keyof PageSettings;

/** Everything the page shows and runs with: the user's settings over the model's defaults. */
export type Settings = GenerateSettings & PageSettings;

export interface ParamsState extends PageSettings {
  /** The generate parameters the user or the link set; every other one is the loaded model's. */
  given: Partial<GenerateSettings>;
  /** Parameters a shared URL held that were invalid and ignored. */
  ignored: string[];
  set: (patch: Partial<Settings>) => void;
  /** Gives these parameters back to the model. */
  unset: (keys: readonly GenerateKey[]) => void;
}

const isPageKey = (k: string): k is PageKey => k in PAGE_DEFAULTS;

/** The page's settings with a model loaded: what the user set, the manifest's defaults for the rest. */
export function settingsFor(p: Pick<ParamsState, 'given' | PageKey>, m: Manifest): Settings {
  const d = defaultParams(m);
  const model = Object.fromEntries(GENERATE_KEYS.map((k) => [k, d[k]])) as GenerateSettings;
  return {
    ...model,
    ...p.given,
    guidanceSchedule: p.guidanceSchedule,
    fullDepth: p.fullDepth,
    backend: p.backend,
    compare: p.compare,
  };
}

/** How the link names each setting: a generate parameter by its descriptor, the page's own by name. */
const URL_KEYS: Record<GenerateKey | PageKey, string> = {
  ...(Object.fromEntries(GENERATE_KEYS.map((k) => [k, (PARAM_SPECS[k] as ParamSpec).urlKey ?? k])) as Record<
    GenerateKey,
    string
  >),
  backend: 'backend',
  compare: 'compare',
  guidanceSchedule: 'guidanceSchedule',
  fullDepth: 'fullDepth',
};

/** A link's value, strictly: as its descriptor says (the model's own bounds are checked once it loads). */
function parseValue(key: GenerateKey | PageKey, raw: string): unknown {
  switch (key) {
    case 'backend':
      return isBackendChoice(raw) ? raw : undefined;
    case 'compare':
    case 'guidanceSchedule':
    case 'fullDepth':
      return raw === '1' ? true : raw === '0' ? false : undefined;
  }
  const spec = PARAM_SPECS[key] as ParamSpec;
  const value = spec.kind === 'enum' ? raw : raw.trim() === '' ? NaN : Number(raw);
  return checkValue(spec, null, value) === null ? value : undefined;
}

export function paramsFromUrl(search: string): { values: Partial<Settings>; ignored: string[] } {
  const q = new URLSearchParams(search);
  const values: Record<string, unknown> = {};
  const ignored: string[] = [];
  for (const key of Object.keys(URL_KEYS) as (GenerateKey | PageKey)[]) {
    const raw = q.get(URL_KEYS[key]);
    if (raw === null) continue;
    const v = parseValue(key, raw);
    if (v === undefined) ignored.push(`${URL_KEYS[key]}=${raw}`);
    else values[key] = v;
  }
  return { values: values as Partial<Settings>, ignored };
}

/** The link for these settings: what the user set, and the page's settings that differ from its own defaults. */
export function paramsToSearch(
  p: Pick<ParamsState, 'given' | PageKey>,
  keep: URLSearchParams = new URLSearchParams(),
): string {
  const q = new URLSearchParams(keep);
  const put = (key: GenerateKey | PageKey, v: unknown) => {
    if (v === undefined) q.delete(URL_KEYS[key]);
    else q.set(URL_KEYS[key], typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  };
  for (const key of GENERATE_KEYS) put(key, p.given[key]);
  for (const key of Object.keys(PAGE_DEFAULTS) as PageKey[])
    put(key, p[key] === PAGE_DEFAULTS[key] ? undefined : p[key]);
  return `?${q.toString()}`;
}

const initial =
  typeof location === 'undefined' ? { values: {}, ignored: [] } : paramsFromUrl(location.search);

/** Splits settings into the generate parameters (given) and the page's own. */
function split(patch: Partial<Settings>): { given: Partial<GenerateSettings>; page: Partial<PageSettings> } {
  const given: Record<string, unknown> = {};
  const page: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) (isPageKey(k) ? page : given)[k] = v;
  return { given: given as Partial<GenerateSettings>, page: page as Partial<PageSettings> };
}

const start = split(initial.values);

export const useParams = create<ParamsState>((set) => ({
  ...PAGE_DEFAULTS,
  ...start.page,
  given: start.given,
  ignored: initial.ignored,
  set: (patch) =>
    set((s) => {
      const { given, page } = split(patch);
      return { ...page, given: { ...s.given, ...given } };
    }),
  unset: (keys) =>
    set((s) => ({
      given: Object.fromEntries(Object.entries(s.given).filter(([k]) => !keys.includes(k as GenerateKey))),
    })),
}));

/** The settings a view renders, with the model loaded: the user's over the manifest's, and the setter. */
export function useSettings(m: Manifest): Settings & Pick<ParamsState, 'set' | 'unset'> {
  const p = useParams();
  return { ...settingsFor(p, m), set: p.set, unset: p.unset };
}
