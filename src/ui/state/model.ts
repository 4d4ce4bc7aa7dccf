/** The loaded model: download progress, the backend that really runs, and load errors. */
import { create } from 'zustand';
import type { Manifest } from '../../runtime';
import type { Backend } from '../../runtime';

export type ModelStatus = 'idle' | 'loading' | 'ready' | 'error';

export interface ModelState {
  status: ModelStatus;
  url: string;
  loaded: number;
  total: number;
  /** Compiling sessions after the download. */
  phase: 'download' | 'prepare';
  manifest: Manifest | null;
  backend: Backend | null;
  backendReason: string;
  downloadedBytes: number;
  cacheNotice: string | null;
  loadMs: number;
  error: string | null;
  errorName: string | null;
}

export const useModel = create<ModelState>(() => ({
  status: 'idle',
  url: '',
  loaded: 0,
  total: 0,
  phase: 'download',
  manifest: null,
  backend: null,
  backendReason: '',
  downloadedBytes: 0,
  cacheNotice: null,
  loadMs: 0,
  error: null,
  errorName: null,
}));
