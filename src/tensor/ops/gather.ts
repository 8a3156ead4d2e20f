// Row gather (embedding lookup) and its adjoint, the row scatter-add, both with deterministic kernels.
//
// Why a GPU sort in backward: WGSL has no float atomics, and DESIGN.md §3 wants the same seed to give
// the same loss curve, so d(table) cannot be a racy scatter. The (index, position) pairs are sorted by
// a bitonic network (shaders/sort.wgsl: log2(P)·(log2(P)+1)/2 dispatches for P = n rounded up to a power
// of two, all in the one open compute pass, no CPU wait), a CSR row pointer is binary-searched, and
// one thread per (row, column) sums its run in position order (shaders/gather.wgsl). The summation
// order is fixed, so gradients are bit-identical run to run, and untouched rows get exact zeros.
//
// Each thread handles COLS = 4 adjacent columns (one index / row-pointer read serves four outputs;
// summation order per column unchanged). Measured on llvmpipe-GL, 2 cores shared with other jobs so
// noisy: V=10000, D=64, 6400 indices, gather 4.7–5.6 ms with 1 column per thread vs 2.3–2.5 ms with 4;
// scatterAddRows 16–20 ms vs 10–12 ms.
//
// Out-of-range indices: tensors keep no CPU copy, so the kernels cannot report them; an index outside
// [0, V) gathers a zero row and receives no gradient. `indexTensor` validates on the CPU before upload.

import { engine as defaultEngine } from '../../gpu/engine.ts';
import type { Engine } from '../../gpu/engine.ts';
import { Tensor, TensorError, ShapeError, checkShape, sizeOf } from '../tensor.ts';
import { record } from '../tape.ts';
import { tensor } from './creation.ts';
import { bindable, fillZero } from './layout.ts';
import { dispatch1d, engineOf, assertDType, fmt } from './util.ts';

const COLS = 4;

/**
 * Upload indices as an i32 tensor of `shape` after checking 0 ≤ idx < vocab on the CPU; throws naming
 * the first bad position and value. (The gather kernel itself treats out-of-range indices as zero
 * rows, silently: use this for data from outside.)
 */
export function indexTensor(data: ArrayLike<number>, shape: readonly number[], vocab: number, opts: { engine?: Engine } = {}): Tensor {
  checkShape(shape, 'indexTensor');
  if (!Number.isInteger(vocab) || vocab < 0 || vocab > 0x7fffffff) throw new TensorError(`indexTensor: vocab ${vocab} is not an int32 size`);
  if (sizeOf(shape) !== data.length) throw new ShapeError('indexTensor', `${data.length} values do not fill shape ${fmt(shape)} (${sizeOf(shape)} elements)`);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!(Number.isInteger(v) && v >= 0 && v < vocab)) {
      throw new TensorError(`indexTensor: index ${v} at position ${i}${shape.length > 1 ? ` (${fmt(unflatten(i, shape))} of shape ${fmt(shape)})` : ''} is out of range [0, ${vocab})`);
    }
  }
  return tensor(Int32Array.from(data), shape, { dtype: 'i32', engine: opts.engine ?? defaultEngine() });
}

function unflatten(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = i % shape[k];
    i = Math.floor(i / shape[k]);
  }
  return idx;
}

/**
 * out[i, :] = table[indices[i], :] for `table` [V, D] (f32) and `indices` of any shape S (i32);
 * the result is [...S, D]. Indices outside [0, V) give zero rows and no gradient.
 */
export function gatherRows(table: Tensor, indices: Tensor): Tensor {
  const op = 'gatherRows';
  const e = engineOf(op, table, indices);
  assertDType(op, table, 'f32');
  assertDType(op, indices, 'i32');
  if (table.rank !== 2) throw new ShapeError(op, `table must be [V, D], got ${fmt(table.shape)} (indices ${fmt(indices.shape)})`);
  const [vocab, d] = table.shape;
  const out = Tensor.empty([...indices.shape, d], 'f32', e);
  if (out.size > 0) {
    const tb = bindable(table);
    const ib = bindable(indices);
    const threads = indices.size * Math.ceil(d / COLS);
    dispatch1d(e, 'gather', 'gather_rows', { COLS }, { table: tb.binding(op), indices: ib.binding(op), out: out.binding(op) }, { n: out.size, d, vocab }, threads);
    if (tb !== table) tb.dispose();
    if (ib !== indices) ib.dispose();
  }
  return record(op, [table, indices], out, (saver) => {
    const is = saver.save(indices);
    return (g) => [scatterRowsRaw(e, g, is, vocab, d), null];
  });
}

/**
 * The adjoint of gatherRows: out[v, :] = Σ_{i : indices[i] = v} values[i, :], for `values` [...S, D]
 * and `indices` S; the result is [vocab, D]. Deterministic (sums in position order); indices outside
 * [0, vocab) are skipped.
 */
export function scatterAddRows(values: Tensor, indices: Tensor, vocab: number): Tensor {
  const op = 'scatterAddRows';
  engineOf(op, values, indices);
  assertDType(op, values, 'f32');
  assertDType(op, indices, 'i32');
  if (values.rank !== indices.rank + 1 || indices.shape.some((s, i) => s !== values.shape[i])) {
    throw new ShapeError(op, `values ${fmt(values.shape)} must be [...indices.shape, D] for indices ${fmt(indices.shape)}`);
  }
  if (!Number.isInteger(vocab) || vocab < 0 || vocab > 0x7fffffff) throw new ShapeError(op, `vocab ${vocab} is not an int32 size`);
  const d = values.shape[values.rank - 1];
  const out = scatterRowsRaw(values.engine, values, indices, vocab, d);
  return record(op, [values, indices], out, (saver) => {
    const is = saver.save(indices);
    return (g) => [gatherRows(g, is), null];
  });
}

/** [vocab, d] row sums of `g` ([n…, d]) grouped by `indices` (n…). No autograd. */
function scatterRowsRaw(e: Engine, g: Tensor, indices: Tensor, vocab: number, d: number): Tensor {
  const op = 'scatterRows';
  const out = Tensor.empty([vocab, d], 'f32', e);
  if (out.size === 0) return out;
  const n = indices.size;
  if (n === 0 || d === 0) {
    fillZero(out);
    return out;
  }
  const ib = bindable(indices);
  const { pairs, rowptr } = rowIndex(e, ib, vocab);
  if (ib !== indices) ib.dispose();
  const gb = bindable(g);
  dispatch1d(
    e,
    'gather',
    'scatter_rows',
    { COLS },
    { sorted: pairs.binding(op), rowptr: rowptr.binding(op), gy: gb.binding(op), gtable: out.binding(op) },
    { n: out.size, d },
    vocab * Math.ceil(d / COLS),
  );
  if (gb !== g) gb.dispose();
  pairs.dispose();
  rowptr.dispose();
  return out;
}

/**
 * Sorted (index, position) pairs of a bindable i32 index tensor (padded to a power of two with
 * sentinels; out-of-range indices become sentinels) and the CSR row pointer [vocab + 1] into them.
 */
function rowIndex(e: Engine, indices: Tensor, vocab: number): { pairs: Tensor; rowptr: Tensor } {
  const op = 'scatterRows';
  const n = indices.size;
  const padded = nextPow2(n);
  const pairs = Tensor.empty([padded, 2], 'i32', e);
  dispatch1d(e, 'gather', 'make_pairs', {}, { indices: indices.binding(op), pairs: pairs.binding(op) }, { n, padded, vocab }, padded);
  bitonicSortPairs(pairs);
  const rowptr = Tensor.empty([vocab + 1], 'i32', e);
  dispatch1d(e, 'gather', 'row_pointers', {}, { sorted: pairs.binding(op), rowptr_out: rowptr.binding(op) }, { n, vocab }, vocab + 1);
  return { pairs, rowptr };
}


function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Sort a [P, 2] i32 tensor of (key, position) pairs in place, ascending by key then position (both
 * compared as u32), P a power of two. All in the open compute pass: bitonic_local sorts each block of
 * 2·WG pairs in workgroup memory, then each merge k > 2·WG is its stages j ≥ 2·WG one dispatch each
 * (bitonic_step) and the rest in one bitonic_local (shaders/sort.wgsl says why).
 */
export function bitonicSortPairs(pairs: Tensor): void {
  const op = 'bitonicSortPairs';
  const e = engineOf(op, pairs);
  const p = pairs.shape[0];
  if (pairs.rank !== 2 || pairs.shape[1] !== 2 || (p & (p - 1)) !== 0 || pairs.dtype !== 'i32') {
    throw new ShapeError(op, `expects an i32 [P, 2] tensor with P a power of two, got ${pairs}`);
  }
  if (p < 2) return;
  const b = pairs.binding(op);
  // A power of two: 2·wg vec2u (4 KiB at 256) fit every adapter's workgroup memory (≥ 16 KiB).
  const wg = 2 ** Math.floor(Math.log2(Math.min(e.wg1d, p / 2)));
  const size = 2 * wg;
  const local = e.kernels.get('sort', 'bitonic_local', { WG: wg });
  const localGrid = e.grid(p / size);
  e.stream.dispatch(local, { pairs: b }, { k: 0, j: 0, half: p / 2 }, localGrid);
  for (let k = 2 * size; k <= p; k *= 2) {
    for (let j = k / 2; j >= size; j /= 2) {
      dispatch1d(e, 'sort', 'bitonic_step', {}, { pairs: b }, { k, j, half: p / 2 }, p / 2);
    }
    e.stream.dispatch(local, { pairs: b }, { k, j: 0, half: p / 2 }, localGrid);
  }
}
