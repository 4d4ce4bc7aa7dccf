/**
 * <adadiff-generator>: the generator as a custom element for other people's pages.
 * Attributes: model, threshold, class, steps, seed, backend, compact, allow-cross-origin-model.
 * Events: step, done, error (CustomEvent; detail carries the data). Methods: generate(), cancel().
 * Styles live in a shadow root, so neither the host's CSS nor ours leaks across.
 */
import { createElement } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { GenerateParams } from '../runtime';
import { needsReload, type BackendChoice } from '../worker/client';
import { sharedModel, type SharedModel } from './shared-engine';
import { WidgetView, type WidgetState } from './view';
import css from './widget.css?inline';

// a variable, not a literal: this path is resolved at run time, next to the built module
const DEFAULT_MODEL_PATH = '../models/fmnist-uvit13/';

export const ATTRIBUTES = ['model', 'threshold', 'class', 'steps', 'seed', 'backend', 'compact'] as const;

function numberAttr(el: HTMLElement, name: string): number | undefined {
  const raw = el.getAttribute(name);
  if (raw === null || raw.trim() === '') return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new Error(`attribute ${name}="${raw}" is not a number`);
  return v;
}

/** http(s) only; another origin than the page's or the widget's needs an explicit opt-in. */
export function resolveModelUrl(el: HTMLElement): string {
  const given = el.getAttribute('model');
  const widgetBase = new URL(DEFAULT_MODEL_PATH, import.meta.url);
  if (given === null || given.trim() === '') return widgetBase.href;
  let url: URL;
  try {
    url = new URL(given, el.ownerDocument.baseURI);
  } catch {
    throw new Error(`model="${given}" is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`model="${given}" must be an http(s) URL`);
  }
  const trusted = [el.ownerDocument.location?.origin, widgetBase.origin];
  if (!trusted.includes(url.origin) && !el.hasAttribute('allow-cross-origin-model')) {
    throw new Error(
      `model="${given}" is on another origin (${url.origin}); add the allow-cross-origin-model attribute to load it`,
    );
  }
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

export class AdaDiffGenerator extends HTMLElement {
  static observedAttributes = [...ATTRIBUTES];

  private readonly store: StoreApi<WidgetState>;
  private root: Root | null = null;
  private model: SharedModel | null = null;
  private abort: AbortController | null = null;
  private loadedKey = '';

  constructor() {
    super();
    this.store = createStore<WidgetState>(() => ({
      status: 'loading',
      loaded: 0,
      total: 0,
      manifest: null,
      backend: '',
      threshold: 0,
      image: null,
      rows: [],
      steps: 0,
      totals: null,
      error: null,
      compact: false,
    }));
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
  }

  connectedCallback(): void {
    this.root?.render(
      createElement(WidgetView, {
        store: this.store,
        actions: {
          generate: () => void this.generate(),
          cancel: () => this.cancel(),
          setThreshold: (threshold: number) => this.store.setState({ threshold }),
        },
      }),
    );
    void this.load();
  }

  disconnectedCallback(): void {
    this.cancel();
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value) return;
    if (name === 'compact') this.store.setState({ compact: value !== null });
    if (name === 'threshold') {
      const t = Number(value);
      if (value !== null && Number.isFinite(t)) this.store.setState({ threshold: t });
    }
    if ((name === 'model' || name === 'backend') && this.isConnected) void this.load();
  }

  private fail(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    const name = e instanceof Error ? e.name : 'Error';
    this.store.setState({ status: this.model ? 'ready' : 'error', error: message });
    this.dispatchEvent(new CustomEvent('error', { detail: { name, message } }));
  }

  private async load(): Promise<void> {
    let url: string;
    try {
      url = resolveModelUrl(this);
    } catch (e) {
      this.model = null;
      this.fail(e);
      return;
    }
    const backend = (this.getAttribute('backend') ?? 'auto') as BackendChoice;
    if (!['auto', 'webgpu', 'wasm'].includes(backend)) {
      this.fail(new Error(`backend="${backend}" must be auto, webgpu or wasm`));
      return;
    }
    const key = `${backend} ${url}`;
    if (key === this.loadedKey) return;
    this.loadedKey = key;
    this.model = null;
    this.store.setState({ status: 'loading', error: null });
    try {
      const model = await sharedModel(url, backend, (loaded, total) =>
        this.store.setState({ loaded, total }),
      );
      if (this.loadedKey !== key) return; // attributes changed while loading
      this.model = model;
      const attrTheta = numberAttr(this, 'threshold');
      this.store.setState({
        status: 'ready',
        manifest: model.info.manifest,
        backend: model.info.backend === 'webgpu' ? 'WebGPU' : 'wasm (CPU)',
        threshold: attrTheta ?? model.info.manifest.defaults.threshold,
      });
      this.dispatchEvent(
        new CustomEvent('load', { detail: { manifest: model.info.manifest, backend: model.info.backend } }),
      );
    } catch (e) {
      if (this.loadedKey === key) {
        this.loadedKey = '';
        this.fail(e);
      }
    }
  }

  /** Generates with the current attributes and slider; resolves when done (or rejects). */
  async generate(): Promise<void> {
    if (!this.model) {
      this.fail(new Error('the model is not loaded yet (or failed to load)'));
      return;
    }
    this.cancel();
    const abort = new AbortController();
    this.abort = abort;
    let params: Partial<GenerateParams>;
    try {
      const threshold = this.store.getState().threshold;
      params = {
        classIndex: numberAttr(this, 'class'),
        seed: numberAttr(this, 'seed'),
        steps: numberAttr(this, 'steps'),
        threshold,
        mode: threshold === 0 ? 'full' : 'adaptive',
        preview: true,
      };
    } catch (e) {
      this.fail(e);
      return;
    }
    this.store.setState({
      status: 'running',
      rows: [],
      totals: null,
      error: null,
      steps: params.steps ?? this.model.info.manifest.defaults.steps,
    });
    try {
      const result = await this.model.generate(
        params,
        (e) => {
          this.store.setState((s) => ({
            rows: [...s.rows, { t: e.t, passes: e.passes, scheduleSkipped: e.scheduleSkipped }],
            totals: e.totals,
            image: e.preview ?? s.image,
          }));
          this.dispatchEvent(new CustomEvent('step', { detail: e }));
        },
        abort.signal,
      );
      this.store.setState({ status: 'ready', image: result.image, totals: result.totals });
      this.dispatchEvent(new CustomEvent('done', { detail: { image: result.image, totals: result.totals } }));
    } catch (e) {
      if (e instanceof Error && e.name === 'CancelledError') this.store.setState({ status: 'ready' });
      else if (needsReload(e)) {
        // the shared engine is gone (crash, lost GPU): report it, then load afresh
        this.model = null;
        this.loadedKey = '';
        this.fail(e);
        void this.load();
      } else this.fail(e);
    } finally {
      if (this.abort === abort) this.abort = null;
    }
  }

  cancel(): void {
    this.abort?.abort();
  }
}

export function defineAdaDiffGenerator(name = 'adadiff-generator'): void {
  if (!customElements.get(name)) customElements.define(name, AdaDiffGenerator);
}
