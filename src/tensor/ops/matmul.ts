// Matrix products: matmul (2-D and batched, with a broadcast shared weight) and linear (x·W + bias with
// a fused activation), forward and backward here, kernels in shaders/matmul.wgsl.
//
// Why it looks like this:
// - Transposes are free: an operand whose last two strides are swapped (T(x), or Aᵀ/Bᵀ in a backward)
//   is read in place by the TRANS_A/TRANS_B kernel variants; only views that are neither row- nor
//   column-contiguous are copied. So dA = dC·Bᵀ and dB = Aᵀ·dC launch one kernel each, no copies.
// - A shared weight's gradient over a batch is one 2-D product, dW = A_flatᵀ·dC_flat with A viewed as
//   [B·M, K]: no batched result and no reduction. Only when A cannot be viewed that way (a transposed
//   batched view) is the batched product summed over B by the deterministic column_sum kernel.
// - Bias and activation are fused into the matmul's epilogue (DESIGN.md §3: memory passes cost
//   ~1.2–2.9 GB/s on the CPU adapters); the activation's derivative is taken from the saved output.
//   GELU is not fused: callers use linear(x, w, b, 'none') and then gelu() (its derivative needs x).
// - Kernel variant per adapter (DESIGN.md §3): register blocking on CPU adapters, shared-memory tiles on
//   real GPUs; see pickMatmulConfig.

import type { Engine } from '../../gpu/engine.ts';
import type { BufferBinding } from '../../gpu/stream.ts';
import { Tensor, ShapeError, TensorError } from '../tensor.ts';
import { record, noGrad } from '../tape.ts';
import { bindable, contiguous } from './layout.ts';
import { dispatch1d, engineOf, assertDType, fmt } from './util.ts';

export type Activation = 'none' | 'relu' | 'sigmoid' | 'tanh';
const ACT_CODES: Record<Activation, number> = { none: 0, relu: 1, sigmoid: 2, tanh: 3 };

// ----------------------------------------------------------------------------------- kernel choice

export type MatmulConfig =
  /** matmul_rb: each thread computes tm×tn outputs (4 or 8 each), wgX×wgY threads per workgroup. */
  | { variant: 'register'; wgX: number; wgY: number; tm: 4 | 8; tn: 4 | 8 }
  /** matmul_tiled: wg×wg threads, r×r outputs each (r ≤ 4), k-tiles of depth bk in workgroup memory. */
  | { variant: 'tiled'; wg: number; r: number; bk: number };

/**
 * The kernel variant and tile sizes for an engine. CPU adapters ('gl' = llvmpipe, 'swiftshader') get
 * the barrier-free register-blocked kernel: DESIGN.md §3 measured it 1.5–3× faster than shared-memory
 * tiling there (shaders/matmul.wgsl has this version's numbers); 8×8 outputs per thread in 8×8
 * workgroups is the tile device.ts's adapter timings were taken with. Everything else ('gpu', 'browser', 'external':
 * possibly real hardware) gets classic 64×64 shared-memory tiles, shrunk to fit the device's limits.
 * Starting points only: the kernel lab (bench/) tunes them and can install its pick with
 * setMatmulConfig.
 */
export function pickMatmulConfig(e: Engine): MatmulConfig {
  const lim = e.device.limits;
  const maxInv = lim.maxComputeInvocationsPerWorkgroup;
  if (e.gpu.kind === 'gl' || e.gpu.kind === 'swiftshader' || e.gpu.software) {
    const wg = maxInv >= 64 && lim.maxComputeWorkgroupSizeX >= 8 && lim.maxComputeWorkgroupSizeY >= 8 ? 8 : 4;
    return { variant: 'register', wgX: wg, wgY: wg, tm: 8, tn: 8 };
  }
  let wg = 16;
  while (wg > 4 && (wg * wg > maxInv || wg > lim.maxComputeWorkgroupSizeX || wg > lim.maxComputeWorkgroupSizeY)) wg /= 2;
  const r = 4;
  let bk = 16;
  while (bk > 4 && 2 * bk * wg * r * 4 > lim.maxComputeWorkgroupStorageSize) bk /= 2;
  return { variant: 'tiled', wg, r, bk };
}

const configs = new WeakMap<Engine, MatmulConfig>();

/** The configuration matmul uses on `e` (pickMatmulConfig's, unless one was installed). */
export function matmulConfig(e: Engine): MatmulConfig {
  let c = configs.get(e);
  if (!c) configs.set(e, (c = pickMatmulConfig(e)));
  return c;
}

/** Install a configuration for `e` (kernel lab, tests of the other variant); null restores the default. */
export function setMatmulConfig(e: Engine, cfg: MatmulConfig | null): void {
  if (cfg) configs.set(e, cfg);
  else configs.delete(e);
}

// ------------------------------------------------------------------------ operands read in place

/** A logical [batch, rows, cols] matrix read from `src`'s storage without a copy. */
interface Mat {
  src: Tensor;
  /** Element (r, c) at off + r + c·ld instead of off + r·ld + c. */
  trans: boolean;
  ld: number;
  off: number;
  /** Elements between batches; 0 when batch = 1 or broadcast. */
  bstride: number;
  batch: number;
  rows: number;
  cols: number;
  /** A contiguous copy this op made (the view was neither row- nor column-contiguous): dispose after. */
  copy: Tensor | null;
}

/** Describe a rank-2/3 tensor as a Mat, copying only if neither of its last two axes has stride 1. */
function asMat(t: Tensor): Mat {
  const r = t.rank;
  const rows = t.shape[r - 2];
  const cols = t.shape[r - 1];
  const sr = t.strides[r - 2];
  const sc = t.strides[r - 1];
  const batch = r === 3 ? t.shape[0] : 1;
  const bstride = batch > 1 ? t.strides[0] : 0;
  // A dimension of extent 1 never moves its index, so its stride is free: 0 keeps VEC alignment, and a
  // single row per batch takes the batch stride so that [B, 1, K] still flattens to [B, K] rows.
  if (sc === 1 || cols === 1) return { src: t, trans: false, ld: rows === 1 ? bstride : sr, off: t.offset, bstride, batch, rows, cols, copy: null };
  if (sr === 1 || rows === 1) return { src: t, trans: true, ld: cols === 1 ? 0 : sc, off: t.offset, bstride, batch, rows, cols, copy: null };
  const c = noGrad(() => contiguous(t));
  return { ...asMat(c), copy: c };
}

/** The same data read as its transpose (swap the last two axes): flips the layout flag, no copy. */
function transposed(m: Mat): Mat {
  return { ...m, trans: !m.trans, rows: m.cols, cols: m.rows };
}

/** [batch, rows, cols] as one [batch·rows, cols] matrix, if the batches are stacked rows. */
function flatRows(m: Mat): Mat | null {
  if (m.batch === 1) return m;
  if (m.trans || m.bstride !== m.rows * m.ld) return null;
  return { ...m, rows: m.batch * m.rows, batch: 1, bstride: 0 };
}

/** Rows of `t` ([..., K] → [rows, K]) as a Mat. */
function asRows(t: Tensor): Mat {
  if (t.rank === 2) return asMat(t);
  const K = t.shape[t.rank - 1];
  const rows = t.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  if (t.isContiguous()) return { src: t, trans: false, ld: K, off: t.offset, bstride: 0, batch: 1, rows, cols: K, copy: null };
  if (t.rank === 3) {
    const m = asMat(t);
    const f = flatRows(m);
    if (f) return f;
    if (m.copy) m.copy.dispose();
  }
  const c = noGrad(() => contiguous(t));
  return { ...asRows(c), copy: c };
}

function release(...ms: (Mat | null)[]): void {
  for (const m of ms) if (m?.copy) m.copy.dispose();
}

/** The whole storage buffer (elements are addressed by offset in the kernel), sized to whole vec4s. */
function wholeBuffer(t: Tensor): BufferBinding {
  const size = Math.ceil(t.storage.bytes / 16) * 16;
  if (size > t.storage.buffer.size) throw new TensorError(`matmul: internal: storage of ${t} is not padded to 16 bytes`);
  return { buffer: t.storage.buffer, offset: 0, size };
}

/** The operand's contiguous direction can be read as whole, aligned vec4s. */
function vec4Aligned(m: Mat): boolean {
  return m.off % 4 === 0 && m.ld % 4 === 0 && m.bstride % 4 === 0;
}

/**
 * out[z] = epilogue(A[z]·B[z]) for z < batch into the contiguous `out` ([batch, M, N] elements).
 * A is [M, K], B is [K, N]; an operand with batch 1 is broadcast. A product with few output tiles and
 * a long K (a weight gradient Xᵀ·dY over every row of a batch) is split along K (splitK).
 */
function gemm(op: string, e: Engine, A: Mat, B: Mat, batch: number, out: Tensor, bias: Tensor | null = null, act = 0): void {
  const M = A.rows;
  const K = A.cols;
  const N = B.cols;
  if (M === 0 || N === 0 || batch === 0) return;
  const t = outputTile(matmulConfig(e));
  const splits = batch === 1 && !bias && act === 0 ? splitK(e, Math.ceil(N / t.cols) * Math.ceil(M / t.rows), K) : 1;
  if (splits > 1) {
    gemmSplitK(op, e, A, B, out, splits);
    return;
  }
  gemmDispatch(op, e, gemmKernel(e, A, B, !!bias, act), A, B, batch, out, bias, K, A.batch === 1 ? 0 : A.bstride, B.batch === 1 ? 0 : B.bstride, 0);
}

/** Output rows × columns one workgroup computes. */
function outputTile(cfg: MatmulConfig): { rows: number; cols: number } {
  if (cfg.variant === 'register') return { rows: cfg.wgY * cfg.tm, cols: cfg.wgX * cfg.tn };
  return { rows: cfg.wg * cfg.r, cols: cfg.wg * cfg.r };
}

interface GemmKernel {
  kernel: ReturnType<Engine['kernels']['get']>;
  rowsPerWg: number;
  colsPerWg: number;
}

function gemmKernel(e: Engine, A: Mat, B: Mat, hasBias: boolean, act: number): GemmKernel {
  const cfg = matmulConfig(e);
  const common = { TRANS_A: A.trans, TRANS_B: B.trans, VEC_A: vec4Aligned(A), VEC_B: vec4Aligned(B), HAS_BIAS: hasBias, ACT: act };
  const t = outputTile(cfg);
  const kernel =
    cfg.variant === 'register'
      ? e.kernels.get('matmul', 'matmul_rb', { ...common, RB_WG_X: cfg.wgX, RB_WG_Y: cfg.wgY, TM: cfg.tm, TN: cfg.tn })
      : e.kernels.get('matmul', 'matmul_tiled', { ...common, TL_WG: cfg.wg, TL_R: cfg.r, TL_BK: cfg.bk });
  return { kernel, rowsPerWg: t.rows, colsPerWg: t.cols };
}

/** Batches batch0 … batch0 + batch − 1 of the product, K deep, batch z reading A and B at z·stride. */
function gemmDispatch(op: string, e: Engine, k: GemmKernel, A: Mat, B: Mat, batch: number, out: Tensor, bias: Tensor | null, K: number, strideA: number, strideB: number, batch0: number): void {
  const M = A.rows;
  const N = B.cols;
  const biasBinding = bias ? bias.binding(op) : { buffer: A.src.storage.buffer, offset: 0, size: 4 };
  const buffers = { a: wholeBuffer(A.src), b: wholeBuffer(B.src), bias: biasBinding, c: out.binding(op) };
  const maxWg = e.device.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.ceil(N / k.colsPerWg);
  if (gx > maxWg) throw new ShapeError(op, `N = ${N} columns need ${gx} workgroups, more than this device's ${maxWg}`);
  const gy = Math.ceil(M / k.rowsPerWg);
  const params = { m: M, n: N, k: K, lda: A.ld, ldb: B.ld, off_a: A.off, off_b: B.off, stride_a: strideA, stride_b: strideB };
  // Grids beyond maxComputeWorkgroupsPerDimension along M or the batch: several dispatches.
  for (let y0 = 0; y0 < gy; y0 += maxWg) {
    for (let z0 = 0; z0 < batch; z0 += maxWg) {
      e.stream.dispatch(k.kernel, buffers, { ...params, row0: y0 * k.rowsPerWg, batch0: batch0 + z0 }, [gx, Math.min(maxWg, gy - y0), Math.min(maxWg, batch - z0)]);
    }
  }
}

/**
 * Workgroups a product should spread over: a real GPU needs hundreds (an H100 has 132 SMs), a CPU
 * adapter a few per core. Measured on an H100 (Dawn/Vulkan): SAL's forward+backward at L = 800 spent
 * 96 of 146 ms in 39 matmuls, most of it in the weight gradients Xᵀ·dY ([64, 51200]·[51200, 64]): one
 * 64×64 output tile, so one workgroup ran the whole 51200-deep sum. On llvmpipe the same product ran
 * on one of the two cores.
 */
const SPLITK_TARGET = { hardware: 256, software: 8 };
/** The shortest K slice worth a workgroup of its own (and the K below which nothing is split). */
const SPLITK_MIN_CHUNK = 256;

/** Into how many K slices to cut a product of `tiles` output tiles and depth K (1: do not split). */
function splitK(e: Engine, tiles: number, K: number): number {
  const target = e.gpu.software ? SPLITK_TARGET.software : SPLITK_TARGET.hardware;
  if (tiles * 2 > target) return 1;
  return Math.max(1, Math.min(Math.ceil(target / tiles), Math.floor(K / SPLITK_MIN_CHUNK)));
}

/**
 * A·B as `splits` products over consecutive K slices (one batched dispatch with the slices as its
 * batch, plus one for a shorter last slice), summed in slice order by column_sum: deterministic.
 */
function gemmSplitK(op: string, e: Engine, A: Mat, B: Mat, out: Tensor, splits: number): void {
  const M = A.rows;
  const K = A.cols;
  const N = B.cols;
  // Slices of a multiple of 4 keep the operands' vec4 alignment (VEC_A / VEC_B) in every slice.
  const chunk = Math.ceil(K / splits / 4) * 4;
  const full = Math.floor(K / chunk);
  const rest = K - full * chunk;
  // Moving k by one: +1 element in a row of A (+ld if A is read transposed), +ld in B (+1 transposed).
  const stepA = A.trans ? A.ld : 1;
  const stepB = B.trans ? 1 : B.ld;
  const parts = Tensor.empty([full + (rest ? 1 : 0), M, N], 'f32', e);
  const Ak = { ...A, cols: chunk, bstride: chunk * stepA };
  const Bk = { ...B, rows: chunk, bstride: chunk * stepB };
  const k = gemmKernel(e, Ak, Bk, false, 0);
  gemmDispatch(op, e, k, Ak, Bk, full, parts, null, chunk, chunk * stepA, chunk * stepB, 0);
  if (rest) gemmDispatch(op, e, k, Ak, Bk, 1, parts, null, rest, chunk * stepA, chunk * stepB, full);
  columnSum(e, parts, parts.shape[0], M * N, out.shape, out);
  parts.dispose();
}

/** out[j] = Σ_r x[r, j] for x holding [rows, cols] contiguous elements (deterministic). */
function columnSum(e: Engine, x: Tensor, rows: number, cols: number, outShape: readonly number[], into?: Tensor): Tensor {
  const out = into ?? Tensor.empty(outShape, 'f32', e);
  // ≤ 32768 rows per dispatch: llvmpipe stops a thread's loops after 65535 iterations, silently.
  const CHUNK = 32768;
  for (let r0 = 0; r0 < rows || r0 === 0; r0 += CHUNK) {
    const r1 = Math.min(rows, r0 + CHUNK);
    dispatch1d(e, 'matmul', 'column_sum', {}, { sum_in: x.binding('column_sum'), sum_out: out.binding('column_sum') }, { rows, cols, r0, r1 }, cols);
  }
  return out;
}

// ------------------------------------------------------------------------------------------- matmul

function batchOf(op: string, a: Tensor, b: Tensor, A: Mat, B: Mat): number {
  if (A.batch === B.batch || B.batch === 1) return A.batch;
  if (A.batch === 1) return B.batch;
  throw new ShapeError(op, `batch sizes differ: ${fmt(a.shape)} · ${fmt(b.shape)}`);
}

/** op(A)·op(B) with the product laid out as `shape`: a batched result is summed over the batch when
 * `shape` has none (the gradient of a broadcast operand). */
function product(op: string, e: Engine, A: Mat, B: Mat, batch: number, shape: readonly number[]): Tensor {
  const outBatch = shape.length === 3 ? shape[0] : 1;
  if (outBatch === batch || batch === 1) {
    const out = Tensor.empty(shape, 'f32', e);
    gemm(op, e, A, B, batch, out);
    return out;
  }
  const full = Tensor.empty([batch, A.rows, B.cols], 'f32', e);
  gemm(op, e, A, B, batch, full);
  const out = columnSum(e, full, batch, A.rows * B.cols, shape);
  full.dispose();
  return out;
}

/**
 * Matrix product. a: [M, K] or [B, M, K]; b: [K, N] or [B, K, N]. A rank-2 operand (or a batch of 1)
 * is shared by every batch of the other, e.g. [B, M, K]·[K, N] applies one weight to B inputs. Result:
 * [M, N], or [B, M, N] if either input is batched. Transposed views (T(x)) are read in place.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const op = 'matmul';
  const e = engineOf(op, a, b);
  assertDType(op, a, 'f32');
  assertDType(op, b, 'f32');
  if (a.rank < 2 || a.rank > 3 || b.rank < 2 || b.rank > 3) {
    throw new ShapeError(op, `operands must be rank 2 or 3, got ${fmt(a.shape)} · ${fmt(b.shape)}`);
  }
  const K = a.shape[a.rank - 1];
  if (b.shape[b.rank - 2] !== K) throw new ShapeError(op, `inner dimensions differ: ${fmt(a.shape)} · ${fmt(b.shape)}`);
  const A = asMat(a);
  const B = asMat(b);
  let batch: number;
  try {
    batch = batchOf(op, a, b, A, B);
  } catch (err) {
    release(A, B);
    throw err;
  }
  const M = A.rows;
  const N = B.cols;
  const shape = a.rank === 3 || b.rank === 3 ? [batch, M, N] : [M, N];
  const out = Tensor.empty(shape, 'f32', e);
  // A shared weight applied to stacked rows is one 2-D product (fewer partial tiles at the edges).
  const Af = B.batch === 1 ? flatRows(A) : null;
  if (Af) gemm(op, e, Af, B, 1, out);
  else gemm(op, e, A, B, batch, out);
  release(A, B);

  return record(op, [a, b], out, (saver) => {
    const as = b.requiresGrad ? saver.save(a) : null;
    const bs = a.requiresGrad ? saver.save(b) : null;
    return (g) => {
      const G = asMat(g);
      let ga: Tensor | null = null;
      let gb: Tensor | null = null;
      if (bs) {
        // dA = dC·Bᵀ
        const Bt = transposed(asMat(bs));
        const Gf = Bt.batch === 1 && A.batch === batch ? flatRows(G) : null;
        if (Gf) {
          ga = Tensor.empty(a.shape, 'f32', e);
          gemm(op, e, Gf, Bt, 1, ga);
        } else {
          ga = product(op, e, G, Bt, batch, a.shape);
        }
        release(Bt);
      }
      if (as) {
        // dB = Aᵀ·dC; for a weight shared over the batch, A_flatᵀ·dC_flat (sums over B·M rows at once).
        const Am = asMat(as);
        const sharedB = B.batch === 1 && batch > 1;
        const Af2 = sharedB ? flatRows(Am) : null;
        const Gf = sharedB ? flatRows(G) : null;
        if (Af2 && Gf) {
          gb = Tensor.empty(b.shape, 'f32', e);
          gemm(op, e, transposed(Af2), Gf, 1, gb);
        } else {
          gb = product(op, e, transposed(Am), G, batch, b.shape);
        }
        release(Am);
      }
      release(G);
      return [ga, gb];
    };
  });
}

// ------------------------------------------------------------------------------------------- linear

/**
 * act(x·w + bias) with bias and activation fused into the matmul. x: [..., K] (leading dims are rows),
 * w: [K, N] (a transposed view such as T(embeddings) is read in place), bias: [N]. Result [..., N].
 * For GELU use linear(x, w, bias, 'none') then gelu(): its derivative needs the pre-activation.
 */
export function linear(x: Tensor, w: Tensor, bias?: Tensor | null, act: Activation = 'none'): Tensor {
  const op = 'linear';
  const inputs = bias ? [x, w, bias] : [x, w];
  const e = engineOf(op, ...inputs);
  for (const t of inputs) assertDType(op, t, 'f32');
  const code = ACT_CODES[act];
  if (code === undefined) throw new TensorError(`linear: unknown activation '${act}' (fused: none, relu, sigmoid, tanh; for gelu use linear(..., 'none') then gelu())`);
  if (x.rank < 1 || w.rank !== 2) throw new ShapeError(op, `expected x [..., K] and w [K, N], got ${fmt(x.shape)} and ${fmt(w.shape)}`);
  const K = x.shape[x.rank - 1];
  const N = w.shape[1];
  if (w.shape[0] !== K) throw new ShapeError(op, `x ${fmt(x.shape)} has K = ${K} but w is ${fmt(w.shape)}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== N)) throw new ShapeError(op, `bias ${fmt(bias.shape)} does not match w ${fmt(w.shape)} (want [${N}])`);
  const outShape = [...x.shape.slice(0, -1), N];
  const X = asRows(x);
  const W = asMat(w);
  const bb = bias ? bindable(bias) : null;
  const out = Tensor.empty(outShape, 'f32', e);
  gemm(op, e, X, W, 1, out, bb, code);
  release(X, W);
  if (bb && bb !== bias) bb.dispose();
  const rows = X.rows;

  return record(op, inputs, out, (saver) => {
    const xs = w.requiresGrad ? saver.save(x) : null;
    const ws = x.requiresGrad ? saver.save(w) : null;
    const ys = code !== 0 ? saver.save(out) : null;
    return (g) => {
      // dz = dy·act'(y), then dx = dz·wᵀ, dw = xᵀ·dz, dbias = column sums of dz.
      let dz: Tensor;
      if (ys) {
        const gb = bindable(g);
        const yb = bindable(ys);
        dz = Tensor.empty(outShape, 'f32', e);
        dispatch1d(e, 'matmul', 'act_backward', { ACT: code }, { dy: gb.binding(op), y: yb.binding(op), dz: dz.binding(op) }, { n: dz.size }, dz.size);
        if (gb !== g) gb.dispose();
        if (yb !== ys) yb.dispose();
      } else {
        dz = bindable(g);
      }
      const Dz: Mat = { src: dz, trans: false, ld: N, off: dz.offset, bstride: 0, batch: 1, rows, cols: N, copy: null };
      let gx: Tensor | null = null;
      let gw: Tensor | null = null;
      let gbias: Tensor | null = null;
      if (ws) {
        const Wt = transposed(asMat(ws));
        gx = Tensor.empty(x.shape, 'f32', e);
        gemm(op, e, Dz, Wt, 1, gx);
        release(Wt);
      }
      if (xs) {
        const Xm = asRows(xs);
        gw = Tensor.empty(w.shape, 'f32', e);
        gemm(op, e, transposed(Xm), Dz, 1, gw);
        release(Xm);
      }
      if (bias?.requiresGrad) gbias = columnSum(e, dz, rows, N, [N]);
      if (dz !== g) dz.dispose();
      return bias ? [gx, gw, gbias] : [gx, gw];
    };
  });
}
