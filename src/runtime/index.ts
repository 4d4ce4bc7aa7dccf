/** The runtime's public surface: pure TypeScript, no DOM; runs in Node and in the worker. */
export * from './errors';
export * from './manifest';
export * from './loader';
export * from './model-source';
export * from './integrity';
export * from './noise';
export * from './noise-schedule';
export * from './samplers';
export * from './exit-rule';
export * from './params';
export * from './accounting';
export * from './generate';
export * from './segments';
export { OrtExecutor, type Feeds, type OutputLocation } from './executor';
export * from './image';
export type { Denoiser, ForwardPass } from './denoiser';
