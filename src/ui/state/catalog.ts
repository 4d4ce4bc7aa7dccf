/** The shipped models the picker lists: the build's models/index.json, read once. */
import { create } from 'zustand';
import { MODELS_INDEX_FILE, type ModelsIndex, type ModelsIndexEntry } from '../../session/model-url';
import { shippedModelsUrl } from './session';

export interface CatalogState {
  models: ModelsIndexEntry[];
  /** Why the list could not be read (the picker then shows the loaded model alone). */
  error: string | null;
}

export const useCatalog = create<CatalogState>(() => ({ models: [], error: null }));

export async function readCatalog(fetchFn: typeof fetch = fetch): Promise<void> {
  const url = new URL(MODELS_INDEX_FILE, shippedModelsUrl());
  try {
    const res = await fetchFn(url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const index = (await res.json()) as ModelsIndex;
    useCatalog.setState({ models: index.models, error: null });
  } catch (e) {
    useCatalog.setState({ models: [], error: `${url.href}: ${e instanceof Error ? e.message : String(e)}` });
  }
}
