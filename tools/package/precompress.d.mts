import type { Plugin } from 'vite';

export function precompressDir(dir: string, options?: { skip?: string[] }): Promise<number>;
export function precompress(options?: { skip?: string[] }): Plugin;
