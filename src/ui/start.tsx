import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { loadModelIntent } from './actions';
import './styles.css';

/** Starts the page: the model's load, then React's first render. */
export function startPage(root: HTMLElement): void {
  // the model starts loading (the worker, onnxruntime, the files) before React's first render, not after it
  void loadModelIntent();
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
