/**
 * Intents: what the UI asks the engine to do, and how the answers land in the stores.
 * Components call these and render store state; they never talk to the worker themselves.
 */
import { defaultParams, withoutGuidanceSchedule, type GenerateParams, type Manifest } from '../runtime';
import { createEngineClient, errorName, type BackendChoice, type EngineClient } from '../worker/client';
import { useModel } from './state/model';
import { DEFAULTS, paramsToSearch, urlGiven, useParams } from './state/params';
import { compareImages, initialRun, useRun } from './state/run';

let engine: EngineClient | null = null;
let makeEngine: () => EngineClient = () => createEngineClient();

/** Tests hand in a fake; the page starts the real worker on first use. */
export function setEngine(e: EngineClient | null): void {
  engine = e;
}

/** Where a new engine comes from after a crash (tests: a scripted one). */
export function setEngineFactory(factory: (() => EngineClient) | null): void {
  makeEngine = factory ?? (() => createEngineClient());
}

function getEngine(): EngineClient {
  engine ??= makeEngine();
  return engine;
}

/** A crashed worker never answers again: drop it, so the next call starts a fresh one. */
function dropCrashedEngine(e: unknown): boolean {
  if (errorName(e) !== 'WorkerCrashedError') return false;
  engine?.terminate();
  engine = null;
  return true;
}

export function defaultModelUrl(): string {
  const fromUrl = typeof location === 'undefined' ? null : new URLSearchParams(location.search).get('model');
  return fromUrl ?? `${import.meta.env.BASE_URL}models/fmnist-uvit13/`;
}

/**
 * A model named in a shared link runs code paths on the visitor's machine: http(s) only, and
 * another origin only when the link says so explicitly (allowCrossOriginModel=1).
 */
export function checkModelUrl(url: string, page: URL): string | null {
  let resolved: URL;
  try {
    resolved = new URL(url, page);
  } catch {
    return `"${url}" is not a valid model URL.`;
  }
  if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') {
    return `The model URL must be http(s), not ${resolved.protocol}`;
  }
  if (resolved.origin !== page.origin && page.searchParams.get('allowCrossOriginModel') !== '1') {
    return `The model is on another site (${resolved.origin}). Add allowCrossOriginModel=1 to the page URL if you trust it.`;
  }
  return null;
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

let loading: Promise<void> | null = null;
let defaultsAppliedFor: string | null = null;

/** Loads (or reloads) the model; a second call while one load runs waits for that one. */
export function loadModelIntent(url = useModel.getState().url || defaultModelUrl()): Promise<void> {
  loading ??= load(url).finally(() => (loading = null));
  return loading;
}

async function load(url: string): Promise<void> {
  const backend = useParams.getState().backend;
  const refused = typeof location === 'undefined' ? null : checkModelUrl(url, new URL(location.href));
  if (refused) {
    useModel.setState({ status: 'error', url, error: refused, errorName: 'ParameterError' });
    return;
  }
  useModel.setState({
    status: 'loading',
    url,
    loaded: 0,
    total: 0,
    phase: 'download',
    error: null,
    errorName: null,
  });
  try {
    const info = await getEngine().load(url, backend, (p) => {
      useModel.setState({
        loaded: p.loaded,
        total: p.total,
        phase: p.loaded >= p.total ? 'prepare' : 'download',
      });
    });
    useModel.setState({
      status: 'ready',
      manifest: info.manifest,
      backend: info.backend,
      backendReason: info.backendReason,
      downloadedBytes: info.downloadedBytes,
      cacheNotice: info.cacheNotice,
      loadMs: info.loadMs,
      loaded: useModel.getState().total,
    });
    // the manifest's defaults apply to whatever the shared URL did not fix, once per model: a
    // reload of the same model (new backend, after a crash) keeps what the user has set
    if (defaultsAppliedFor === url) return;
    defaultsAppliedFor = url;
    const d = defaultParams(info.manifest);
    const patch: Partial<typeof DEFAULTS> = {};
    for (const key of MANIFEST_DEFAULTED) if (!urlGiven.has(key)) Object.assign(patch, { [key]: d[key] });
    if ((useParams.getState().classIndex ?? 0) >= info.manifest.classes.length) patch.classIndex = 0;
    useParams.getState().set(patch);
  } catch (e) {
    const crashed = dropCrashedEngine(e);
    useModel.setState({
      status: 'error',
      error: crashed ? `${messageOf(e)}. Retry starts a fresh engine.` : messageOf(e),
      errorName: errorName(e),
    });
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
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

function currentParams(): Partial<GenerateParams> {
  const p = useParams.getState();
  return {
    ...effectiveParams(p, useModel.getState().manifest),
    mode: p.threshold === 0 ? 'full' : 'adaptive',
    preview: true,
  };
}

export async function generateIntent(): Promise<void> {
  if (useModel.getState().status !== 'ready') return;
  const params = currentParams();
  const started = performance.now();
  useRun.setState({
    ...initialRun,
    status: 'running',
    steps: params.steps!,
    threshold: params.threshold!,
    seed: params.seed!,
    classIndex: params.classIndex!,
  });
  try {
    const result = await getEngine().generate(params, (e) => {
      useRun.setState((s) => ({
        rows: [...s.rows, { t: e.t, passes: e.passes, scheduleSkipped: e.scheduleSkipped }],
        totals: e.totals,
        preview: e.preview ?? s.preview,
      }));
    });
    useRun.setState({
      image: result.image,
      result,
      totals: result.totals,
      firstImageMs: performance.now() - started,
    });
    if (useParams.getState().compare) {
      useRun.setState({ phase: 'full' });
      const full = await getEngine().generate({ ...params, mode: 'full', preview: false });
      useRun.setState({
        compare: { full: full.image, fullTotals: full.totals, ...compareImages(result.image, full.image) },
      });
    }
    useRun.setState({ status: 'done' });
  } catch (e) {
    const cancelled = errorName(e) === 'CancelledError';
    useRun.setState({ status: cancelled ? 'cancelled' : 'error', error: cancelled ? null : messageOf(e) });
    if (dropCrashedEngine(e)) {
      // nothing of the user's is lost: parameters live in the store and the URL
      await loadModelIntent();
      useRun.setState({
        error: `${messageOf(e)}. A fresh engine has loaded the model: press Generate again.`,
      });
    } else if (errorName(e) === 'DeviceLostError') {
      // the GPU is gone for this page: carry on with wasm so the next Generate works
      useParams.getState().set({ backend: 'wasm' });
      await loadModelIntent();
      useRun.setState({ error: `${messageOf(e)} The page has switched to wasm: press Generate again.` });
    }
  }
}

export async function cancelIntent(): Promise<void> {
  // a crash shows up on the running generate; cancelling a dead engine has nothing to add
  await engine?.cancel().catch(() => undefined);
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
