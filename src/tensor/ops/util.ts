// Shared plumbing for op wrappers: dispatching 1-D elementwise kernels and packing shapes for uniforms.

import type { Engine } from '../../gpu/engine.ts';
import type { BufferBinding } from '../../gpu/stream.ts';
import { Tensor, TensorError, ShapeError } from '../tensor.ts';
import { DTypeError, DeviceMismatchError } from '../../errors.ts';

export const MAX_RANK = 8;

/** Pad to 8 entries for a uniform array<vec4u, 2>. */
export function pad8(v: readonly number[], fill = 0): number[] {
  if (v.length > MAX_RANK) throw new TensorError(`rank ${v.length} > ${MAX_RANK} is not supported`);
  const out = [...v];
  while (out.length < MAX_RANK) out.push(fill);
  return out;
}

/** Dispatch an elementwise kernel with one thread per element of `n`. */
export function dispatch1d(
  e: Engine,
  shader: string,
  entry: string,
  constants: Record<string, number | boolean>,
  buffers: Record<string, GPUBuffer | BufferBinding>,
  params: Record<string, number | number[] | boolean>,
  n: number,
): void {
  if (n === 0) return;
  const wg = e.wg1d;
  const k = e.kernels.get(shader, entry, { WG: wg, ...constants });
  const [x, y] = e.grid(Math.ceil(n / wg));
  e.stream.dispatch(k, buffers, params, [x, y]);
}

/** The engine all inputs share; a tensor from another engine is an error naming the op. */
export function engineOf(op: string, ...ts: Tensor[]): Engine {
  const e = ts[0].engine;
  for (const t of ts) {
    t.assertAlive(op);
    if (t.engine !== e) throw new DeviceMismatchError(op, `${t} lives on another device (engine) than ${ts[0]}`);
  }
  return e;
}

export function assertDType(op: string, t: Tensor, dtype: 'f32' | 'i32'): void {
  if (t.dtype !== dtype) throw new DTypeError(op, dtype, t.dtype, `${t}`);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Normalise a possibly negative axis. */
export function normAxis(op: string, axis: number, shapeOrRank: readonly number[] | number): number {
  const rank = typeof shapeOrRank === 'number' ? shapeOrRank : shapeOrRank.length;
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    const what = typeof shapeOrRank === 'number' ? `rank ${rank}` : `${fmt(shapeOrRank)} (rank ${rank})`;
    throw new ShapeError(op, `axis ${axis} is out of range for ${what}`);
  }
  return a;
}
