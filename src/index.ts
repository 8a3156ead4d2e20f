// Public API of mufasa-gpu. The path data takes through the engine, top-down:
//   gpu/ (device → pool → kernels → stream) → tensor/ (tensors, tape, ops) → nn/ (layers, Adam)
// The MUFASA model, data loaders and trainer arrive with their issues (model/, data/, train/).
export { initEngine, engine, Engine } from './gpu/engine.ts';
export type { EngineOptions } from './gpu/engine.ts';
export { getDevice } from './gpu/device.ts';
export type { AdapterKind, DeviceOptions, Gpu } from './gpu/device.ts';
export { OutOfMemoryError } from './gpu/pool.ts';
export type { PoolStats } from './gpu/pool.ts';
export * from './tensor/index.ts';
export { Adam, AdamW } from './nn/adam.ts';
export type { AdamOptions, OptimizerOptions, ParamGroup } from './nn/adam.ts';
export { Linear } from './nn/linear.ts';
export * as init from './nn/init.ts';
