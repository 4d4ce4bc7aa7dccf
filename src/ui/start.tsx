import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import type { EngineClient } from '../worker/client';
import { loadModelIntent, setEngine } from './actions';
import './styles.css';

/**
 * Starts the page on `engine` (its worker started already; null: one made at the load): the model's
 * load, then React's first render.
 */
export function startPage(root: HTMLElement, engine: EngineClient | null): void {
  setEngine(engine);
  // the model starts loading (onnxruntime, the files) before React's first render, not after it
  void loadModelIntent();
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
