// Reductions: sum and mean over any set of axes (shaders/reduce.wgsl), and the row-kernel launch
// configuration that softmax and norm share.
//
// The input is merged into alternating kept/reduced axis groups (size-1 axes dropped, neighbours of the
// same kind fused), so a reduction over [0, 2] of [7, 33, 5] is two passes and a reduce-all is one pass
// over a single row. Each reduced group is a view [outer, r, inner]: inner == 1 takes the row kernel
// (T threads per row, see rowConfig), inner > 1 one thread per output looping over r.
//
// Splitting r into chunks (two stages) when there are few outputs: a reduce-all as one row keeps one
// workgroup (one core of a CPU adapter, one SM of a GPU) busy whatever the size; with ≥ TARGET_ROWS
// row outputs (or TARGET_THREADS column threads) both cores here and a real GPU's SMs get work, and
// the second stage reads only the partials (≤ 1/MIN_CHUNK of the input).
//
// Backward (nothing saved): the gradient broadcast back over the reduced axes, ÷ r for mean.

import type { Engine } from '../../gpu/engine.ts';
import { Tensor, ShapeError, TensorError } from '../tensor.ts';
import { record } from '../tape.ts';
import { bindable } from './layout.ts';
import { engineOf, assertDType, normAxis, pad8, fmt, dispatch1d } from './util.ts';

/** An axis, several axes, or undefined for all. Negative axes count from the end. */
export type Axes = number | readonly number[] | undefined;

const TARGET_ROWS = 256;
const TARGET_THREADS = 16384;
/** Fewest elements one row-kernel output sums per chunk. */
const ROW_CHUNK = 4096;
/** Fewest elements one column-kernel thread sums per chunk. */
const MIN_CHUNK = 64;
/**
 * Most loop iterations one thread may run: Mesa llvmpipe silently stops an invocation's loops after
 * 65535 iterations in all (gallivm's loop limiter, shared by every loop of the invocation; measured
 * with two sequential loops, and nested ones: both stop at ~65535). Longer rows/columns are chunked
 * (one more stage), so results are unchanged below this. softmax and norm use it too.
 */
export const MAX_LOOP = 32768;

// ------------------------------------------------------------------------------ row kernel launch

/** How the row kernels (reduce_rows, softmax, norm) spread a row over threads. */
export interface RowConfig {
  /** Most threads sharing one row (a power of two): 1 = a thread per row, no barriers. */
  maxThreadsPerRow: number;
  /** Row elements per thread before another thread joins the row. */
  elemsPerThread: number;
  /** Invocations per workgroup (a power of two); a workgroup holds WG / T rows. */
  workgroup: number;
}

/**
 * CPU adapters ('gl' = llvmpipe, 'swiftshader'): a thread per row. Measured here (softmax forward over
 * 1M elements, rows × d): a barrier costs far more than the row's arithmetic, e.g. d = 8 took 5.8 ms
 * with T = 1 against 4128 ms with one 256-thread workgroup per row on llvmpipe (SwiftShader 45 ms
 * against 72.6 s), d = 33 8 ms against 921 ms, d = 1000 3.8 ms against 28.8 ms; only d = 20000
 * (52 rows) was faster with 32 threads per row (4.9 ms against 7.2 ms). Other adapters (possibly real
 * GPUs; not measured in this repo yet): rows shared by up to 256 threads at ≥ 8 elements each, the
 * usual warp-/block-per-row layout. A starting point: setRowConfig installs another.
 */
export function pickRowConfig(e: Engine): RowConfig {
  const max = maxPow2Workgroup(e);
  if (e.gpu.kind === 'gl' || e.gpu.kind === 'swiftshader' || e.gpu.software) return { maxThreadsPerRow: 1, elemsPerThread: Infinity, workgroup: Math.min(64, max) };
  return { maxThreadsPerRow: max, elemsPerThread: 8, workgroup: max };
}

function maxPow2Workgroup(e: Engine): number {
  const lim = Math.min(256, e.device.limits.maxComputeInvocationsPerWorkgroup, e.device.limits.maxComputeWorkgroupSizeX);
  let max = 1;
  while (max * 2 <= lim) max *= 2;
  return max;
}

const rowConfigs = new WeakMap<Engine, RowConfig>();

/** The row-kernel configuration on `e` (pickRowConfig's unless one was installed). */
export function rowConfig(e: Engine): RowConfig {
  let c = rowConfigs.get(e);
  if (!c) rowConfigs.set(e, (c = pickRowConfig(e)));
  return c;
}

/** Install a row-kernel configuration for `e` (kernel lab; tests of the other layout); null restores the default. */
export function setRowConfig(e: Engine, cfg: RowConfig | null): void {
  if (!cfg) {
    rowConfigs.delete(e);
    return;
  }
  const pow2 = (v: number) => Number.isInteger(v) && v >= 1 && (v & (v - 1)) === 0;
  if (!pow2(cfg.maxThreadsPerRow) || !pow2(cfg.workgroup) || cfg.workgroup > maxPow2Workgroup(e) || !(cfg.elemsPerThread >= 1)) {
    throw new TensorError(`setRowConfig: ${JSON.stringify(cfg)}: maxThreadsPerRow and workgroup must be powers of two, workgroup ≤ ${maxPow2Workgroup(e)}, elemsPerThread ≥ 1`);
  }
  rowConfigs.set(e, cfg);
}

/**
 * Override constants {WG, T} and the workgroup grid for `rows` rows of length `d`. `loops`: how many
 * passes over its row a thread makes in the kernel; more threads share a row than the configuration
 * asks when one thread would otherwise run past llvmpipe's 65535 loop iterations (MAX_LOOP), so
 * results change only for rows that long (they were wrong on llvmpipe before).
 */
export function rowLaunch(e: Engine, rows: number, d: number, loops = 1): { constants: { WG: number; T: number }; grid: [number, number] } {
  const c = rowConfig(e);
  const want = Math.min(c.maxThreadsPerRow, c.workgroup, Math.ceil(d / c.elemsPerThread));
  let t = 1;
  while (t < want) t *= 2;
  t = Math.min(t, c.maxThreadsPerRow, c.workgroup);
  const perThread = Math.floor((2 * MAX_LOOP - 1000) / loops);
  while (Math.ceil(d / t) > perThread && t < c.workgroup) t *= 2;
  if (Math.ceil(d / t) > perThread && e.gpu.kind === 'gl') {
    throw new TensorError(`row of ${d} elements: more than llvmpipe's 65535 loop iterations per thread even with ${t} threads per row (at most ${t * perThread})`);
  }
  return { constants: { WG: c.workgroup, T: t }, grid: e.grid(Math.ceil(rows / (c.workgroup / t))) };
}

interface Plan {
  /** Merged input dims and whether each group is reduced. */
  dims: number[];
  reduced: boolean[];
  outShape: number[];
  /** Elements summed into each output. */
  r: number;
}

function planReduce(op: string, shape: readonly number[], axis: Axes, keepDims: boolean): Plan {
  const rank = shape.length;
  const list = axis === undefined ? shape.map((_, i) => i) : typeof axis === 'number' ? [axis] : [...axis];
  const red = new Array<boolean>(rank).fill(false);
  for (const a of list) {
    const k = normAxis(op, a, rank);
    if (red[k]) throw new ShapeError(op, `axis ${a} is given twice in [${list.join(', ')}] (input ${fmt(shape)})`);
    red[k] = true;
  }
  const outShape = keepDims ? shape.map((d, i) => (red[i] ? 1 : d)) : shape.filter((_, i) => !red[i]);
  const dims: number[] = [];
  const reduced: boolean[] = [];
  let r = 1;
  for (let i = 0; i < rank; i++) {
    if (red[i]) r *= shape[i];
    if (shape[i] === 1) continue;
    if (reduced.length && reduced[reduced.length - 1] === red[i]) dims[dims.length - 1] *= shape[i];
    else {
      dims.push(shape[i]);
      reduced.push(red[i]);
    }
  }
  return { dims, reduced, outShape, r };
}

const prod = (v: readonly number[]) => v.reduce((a, b) => a * b, 1);

/** Sum `src` viewed as [outer, r, inner] over r, times `scale`; the result has `shape`. */
function reduceStage(e: Engine, src: Tensor, outer: number, r: number, inner: number, scale: number, shape: readonly number[]): Tensor {
  const op = 'reduce';
  if (inner === 1) {
    let chunks = 1;
    if (outer < TARGET_ROWS && r > ROW_CHUNK) chunks = Math.min(Math.ceil(r / ROW_CHUNK), Math.floor(TARGET_ROWS / outer));
    chunks = Math.max(chunks, Math.ceil(r / MAX_LOOP));
    const chunkLen = Math.max(1, Math.ceil(r / chunks));
    chunks = Math.max(1, Math.ceil(r / chunkLen));
    const out = Tensor.empty(chunks > 1 ? [outer * chunks] : shape, 'f32', e);
    const { constants, grid } = rowLaunch(e, outer * chunks, chunkLen, 1);
    const k = e.kernels.get('reduce', 'reduce_rows', constants);
    e.stream.dispatch(k, { x: src.binding(op), y: out.binding(op) }, { rows: outer * chunks, r, chunks, chunk_len: chunkLen, scale: chunks > 1 ? 1 : scale }, grid);
    if (chunks === 1) return out;
    const res = reduceStage(e, out, outer, chunks, 1, scale, shape);
    out.dispose();
    return res;
  }
  const outputs = outer * inner;
  let chunks = 1;
  if (outputs < TARGET_THREADS && r >= 2 * MIN_CHUNK) chunks = Math.min(Math.floor(r / MIN_CHUNK), Math.floor(TARGET_THREADS / outputs));
  chunks = Math.max(chunks, Math.ceil(r / MAX_LOOP));
  const chunkLen = Math.max(1, Math.ceil(r / chunks));
  chunks = Math.max(1, Math.ceil(r / chunkLen));
  const out = Tensor.empty(chunks > 1 ? [outer * chunks * inner] : shape, 'f32', e);
  dispatch1d(
    e,
    'reduce',
    'reduce_cols',
    {},
    { x: src.binding(op), y: out.binding(op) },
    { n: outputs * chunks, r, inner, chunks, chunk_len: chunkLen, scale: chunks > 1 ? 1 : scale },
    outputs * chunks,
  );
  if (chunks === 1) return out;
  const res = reduceStage(e, out, outer, chunks, inner, scale, shape);
  out.dispose();
  return res;
}

function reduceOp(op: 'sum' | 'mean', x: Tensor, axis: Axes, keepDims: boolean): Tensor {
  const e = engineOf(op, x);
  assertDType(op, x, 'f32');
  const { dims, reduced, outShape, r } = planReduce(op, x.shape, axis, keepDims);
  const scale = op === 'mean' ? 1 / r : 1;
  const xb = bindable(x);
  const groups = reduced.map((red, k) => (red ? k : -1)).filter((k) => k >= 0);
  let out: Tensor;
  if (groups.length === 0) {
    // Only size-1 axes reduced: a scaled copy (r == 1, or r == 0 for an empty input).
    out = reduceStage(e, xb, 1, 1, x.size, scale, outShape);
  } else {
    const cur = [...dims];
    let src = xb;
    out = xb;
    for (let q = groups.length - 1; q >= 0; q--) {
      const k = groups[q];
      const last = q === 0;
      out = reduceStage(e, src, prod(cur.slice(0, k)), cur[k], prod(cur.slice(k + 1)), last ? scale : 1, last ? outShape : [prod(cur.filter((_, i) => i !== k))]);
      if (src !== xb) src.dispose();
      src = out;
      cur[k] = 1;
    }
  }
  if (xb !== x) xb.dispose();
  const inShape = x.shape;
  return record(op, [x], out, () => (g) => {
    const gb = bindable(g);
    const gx = Tensor.empty(inShape, 'f32', e);
    const outDims = dims.map((d, k) => (reduced[k] ? 1 : d));
    const gStrides: number[] = new Array<number>(dims.length).fill(0);
    let acc = 1;
    for (let k = dims.length - 1; k >= 0; k--) {
      gStrides[k] = reduced[k] ? 0 : acc;
      acc *= outDims[k];
    }
    dispatch1d(
      e,
      'reduce',
      'reduce_backward',
      {},
      { g: gb.binding(op), gx: gx.binding(op) },
      { n: gx.size, rank: dims.length, scale, shape: pad8(dims, 1), g_strides: pad8(gStrides) },
      gx.size,
    );
    if (gb !== g) gb.dispose();
    return [gx];
  });
}

/** Σ over `axis` (a number, negative allowed; an array of axes; undefined: all axes). */
export function sum(x: Tensor, axis?: Axes, keepDims = false): Tensor {
  return reduceOp('sum', x, axis, keepDims);
}

/** Mean over `axis` (as in `sum`); NaN for an empty reduction, as in NumPy. */
export function mean(x: Tensor, axis?: Axes, keepDims = false): Tensor {
  return reduceOp('mean', x, axis, keepDims);
}
