// Unary elementwise ops. Forward and backward share one kernel family (shaders/elementwise.wgsl,
// `unary` / `unary_backward`); `useOutput` says whether the derivative is cheapest from y (sigmoid:
// y(1−y)) or from x (gelu), so only that one tensor is saved for backward.

import { Tensor } from '../tensor.ts';
import { record } from '../tape.ts';
import { bindable } from './layout.ts';
import { dispatch1d, engineOf, assertDType } from './util.ts';

const OPS = {
  relu: { code: 0, useOutput: false },
  gelu: { code: 1, useOutput: false },
  sigmoid: { code: 2, useOutput: true },
  tanh: { code: 3, useOutput: true },
  exp: { code: 4, useOutput: true },
  log: { code: 5, useOutput: false },
  neg: { code: 6, useOutput: false },
  sqrt: { code: 7, useOutput: true },
  square: { code: 8, useOutput: false },
  affine: { code: 9, useOutput: false },
  pow: { code: 10, useOutput: false },
  abs: { code: 11, useOutput: false },
} as const;
export type UnaryOp = keyof typeof OPS;

function unaryOp(op: UnaryOp, x: Tensor, a = 0, b = 0): Tensor {
  const e = engineOf(op, x);
  assertDType(op, x, 'f32');
  const xb = bindable(x);
  const y = Tensor.empty(x.shape, 'f32', e);
  const { code, useOutput } = OPS[op];
  dispatch1d(e, 'elementwise', 'unary', { OP: code }, { x: xb.binding(op), y: y.binding(op) }, { n: x.size, a, b }, x.size);
  if (xb !== x) xb.dispose();
  return record(op, [x], y, (saver) => {
    const s = saver.save(useOutput ? y : x);
    return (g) => {
      const gb = bindable(g);
      const gx = Tensor.empty(x.shape, 'f32', e);
      const sb = bindable(s);
      dispatch1d(e, 'elementwise', 'unary_backward', { OP: code }, { s: sb.binding(op), gy: gb.binding(op), gx: gx.binding(op) }, { n: x.size, a, b }, x.size);
      if (sb !== s) sb.dispose();
      if (gb !== g) gb.dispose();
      return [gx];
    };
  });
}

export const relu = (x: Tensor) => unaryOp('relu', x);
/** GELU, tanh approximation (as in BERT/GPT-2): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export const gelu = (x: Tensor) => unaryOp('gelu', x);
export const sigmoid = (x: Tensor) => unaryOp('sigmoid', x);
export const tanh = (x: Tensor) => unaryOp('tanh', x);
export const exp = (x: Tensor) => unaryOp('exp', x);
export const log = (x: Tensor) => unaryOp('log', x);
export const neg = (x: Tensor) => unaryOp('neg', x);
export const sqrt = (x: Tensor) => unaryOp('sqrt', x);
export const square = (x: Tensor) => unaryOp('square', x);
export const abs = (x: Tensor) => unaryOp('abs', x);
/** x^p for a scalar p. */
export const pow = (x: Tensor, p: number) => unaryOp('pow', x, p);
/** a·x + b for scalars a, b (scalar add, sub, mul, div are this). */
export const affine = (x: Tensor, a: number, b: number) => unaryOp('affine', x, a, b);
export const addScalar = (x: Tensor, s: number) => affine(x, 1, s);
export const subScalar = (x: Tensor, s: number) => affine(x, 1, -s);
export const mulScalar = (x: Tensor, s: number) => affine(x, s, 0);
export const divScalar = (x: Tensor, s: number) => affine(x, 1 / s, 0);
