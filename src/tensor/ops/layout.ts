// Views and copies: reshape, transpose, slice (views, no copy), contiguous (the strided copy kernel),
// concat. Backward of a view is the inverse view of the gradient.

import { Tensor, ShapeError, sizeOf, contiguousStrides } from '../tensor.ts';
import { record } from '../tape.ts';
import { dispatch1d, engineOf, pad8, fmt, normAxis } from './util.ts';
import { coalesceDims, asRank3 } from './binary.ts';
import { zeros } from './creation.ts';

/** Copy `src` (any strides) into `dst` at element `dstOffset` with `dstStrides`. */
function copyInto(src: Tensor, dst: Tensor, dstStrides: readonly number[], dstOffset: number): void {
  const e = engineOf('copy', src, dst);
  const co0 = coalesceDims(src.shape, src.strides, dstStrides);
  const co = asRank3(co0);
  dispatch1d(
    e,
    'elementwise',
    'copy_strided',
    { RANK3: co !== null },
    { csrc: { buffer: src.storage.buffer, offset: 0, size: src.storage.bytes }, cdst: { buffer: dst.storage.buffer, offset: 0, size: dst.storage.bytes } },
    {
      n: src.size,
      rank: co ? 3 : src.rank,
      src_offset: src.offset,
      dst_offset: dstOffset,
      shape: pad8(co ? co.shape : src.shape, 1),
      src_strides: pad8(co ? co.sa : src.strides),
      dst_strides: pad8(co ? co.sb : dstStrides),
    },
    src.size,
  );
}

/** A contiguous copy of `t` at offset 0 (always a copy: callers that can use `t` as is call `bindable`). */
export function contiguous(t: Tensor): Tensor {
  engineOf('contiguous', t);
  const out = Tensor.empty(t.shape, t.dtype, t.engine);
  copyInto(t, out, out.strides, out.offset);
  return record('contiguous', [t], out, () => (g) => [g]);
}

/** `t` itself if a kernel can bind it, else a contiguous copy; the caller disposes the copy. */
export function bindable(t: Tensor): Tensor {
  return t.isBindable() ? t : contiguous(t);
}

export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  engineOf('reshape', t);
  const s = [...shape];
  const neg = s.indexOf(-1);
  if (s.filter((d) => d === -1).length > 1) throw new ShapeError('reshape', `cannot reshape ${fmt(t.shape)} to ${fmt(shape)}: at most one -1`);
  if (neg >= 0) {
    const rest = sizeOf(s.filter((_, i) => i !== neg));
    if (rest === 0 || t.size % rest !== 0) throw new ShapeError('reshape', `cannot reshape ${fmt(t.shape)} to ${fmt(shape)}`);
    s[neg] = t.size / rest;
  }
  if (s.some((d) => !Number.isInteger(d) || d < 0)) throw new ShapeError('reshape', `cannot reshape ${fmt(t.shape)} to ${fmt(shape)}: bad dimension`);
  if (sizeOf(s) !== t.size) throw new ShapeError('reshape', `cannot reshape ${fmt(t.shape)} (${t.size} elements) to ${fmt(shape)}`);
  const src = t.isContiguous() ? t : contiguous(t);
  const out = src.view(s, contiguousStrides(s), src.offset);
  if (src !== t) src.dispose();
  const inShape = t.shape;
  return record('reshape', [t], out, () => (g) => [reshape(g, inShape)]);
}

/** Permute dimensions (default: reverse them). A view: no data moves. */
export function transpose(t: Tensor, perm?: readonly number[]): Tensor {
  engineOf('transpose', t);
  const p = perm ?? t.shape.map((_, i) => t.rank - 1 - i);
  if (p.length !== t.rank || [...p].sort((a, b) => a - b).some((v, i) => v !== i)) {
    throw new ShapeError('transpose', `perm [${p.join(', ')}] is not a permutation of ${t.rank} axes (input ${fmt(t.shape)})`);
  }
  const out = t.view(
    p.map((i) => t.shape[i]),
    p.map((i) => t.strides[i]),
    t.offset,
  );
  const inv = new Array<number>(p.length);
  p.forEach((v, i) => (inv[v] = i));
  return record('transpose', [t], out, () => (g) => [transpose(g, inv)]);
}

/** Swap the last two axes. */
export function T(t: Tensor): Tensor {
  if (t.rank < 2) throw new ShapeError('T', `needs at least 2 axes, got ${fmt(t.shape)}`);
  const p = t.shape.map((_, i) => i);
  [p[t.rank - 2], p[t.rank - 1]] = [p[t.rank - 1], p[t.rank - 2]];
  return transpose(t, p);
}

/** Elements [start, end) along `axis`: a view. */
export function slice(t: Tensor, axis: number, start: number, end: number): Tensor {
  engineOf('slice', t);
  const ax = normAxis('slice', axis, t.shape);
  const d = t.shape[ax];
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= d)) {
    throw new ShapeError('slice', `range [${start}, ${end}) is out of bounds for axis ${axis} of ${fmt(t.shape)}`);
  }
  const shape = [...t.shape];
  shape[ax] = end - start;
  const out = t.view(shape, t.strides, t.offset + start * t.strides[ax]);
  const inShape = t.shape;
  return record('slice', [t], out, () => (g) => {
    // Gradient: zeros with g written at [start, end).
    const gi = Tensor.empty(inShape, 'f32', g.engine);
    fillZero(gi);
    const gc = g.isContiguous() ? g : contiguous(g);
    copyInto(gc, gi, gi.strides, start * gi.strides[ax]);
    if (gc !== g) gc.dispose();
    return [gi];
  });
}

export function fillZero(t: Tensor): void {
  const b = t.binding('fill');
  dispatch1d(t.engine, 'elementwise', 'fill', {}, { dst: b }, { n: t.size, value: 0 }, t.size);
}

/** Join tensors along `axis` (all other dimensions equal). */
export function concat(ts: readonly Tensor[], axis: number): Tensor {
  if (ts.length === 0) throw new ShapeError('concat', 'no tensors given');
  const e = engineOf('concat', ...ts);
  const ax = normAxis('concat', axis, ts[0].shape);
  for (const t of ts) {
    if (t.rank !== ts[0].rank || t.shape.some((d, i) => i !== ax && d !== ts[0].shape[i]) || t.dtype !== ts[0].dtype) {
      throw new ShapeError('concat', `shapes ${ts.map((x) => fmt(x.shape) + ' ' + x.dtype).join(', ')} differ outside axis ${axis}`);
    }
  }
  const shape = [...ts[0].shape];
  shape[ax] = ts.reduce((s, t) => s + t.shape[ax], 0);
  const out = Tensor.empty(shape, ts[0].dtype, e);
  let at = 0;
  const starts: number[] = [];
  for (const t of ts) {
    starts.push(at);
    copyInto(t, out, out.strides, at * out.strides[ax]);
    at += t.shape[ax];
  }
  return record('concat', [...ts], out, () => (g) =>
    ts.map((t, i) => {
      const v = slice(g, ax, starts[i], starts[i] + t.shape[ax]);
      const c = contiguous(v);
      v.dispose();
      return c;
    }),
  );
}

/** `t` with zero columns appended to its last axis up to `width`, as a differentiable concat. */
export function padLastDim(t: Tensor, width: number): Tensor {
  const d = t.shape[t.rank - 1];
  if (width < d) throw new ShapeError('padLastDim', `width ${width} is below the last axis of ${fmt(t.shape)}`);
  const z = zeros([...t.shape.slice(0, -1), width - d], { engine: t.engine });
  const out = concat([t, z], t.rank - 1);
  z.dispose(); // concat's backward needs only the shapes
  return out;
}
