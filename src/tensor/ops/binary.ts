// Broadcasting binary ops (NumPy rules). Backward: one kernel per operand that sums the gradient over
// the dims that operand was broadcast along (shaders/elementwise.wgsl `binary_backward`).

import { Tensor, ShapeError, TensorError } from '../tensor.ts';
import type { BufferBinding } from '../../gpu/stream.ts';
import { record } from '../tape.ts';
import { bindable } from './layout.ts';
import { dispatch1d, engineOf, assertDType, pad8, sameShape, fmt } from './util.ts';

const CODES = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5 } as const;
export type BinaryOp = keyof typeof CODES;

export function broadcastShape(op: string, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new ShapeError(op, `shapes ${fmt(a)} and ${fmt(b)} do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Strides of `shape` (contiguous) aligned to `outShape`, 0 where broadcast. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const r = outShape.length;
  const strides = new Array<number>(r).fill(0);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const k = r - shape.length + i;
    strides[k] = shape[i] === 1 && outShape[k] !== 1 ? 0 : acc;
    acc *= shape[i];
  }
  return strides;
}

/**
 * Merge adjacent output dims along which both operands are laid out alike (both contiguous across
 * the pair, or both broadcast), and drop extent-1 dims. The kernels spend most of their time in
 * integer div/mod per dim: [64, 200, 3, 64] ⊙ [64, 200, 3, 1] (SAL's gate) becomes [38400, 64] ⊙
 * [38400, 1], measured 420 ms → see the commit for the after figure on llvmpipe.
 */
export function coalesceDims(shape: readonly number[], sa: readonly number[], sb: readonly number[]): { shape: number[]; sa: number[]; sb: number[] } {
  const out = { shape: [] as number[], sa: [] as number[], sb: [] as number[] };
  for (let k = 0; k < shape.length; k++) {
    if (shape[k] === 1) continue;
    const p = out.shape.length - 1;
    if (p >= 0 && out.sa[p] === sa[k] * shape[k] && out.sb[p] === sb[k] * shape[k]) {
      out.shape[p] *= shape[k];
      out.sa[p] = sa[k];
      out.sb[p] = sb[k];
    } else {
      out.shape.push(shape[k]);
      out.sa.push(sa[k]);
      out.sb.push(sb[k]);
    }
  }
  return out;
}

/** Left-pad a coalesced layout to exactly 3 dims for the kernels' RANK3 fast path (null if rank > 3). */
export function asRank3(co: { shape: number[]; sa: number[]; sb: number[] }): { shape: number[]; sa: number[]; sb: number[] } | null {
  if (co.shape.length > 3) return null;
  const pad = 3 - co.shape.length;
  const lead = (v: number[], x: number) => [...new Array(pad).fill(x), ...v];
  return { shape: lead(co.shape, 1), sa: lead(co.sa, 0), sb: lead(co.sb, 0) };
}

function binaryOp(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const e = engineOf(op, a, b);
  assertDType(op, a, 'f32');
  assertDType(op, b, 'f32');
  const shape = broadcastShape(op, a.shape, b.shape);
  const ab = bindable(a);
  const bb = bindable(b);
  const c = Tensor.empty(shape, 'f32', e);
  const same = sameShape(a.shape, b.shape);
  const co0 = coalesceDims(shape, broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape));
  const co = asRank3(co0) ?? co0;
  dispatch1d(
    e,
    'elementwise',
    'binary',
    { BOP: CODES[op], SAME_SHAPE: same, RANK3: co.shape.length === 3 },
    { a: ab.binding(op), b: bb.binding(op), c: c.binding(op) },
    { n: c.size, rank: co.shape.length, shape: pad8(co.shape, 1), a_strides: pad8(co.sa), b_strides: pad8(co.sb) },
    c.size,
  );
  if (ab !== a) ab.dispose();
  if (bb !== b) bb.dispose();
  return record(op, [a, b], c, (saver) => {
    // add/sub gradients do not depend on the operands; the kernel still binds them, so save them anyway
    // only when needed.
    const needsValues = op !== 'add' && op !== 'sub';
    const as = needsValues ? saver.save(a) : null;
    const bs = needsValues ? saver.save(b) : null;
    // d(a + b)/da, d(a + b)/db and d(a − b)/da are g itself where the operand was not broadcast: no
    // kernel, no buffer (the tape gives each slot its own view). Measured on llvmpipe: a MUFASA
    // training step spent ~10 ms per such copy of a [12800, 64] gradient.
    const passes = (t: Tensor, which: number) => (op === 'add' || (op === 'sub' && which === 0)) && sameShape(t.shape, shape);
    return (g) => {
      if ([a, b].every((t, which) => !t.requiresGrad || passes(t, which))) return [a.requiresGrad ? g : null, b.requiresGrad ? g : null];
      const gb = bindable(g);
      const av = as ? bindable(as) : gb;
      const bv = bs ? bindable(bs) : gb;
      const co0 = coalesceDims(shape, broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape));
      const co = asRank3(co0) ?? co0;
      const zeros = co.shape.map(() => 0);
      const grads = [a, b].map((t, which) => {
        if (!t.requiresGrad) return null;
        if (passes(t, which)) return g;
        const gt = Tensor.empty(t.shape, 'f32', e);
        // The operand's extent on each coalesced dim: 1 where it was broadcast (stride 0).
        const own = which === 0 ? co.sa : co.sb;
        const opShape = co.shape.map((d, k) => (own[k] === 0 ? 1 : d));
        dispatch1d(
          e,
          'elementwise',
          'binary_backward',
          { BOP: CODES[op], WHICH: which, RANK3: co.shape.length === 3 },
          { g: gb.binding(op), a: av.binding(op), b: bv.binding(op), gop: gt.binding(op) },
          {
            n: t.size,
            rank: co.shape.length,
            r: t.size === 0 ? 0 : c.size / t.size,
            shape: pad8(co.shape, 1),
            op_shape: pad8(opShape, 1),
            a_strides: pad8(as ? co.sa : zeros),
            b_strides: pad8(bs ? co.sb : zeros),
          },
          t.size,
        );
        return gt;
      });
      if (av !== as && av !== gb) av.dispose();
      if (bv !== bs && bv !== gb) bv.dispose();
      if (gb !== g) gb.dispose();
      return grads;
    };
  });
}

export const add = (a: Tensor, b: Tensor) => binaryOp('add', a, b);
export const sub = (a: Tensor, b: Tensor) => binaryOp('sub', a, b);
export const mul = (a: Tensor, b: Tensor) => binaryOp('mul', a, b);
export const div = (a: Tensor, b: Tensor) => binaryOp('div', a, b);
export const maximum = (a: Tensor, b: Tensor) => binaryOp('maximum', a, b);
export const minimum = (a: Tensor, b: Tensor) => binaryOp('minimum', a, b);

/** Inputs one add_n dispatch sums (t0 … t6 in elementwise.wgsl; with the output, WebGPU's minimum of 8 storage buffers). */
const ADD_N_MAX = 7;

/**
 * ((ts[0] + ts[1]) + ts[2]) + …: the sum of n ≥ 1 tensors of one shape, up to 7 per dispatch, the same
 * bits as chained `add`s in one pass over each input. The tape sums every gradient contribution of a
 * tensor with it: SAL's H feeds 8 products, whose 7 chained adds re-read the running sum each time.
 */
export function addN(ts: readonly Tensor[]): Tensor {
  const op = 'addN';
  if (ts.length === 0) throw new TensorError(`${op}: no tensors given`);
  const e = engineOf(op, ...ts);
  for (const t of ts) {
    assertDType(op, t, 'f32');
    if (!sameShape(t.shape, ts[0].shape)) throw new ShapeError(op, `shapes ${ts.map((x) => fmt(x.shape)).join(', ')} differ`);
  }
  let acc: Tensor | null = ts.length === 1 ? ts[0].view(ts[0].shape, ts[0].strides, ts[0].offset) : null;
  for (let i = acc ? 1 : 0; i < ts.length; ) {
    // The running sum (from the previous dispatch) comes first, so the order stays left to right.
    const group = acc ? [acc, ...ts.slice(i, i + ADD_N_MAX - 1)] : ts.slice(i, i + ADD_N_MAX);
    i += acc ? group.length - 1 : group.length;
    const bound = group.map((t) => bindable(t));
    const out = Tensor.empty(ts[0].shape, 'f32', e);
    const buffers: Record<string, BufferBinding> = { tsum: out.binding(op) };
    for (let k = 0; k < ADD_N_MAX; k++) buffers[`t${k}`] = bound[Math.min(k, bound.length - 1)].binding(op); // unread past SUM_N
    dispatch1d(e, 'elementwise', 'add_n', { SUM_N: group.length }, buffers, { n: out.size }, out.size);
    bound.forEach((b, k) => b !== group[k] && b.dispose());
    acc?.dispose();
    acc = out;
  }
  return record(op, [...ts], acc!, () => (g) => ts.map(() => g));
}

/** acc += x in place (acc must be a contiguous, aligned, exclusively owned buffer: optimizer gradients). */
export function accumulateInto(acc: Tensor, x: Tensor): void {
  const e = engineOf('accumulateInto', acc, x);
  if (!sameShape(acc.shape, x.shape)) throw new ShapeError('accumulateInto', `shapes ${fmt(acc.shape)} and ${fmt(x.shape)} differ`);
  const xb = bindable(x);
  dispatch1d(e, 'elementwise', 'accumulate', {}, { dst: acc.binding('accumulateInto'), src: xb.binding('accumulateInto') }, { n: acc.size, value: 0 }, acc.size);
  if (xb !== x) xb.dispose();
}
