import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { loadModelIntent } from './actions';
import './styles.css';

// the model starts loading (the worker, onnxruntime, the files) before React's first render, not after it
void loadModelIntent();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
