export { Tensor, Storage, TensorError, ShapeError } from './tensor.ts';
export type { DType } from './tensor.ts';
export { tidy, keep } from './scope.ts';
export { noGrad, isGradEnabled, backward, record } from './tape.ts';
export type { BackwardFn, BackwardOptions } from './tape.ts';
export * from './ops/index.ts';
