/**
 * Intents: what the page asks its generator session to do. Components call these and render the
 * session's state; the session owns loading, generating, cancelling and recovery (as it does for
 * the widget), and the page adds only what is its own: the parameters in the address bar, and the
 * manifest's defaults for whatever the link did not fix.
 */
import type { Manifest } from '../runtime';
import {
  checkValue,
  defaultParams,
  PARAM_SPECS,
  withoutGuidanceSchedule,
  type ParamSpec,
} from '../runtime/params';
import type { BackendChoice } from '../worker/client';
import { useModel } from './state/model';
import { DEFAULTS, paramsToSearch, urlGiven, useParams } from './state/params';
import { pageSession } from './state/session';
import { DEFAULT_MODEL_ID } from '../session/model-url';

export { setEngine, setEngineFactory } from './state/session';

/** The model the link names (a shipped model's id or a folder URL), else the default one. */
export function defaultModelUrl(): string {
  const fromUrl = typeof location === 'undefined' ? null : new URLSearchParams(location.search).get('model');
  return fromUrl ?? DEFAULT_MODEL_ID;
}

/** What a model's manifest sets when it loads, unless the shared URL fixed it. */
const MANIFEST_DEFAULTED = [
  'threshold',
  'steps',
  'guidance',
  'sampler',
  'batching',
  'unconditionalEvery',
  'guidanceMaxT',
] as const;

let defaultsAppliedFor: string | null = null;

/** Loads (or reloads) the model on the chosen backend; a second call while one runs waits for it. */
export async function loadModelIntent(url = useModel.getState().url || defaultModelUrl()): Promise<void> {
  const info = await pageSession.load(url, useParams.getState().backend);
  if (!info) return;
  // the manifest's defaults apply to whatever the shared URL did not fix, once per model: a
  // reload of the same model (new backend, after a crash) keeps what the user has set
  if (defaultsAppliedFor === url) return;
  defaultsAppliedFor = url;
  const d = defaultParams(info.manifest);
  const patch: Partial<typeof DEFAULTS> = {};
  for (const key of MANIFEST_DEFAULTED) if (!urlGiven.has(key)) Object.assign(patch, { [key]: d[key] });
  // a link's value is checked against this model's ranges only now: one outside them is dropped and listed
  const p = useParams.getState();
  const ignored = [...p.ignored];
  for (const key of [...urlGiven].filter(
    (k): k is keyof typeof PARAM_SPECS & keyof typeof DEFAULTS => k in PARAM_SPECS,
  )) {
    const spec = PARAM_SPECS[key] as ParamSpec;
    if (checkValue(spec, info.manifest, p[key]) === null) continue;
    ignored.push(`${spec.urlKey ?? key}=${String(p[key])}`);
    Object.assign(patch, { [key]: key === 'classIndex' ? 0 : d[key] });
  }
  // a class the last model had and this one lacks (or a model with no classes): the first
  if (p.classIndex >= Math.max(1, info.manifest.classes.length) && !('classIndex' in patch))
    patch.classIndex = 0;
  useParams.setState({ ...patch, ignored });
}

/** Switches to another model: the link names it, and its defaults apply to what the link does not fix. */
export async function chooseModelIntent(model: string): Promise<void> {
  const search = new URLSearchParams(location.search);
  search.set('model', model);
  history.replaceState(null, '', `?${search}`);
  await loadModelIntent(model);
}

/** The generate parameters the page's settings mean (the guidance schedule's switch applied). */
export function effectiveParams(p: Omit<typeof DEFAULTS, 'backend' | 'compare'>, m: Manifest | null) {
  return {
    classIndex: p.classIndex,
    seed: p.seed,
    steps: p.steps,
    sampler: p.sampler,
    guidance: p.guidance,
    threshold: p.threshold,
    batching: p.batching,
    unconditionalEvery: p.unconditionalEvery,
    guidanceMaxT: p.guidanceMaxT,
    ...(!p.guidanceSchedule && m ? withoutGuidanceSchedule(m) : {}),
  };
}

export async function generateIntent(): Promise<void> {
  if (useModel.getState().status !== 'ready') return;
  const p = useParams.getState();
  await pageSession.generate(effectiveParams(p, useModel.getState().manifest), { compare: p.compare });
  // a lost GPU made the session reload on wasm: the backend control follows
  const choice = useModel.getState().choice;
  if (choice !== useParams.getState().backend) useParams.getState().set({ backend: choice });
}

export async function cancelIntent(): Promise<void> {
  pageSession.cancel();
}

/** Switching the backend reloads the model on it (sessions are per backend). */
export async function setBackendIntent(backend: BackendChoice): Promise<void> {
  useParams.getState().set({ backend });
  await loadModelIntent();
}

/** Keep the address bar in step with the parameters, so the URL can be shared. */
export function syncUrl(): () => void {
  return useParams.subscribe((p) => {
    const keep = new URLSearchParams(location.search);
    const search = paramsToSearch(p, keep);
    if (search !== location.search) history.replaceState(null, '', search);
  });
}
