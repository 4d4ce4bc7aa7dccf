/**
 * The page's generator session: its own worker (tests hand in another engine), models on the
 * page's origin without a question, and the visitor asked before a model from another site
 * (consent.ts).
 */
import { useStore } from 'zustand';
import type { StoreApi } from 'zustand/vanilla';
import { privateEngine, type EngineSource } from '../../session/engines';
import { createSession } from '../../session/session';
import { createEngineClient, type EngineClient } from '../../worker/client';
import { askVisitor } from './consent';

let makeEngine: () => EngineClient = () => createEngineClient();
let preset: EngineClient | null = null;
const nextEngine = () => {
  const e = preset ?? makeEngine();
  preset = null;
  return e;
};
let engines: EngineSource = privateEngine(nextEngine);

/** The engine the page starts with: main.tsx's, its worker started early, or a test's (null: the real worker on first use). */
export function setEngine(e: EngineClient | null): void {
  preset = e;
  engines = privateEngine(nextEngine);
}

/** Where a new engine comes from after a crash (tests: a scripted one; null: the real worker). */
export function setEngineFactory(factory: (() => EngineClient) | null): void {
  makeEngine = factory ?? (() => createEngineClient());
}

/** The page's shipped models: models/ beside the page (Vite copies public/models there). */
export function shippedModelsUrl(): string {
  const page = typeof location === 'undefined' ? 'http://localhost/' : location.href;
  return new URL(`${import.meta.env.BASE_URL}models/`, page).href;
}

export const pageSession = createSession({
  engines: { load: (...args) => engines.load(...args) },
  base: () => (typeof location === 'undefined' ? 'http://localhost/' : location.href),
  shippedModels: () => shippedModelsUrl(),
  trustedOrigins: () => [typeof location === 'undefined' ? undefined : location.origin],
  consent: (origin) => askVisitor(origin),
});

/** A vanilla store as a React hook with the store's own methods, as zustand's create returns. */
export function bind<T>(api: StoreApi<T>) {
  function useBound(): T;
  function useBound<U>(selector: (s: T) => U): U;
  function useBound<U>(selector?: (s: T) => U) {
    return useStore(api, selector ?? ((s: T) => s as unknown as U));
  }
  return Object.assign(useBound, api);
}
