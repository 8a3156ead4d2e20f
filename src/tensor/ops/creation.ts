// Tensors from CPU data and constant fills.

import { engine as defaultEngine } from '../../gpu/engine.ts';
import type { Engine } from '../../gpu/engine.ts';
import { Tensor, ShapeError, sizeOf, checkShape } from '../tensor.ts';
import type { DType } from '../tensor.ts';
import { dispatch1d, fmt } from './util.ts';

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  engine?: Engine;
  name?: string;
}

/** Upload `data` as a tensor of `shape` (default: 1-D). */
export function tensor(data: ArrayLike<number>, shape?: readonly number[], opts: CreateOptions = {}): Tensor {
  const s = shape ?? [data.length];
  checkShape(s, 'tensor');
  if (sizeOf(s) !== data.length) throw new ShapeError('tensor', `${data.length} values do not fill shape ${fmt(s)} (${sizeOf(s)} elements)`);
  const dtype = opts.dtype ?? (data instanceof Int32Array ? 'i32' : 'f32');
  const t = Tensor.empty(s, dtype, opts.engine ?? defaultEngine());
  const typed = dtype === 'f32' ? Float32Array.from(data) : Int32Array.from(data);
  if (dtype === 'i32') {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isInteger(data[i]) || typed[i] !== data[i]) throw new ShapeError('tensor', `value ${data[i]} at index ${i} is not an int32`);
    }
  }
  if (typed.length) t.engine.stream.write(t.storage.buffer, 0, typed);
  t.requiresGrad = opts.requiresGrad ?? false;
  if (opts.name) t.name = opts.name;
  return t;
}

export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  checkShape(shape, 'full');
  const t = Tensor.empty(shape, 'f32', opts.engine ?? defaultEngine());
  dispatch1d(t.engine, 'elementwise', 'fill', {}, { dst: t.binding('full') }, { n: t.size, value }, t.size);
  t.requiresGrad = opts.requiresGrad ?? false;
  if (opts.name) t.name = opts.name;
  return t;
}

export const zeros = (shape: readonly number[], opts: CreateOptions = {}) => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts: CreateOptions = {}) => full(shape, 1, opts);

/** A new tensor holding the same values, with no gradient history. */
export function clone(t: Tensor): Tensor {
  t.assertAlive('clone');
  const out = Tensor.empty(t.shape, t.dtype, t.engine);
  t.engine.stream.copy(t.binding('clone').buffer, t.binding().offset!, out.storage.buffer, 0, t.size * 4);
  return out;
}
