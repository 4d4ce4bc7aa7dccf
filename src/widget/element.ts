/**
 * <adadiff-generator>: the generator as a custom element for other people's pages, bound to a
 * generator session of its own over the engine every widget on the page shares.
 * Attributes: model, threshold, class, steps, seed, backend, batching, uncond-every,
 * guidance-max-t, guidance-schedule (on | off), full-depth, compact, allow-cross-origin-model.
 * Events: load, step, done, error (CustomEvent; detail carries the data). Methods: generate(), cancel().
 * Styles live in a shadow root, so neither the host's CSS nor ours leaks across.
 */
import { createElement } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { GenerateParams, PassBatching } from '../runtime';
import { withoutGuidanceSchedule } from '../runtime/params';
import { PASS_BATCHINGS } from '../runtime/batching';
import { sharedEngines } from '../session/shared-engines';
import { DEFAULT_MODEL_ID, SHIPPED_MODELS_PATH } from '../session/model-url';
import { createSession, type Session } from '../session/session';
import { BACKEND_CHOICES_TEXT, isBackendChoice } from '../worker/api';
import { needsReload } from '../worker/client';
import { WidgetView, type WidgetLocal } from './view';
import css from './widget.css?inline';

export const ATTRIBUTES = [
  'model',
  'threshold',
  'class',
  'steps',
  'seed',
  'backend',
  'batching',
  'uncond-every',
  'guidance-max-t',
  'guidance-schedule',
  'full-depth',
  'compact',
] as const;

function numberAttr(el: HTMLElement, name: string): number | undefined {
  const raw = el.getAttribute(name);
  if (raw === null || raw.trim() === '') return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new Error(`attribute ${name}="${raw}" is not a number`);
  return v;
}

// a variable, not a literal: the path is resolved at run time, next to the built module
const shippedModels = () => new URL(SHIPPED_MODELS_PATH, import.meta.url);

export class AdaDiffGenerator extends HTMLElement {
  static observedAttributes = [...ATTRIBUTES];

  private readonly session: Session;
  private readonly local: StoreApi<WidgetLocal>;
  private root: Root | null = null;
  private loadedKey = '';
  /** The load in progress or last done: generate() waits for it (or the model ready) before it reads attributes. */
  private loading: Promise<void> = Promise.resolve();
  /** The error event last sent for this load or generation, so that one failure is said once. */
  private lastErrorSent = '';
  /** Generations under way: a crash one meets is its to report, with the reload that follows. */
  private generating = 0;
  /** `loads` when the latest generation began: a load the widget started since is its own to report. */
  private loadsAtRun = 0;
  /** Loads started, so that one a newer load replaced stays silent. */
  private loads = 0;
  /** A failed load's error event not sent yet: sent when the widget's load settles, or in the next task. */
  private unsaid: (() => void) | null = null;

  constructor() {
    super();
    this.session = createSession({
      engines: sharedEngines,
      base: () => this.ownerDocument.baseURI,
      shippedModels: () => shippedModels().href,
      // the page that embeds the widget, and the widget's own origin (its shipped models)
      trustedOrigins: () => [this.ownerDocument.location?.origin, shippedModels().origin],
      consent: (origin) =>
        this.hasAttribute('allow-cross-origin-model') ||
        `model="${this.getAttribute('model')}" is on another origin (${origin}); add the allow-cross-origin-model attribute to load it`,
    });
    this.local = createStore<WidgetLocal>(() => ({ threshold: null, compact: false }));
    const shadow = this.attachShadow({ mode: 'open' });
    // a constructed stylesheet is not an inline <style>, so a strict style-src CSP allows it too
    if ('adoptedStyleSheets' in shadow && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      shadow.adoptedStyleSheets = [sheet];
    } else {
      const style = document.createElement('style');
      style.textContent = css;
      shadow.append(style);
    }
    const mount = document.createElement('div');
    shadow.append(mount);
    this.root = createRoot(mount);
    // every load that fails says so: the widget's own, and the fresh one a crash or a lost GPU starts,
    // whose deeper blocks may fail after the run that met the crash has reported it
    this.session.model.subscribe((m, before) => {
      if (m.status !== 'error' || before.status === 'error') return;
      this.loadedKey = '';
      // a crash during a run is the run's to report, with what its recovery did (its fresh load's
      // failure included)
      const crashed = needsReload(m.failure) || needsReload(this.session.run.getState().failure);
      if (this.generating > 0 && crashed && this.loads === this.loadsAtRun) return;
      // not from inside the load: a listener that calls generate() must get a load of its own
      const say = () => {
        if (this.unsaid !== say) return;
        this.unsaid = null;
        this.fail(m.errorName ?? 'Error', m.error ?? 'the model did not load');
      };
      this.unsaid = say;
      setTimeout(say);
    });
  }

  connectedCallback(): void {
    this.root?.render(
      createElement(WidgetView, {
        session: this.session,
        local: this.local,
        actions: {
          generate: () => void this.generate(),
          cancel: () => this.cancel(),
          setThreshold: (threshold: number) => this.local.setState({ threshold }),
        },
      }),
    );
    this.startLoad();
  }

  disconnectedCallback(): void {
    this.cancel();
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value) return;
    if (name === 'compact') this.local.setState({ compact: value !== null });
    if (name === 'threshold') {
      const t = Number(value);
      // a removed attribute gives θ back to the model; a value that is not a number is reported at generate()
      if (value === null) this.local.setState({ threshold: null });
      else if (Number.isFinite(t)) this.local.setState({ threshold: t });
    }
    if ((name === 'model' || name === 'backend') && this.isConnected) this.startLoad();
  }

  private fail(name: string, message: string): void {
    // one failure may reach both the load and the run: a file that fails after 'load' fails the
    // run waiting on its block too
    const said = `${name}: ${message}`;
    if (said === this.lastErrorSent) return;
    this.lastErrorSent = said;
    this.dispatchEvent(new CustomEvent('error', { detail: { name, message } }));
  }

  private startLoad(): void {
    this.loading = this.load();
  }

  private async load(): Promise<void> {
    const given = this.getAttribute('model');
    const url = given === null || given.trim() === '' ? DEFAULT_MODEL_ID : given.trim();
    const backend = this.getAttribute('backend') ?? 'auto';
    if (!isBackendChoice(backend)) {
      // no model runs on no backend: a load under way stops, and a corrected attribute loads afresh
      this.loads++;
      this.session.unload();
      this.session.model.setState({
        status: 'error',
        error: `backend="${backend}" must be ${BACKEND_CHOICES_TEXT}`,
        errorName: 'ParameterError',
      });
      // said in the next task, as a failed load's is: said from here, an error listener that calls
      // generate() would come back here inside its own call, and one that always retries never return
      await new Promise((resolve) => setTimeout(resolve));
      this.unsaid?.();
      return;
    }
    const key = `${backend} ${url}`;
    if (key === this.loadedKey) return;
    this.loadedKey = key;
    this.unsaid?.(); // the last load's failure, if not said yet, goes before this one
    this.lastErrorSent = '';
    const mine = ++this.loads;
    const current = () => mine === this.loads; // not the key: a load set back to the same one is new
    const whole = this.session.load(url, backend);
    // 'load' means the widget can generate, as the page's ready does: on wasm that is before the
    // deeper blocks are in, so a host that waits for it (or the iframe's adadiff:ready) waits no longer
    await this.canGenerate();
    if (!current()) return; // attributes changed while loading
    const { status, manifest, backend: actual } = this.session.model.getState();
    if (status === 'ready' && manifest && actual)
      this.dispatchEvent(new CustomEvent('load', { detail: { manifest, backend: actual } }));
    await whole;
    this.unsaid?.(); // its failure, if it failed (the constructor's subscription)
  }

  /** The generate parameters the attributes and the slider say; throws on an attribute that is not a number. */
  private params(): Partial<GenerateParams> {
    const batching = this.getAttribute('batching');
    if (batching !== null && !(PASS_BATCHINGS as readonly string[]).includes(batching))
      throw new Error(`attribute batching="${batching}" must be one of ${PASS_BATCHINGS.join(', ')}`);
    const manifest = this.session.model.getState().manifest;
    const scheduleOff = this.getAttribute('guidance-schedule') === 'off';
    return {
      classIndex: numberAttr(this, 'class'),
      seed: numberAttr(this, 'seed'),
      steps: numberAttr(this, 'steps'),
      threshold: this.local.getState().threshold ?? numberAttr(this, 'threshold'),
      batching: (batching ?? undefined) as PassBatching | undefined,
      unconditionalEvery: numberAttr(this, 'uncond-every'),
      guidanceMaxT: numberAttr(this, 'guidance-max-t'),
      ...(scheduleOff && manifest ? withoutGuidanceSchedule(manifest) : {}),
      // the reference, said outright: every block of both passes at every step
      ...(this.hasAttribute('full-depth') ? { mode: 'full' as const } : {}),
    };
  }

  /**
   * Generates with the current attributes and slider. Called before the model has loaded, it waits
   * until the model can generate; after a load that failed, it loads again first. Resolves when the
   * image is done (or the run failed: the error event says why).
   */
  async generate(): Promise<void> {
    this.unsaid?.(); // a failure not said yet goes before this attempt
    this.lastErrorSent = '';
    if (this.session.model.getState().status === 'error') {
      // a load that failed is tried again, as the page's Retry does: the file may be there now
      this.loadedKey = '';
      this.startLoad();
    } else if (!this.isConnected) this.startLoad();
    // the attributes are read once the model is known: the guidance schedule's switch needs its
    // manifest, and an unset θ is the manifest's (reading them before gave θ 0). The manifest is
    // known once the model can generate, before its deeper blocks are in
    await Promise.race([this.loading, this.canGenerate()]);
    if (this.session.model.getState().status === 'error') {
      await this.loading; // whose error event says why, before this call resolves
      return;
    }
    let params: Partial<GenerateParams>;
    try {
      params = this.params();
    } catch (e) {
      this.fail('ParameterError', e instanceof Error ? e.message : String(e));
      return;
    }
    this.generating++;
    this.loadsAtRun = this.loads;
    const result = await this.session
      .generate(params, { onStep: (e) => this.dispatchEvent(new CustomEvent('step', { detail: e })) })
      .finally(() => this.generating--);
    if (result) {
      this.dispatchEvent(new CustomEvent('done', { detail: { image: result.image, totals: result.totals } }));
      return;
    }
    const run = this.session.run.getState();
    if (run.status === 'error') {
      this.fail(run.errorName ?? 'Error', run.error ?? 'the generation failed');
      // a crash or a lost GPU reloaded the model: remember what is loaded now
      const m = this.session.model.getState();
      this.loadedKey = m.status === 'ready' ? `${m.choice} ${m.url}` : '';
    }
  }

  cancel(): void {
    this.session.cancel();
  }

  /** Resolves once the session's model is ready (it can generate) or its load failed. */
  private canGenerate(): Promise<void> {
    return new Promise((resolve) => {
      const settled = (status: string) => status === 'ready' || status === 'error';
      if (settled(this.session.model.getState().status)) return resolve();
      const stop = this.session.model.subscribe((m) => {
        if (!settled(m.status)) return;
        stop();
        resolve();
      });
    });
  }
}

export function defineAdaDiffGenerator(name = 'adadiff-generator'): void {
  if (!customElements.get(name)) customElements.define(name, AdaDiffGenerator);
}

declare global {
  interface HTMLElementTagNameMap {
    'adadiff-generator': AdaDiffGenerator;
  }
}
