// mufasa-gpu's browser entry (package.json "exports" → "browser"): everything that runs on
// `navigator.gpu` without a file system. src/index.ts (the Node entry) adds the file loaders,
// checkpoints, the trainer and embedding export on top of this. Nothing here may import a node:
// module (test/api/browser-entry.test.ts bundles it for the browser to check).
//
// The public surface (issue 7): anything not exported here or from src/index.ts is internal.

// Errors: every one names the bad input; all extend MufasaError.
export {
  MufasaError,
  TensorError,
  ShapeError,
  DTypeError,
  DisposedTensorError,
  DeviceMismatchError,
  OutOfMemoryError,
  DeviceLostError,
  DeviceError,
  NonFiniteError,
  DataFormatError,
  CheckpointError,
  KernelError,
} from './errors.ts';
export type { NonFiniteWhere } from './errors.ts';

// Engine: our own device (Dawn in Node, navigator.gpu in the browser) or the caller's GPUDevice.
export { Engine, initEngine, engine, setEngine } from './gpu/engine.ts';
export type { EngineOptions } from './gpu/engine.ts';
export { getDevice } from './gpu/device.ts';
export type { AdapterKind, DeviceOptions, Gpu } from './gpu/device.ts';
export type { PoolStats } from './gpu/pool.ts';
export { setShaderSourceLoader } from './gpu/kernels.ts';

// Tensors, autograd, scopes and every op (InfoNCE and the sparse-attention ops included).
export { Tensor, tidy, keep, noGrad, isGradEnabled, backward } from './tensor/index.ts';
export type { DType, BackwardOptions } from './tensor/index.ts';
export { grad } from './tensor/grad.ts';
export * from './tensor/ops/index.ts';
export type { CreateOptions } from './tensor/ops/creation.ts';

// Optimizers and layers.
export { Adam, AdamW } from './nn/adam.ts';
export type { AdamOptions, OptimizerOptions, ParamGroup, AdamState } from './nn/adam.ts';
export { Linear } from './nn/linear.ts';
export { seededRandom, xavierUniform, normalParam, zerosParam } from './nn/init.ts';

// The MUFASA model (and its parts), configured by plain objects.
export { Mufasa, defaultMufasaConfig } from './model/mufasa.ts';
export type { MufasaConfig } from './model/mufasa.ts';
export { MFL, defaultMflConfig } from './model/mfl.ts';
export type { MflConfig, ModalityInput, MflLosses } from './model/mfl.ts';
export { SAL, defaultSalConfig } from './model/sal.ts';
export type { SalConfig } from './model/sal.ts';
export type { SequenceModel, SequenceBatch } from './model/sequence.ts';

// Data from arrays, splits and batches (pure CPU).
export { datasetFromArrays } from './data/arrays.ts';
export type { ArrayInteractions, ArrayItems, ArrayModality } from './data/arrays.ts';
export type { Dataset, Modality } from './data/dataset.ts';
export { leaveOneOut, zeroShotSplit, orderTies } from './data/split.ts';
export type { EvalCase, LeaveOneOut, ZeroShotSplit, TieOrder } from './data/split.ts';
export { makeBatches } from './data/batches.ts';
export type { Batch, BatchOptions } from './data/batches.ts';

// Full-catalog ranking metrics on the GPU.
export { evaluate, finalize, addSums, emptySums, topKItems, rankTargets, DEFAULT_KS } from './train/metrics.ts';
export type { EvalBatch, EvalOptions, Exclusions, MetricSums } from './train/metrics.ts';
