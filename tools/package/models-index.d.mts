import type { Plugin } from 'vite';
import type { ModelsIndex } from '../../src/session/model-url';

export function buildModelsIndex(dir: string, first: string): ModelsIndex;
export function modelsIndex(options: { dir?: string; first: string }): Plugin;
