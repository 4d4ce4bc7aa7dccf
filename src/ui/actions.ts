/**
 * Intents: what the page asks its generator session to do. Components call these and render the
 * session's state; the session owns loading, generating, cancelling and recovery (as it does for
 * the widget), and the page adds only what is its own: the parameters in the address bar, and the
 * manifest's defaults for whatever the link did not fix.
 */
import type { Manifest } from '../runtime';
import { checkValue, PARAM_SPECS, withoutGuidanceSchedule, type ParamSpec } from '../runtime/params';
import type { BackendChoice } from '../worker/client';
import { useModel } from './state/model';
import { paramsToSearch, settingsFor, useParams, type GenerateKey, type Settings } from './state/params';
import { pageSession } from './state/session';
import { DEFAULT_MODEL_ID } from '../session/model-url';

export { setEngine, setEngineFactory } from './state/session';

/** The model the link names (a shipped model's id or a folder URL), else the default one. */
export function defaultModelUrl(): string {
  const fromUrl = typeof location === 'undefined' ? null : new URLSearchParams(location.search).get('model');
  return fromUrl ?? DEFAULT_MODEL_ID;
}

/** Loads (or reloads) the model on the chosen backend; a second call while one runs waits for it. */
export async function loadModelIntent(url = useModel.getState().url || defaultModelUrl()): Promise<void> {
  const info = await pageSession.load(url, useParams.getState().backend);
  if (!info) return;
  // what the link set is checked against this model's ranges only now: a value outside them is
  // dropped (the model's own applies) and listed
  const p = useParams.getState();
  const given: Record<string, unknown> = { ...p.given };
  const ignored = [...p.ignored];
  for (const key of Object.keys(given) as GenerateKey[]) {
    const spec = PARAM_SPECS[key] as ParamSpec;
    if (checkValue(spec, info.manifest, given[key]) === null) continue;
    ignored.push(`${spec.urlKey ?? key}=${String(given[key])}`);
    delete given[key];
  }
  useParams.setState({ given, ignored });
}

/**
 * Switches to another model: the link names it. What was set for the last model (θ, steps, class…)
 * was measured against that one, so the new model's own apply; the seed stays.
 */
export async function chooseModelIntent(model: string): Promise<void> {
  const { seed } = useParams.getState().given;
  useParams.setState({ given: seed === undefined ? {} : { seed } });
  const search = new URLSearchParams(location.search);
  search.set('model', model);
  history.replaceState(null, '', paramsToSearch(useParams.getState(), search));
  await loadModelIntent(model);
}

/** The generate parameters the page's settings mean (the guidance schedule's switch applied). */
export function effectiveParams(p: Settings, m: Manifest | null) {
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
    ...(p.fullDepth ? { mode: 'full' as const } : {}),
  };
}

export async function generateIntent(): Promise<void> {
  const { status, manifest } = useModel.getState();
  if (status !== 'ready' || !manifest) return;
  const p = settingsFor(useParams.getState(), manifest);
  await pageSession.generate(effectiveParams(p, manifest), { compare: p.compare });
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
