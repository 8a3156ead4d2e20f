// MUFASA's regression losses (paper §3.1, DESIGN.md §4 "Losses"): L_cf (eq. 2) and L_cons (eq. 3),
// each a fused forward (one row/pair kernel + the deterministic `mean` of reduce.ts) and a backward
// computed from the saved inputs in one elementwise kernel (shaders/losses.wgsl).
//
// Why fused: DESIGN.md §3 measured memory passes as the cost on the CPU adapters (~1.2–2.9 GB/s for an
// axpy), so the unfused compositions (sub → square → sum → mean; normalise → gather → dot → sub →
// square → mean) would each write and re-read several [N, d] or [P, d] intermediates per step.
//
// Why scatterAddRows in the consistency backward: a row appears in many sampled pairs and WGSL has no
// float atomics; per-pair contributions [P, 2, d] summed per row by the sorted scatter (gather.ts)
// keep the gradient bit-identical run to run (DESIGN.md §3, determinism).

import { engine as defaultEngine } from '../../gpu/engine.ts';
import type { Engine } from '../../gpu/engine.ts';
import { Tensor, TensorError, ShapeError } from '../tensor.ts';
import { record, noGrad } from '../tape.ts';
import { bindable } from './layout.ts';
import { mean } from './reduce.ts';
import { scatterAddRows } from './gather.ts';
import { dispatch1d, engineOf, assertDType, fmt, sameShape } from './util.ts';

const TWO32 = 2 ** 32;

/**
 * L_cf = (1/N) Σ_i ‖z_i − c_i‖² for z, c of shape [N, d] (paper eq. 2): the mean over rows of each
 * row's squared L2 distance — NOT the mean over all N·d elements (that would be this divided by d).
 * Returns a [1] tensor. Gradients: 2(z − c)/N to z and its negative to c (c is usually the frozen CF
 * embeddings, but may require grad).
 */
export function mseLoss(z: Tensor, c: Tensor): Tensor {
  const op = 'mseLoss';
  const e = engineOf(op, z, c);
  assertDType(op, z, 'f32');
  assertDType(op, c, 'f32');
  if (z.rank !== 2 || !sameShape(z.shape, c.shape)) throw new ShapeError(op, `z and c must both be [N, d], got z ${fmt(z.shape)} and c ${fmt(c.shape)}`);
  const [n, d] = z.shape;
  if (n === 0) throw new ShapeError(op, `needs at least one row (mean over N rows), got z ${fmt(z.shape)} and c ${fmt(c.shape)}`);
  const zb = bindable(z);
  const cb = bindable(c);
  const rowsq = Tensor.empty([n], 'f32', e);
  dispatch1d(e, 'losses', 'mse_rows', {}, { z: zb.binding(op), cf: cb.binding(op), rowsq: rowsq.binding(op) }, { rows: n, d }, n);
  const loss = noGrad(() => mean(rowsq, 0, true));
  rowsq.dispose();
  const out = record(op, [z, c], loss, (saver) => {
    const zs = saver.save(zb);
    const cs = saver.save(cb);
    const wantZ = z.requiresGrad;
    const wantC = c.requiresGrad;
    return (g) => {
      const gb = bindable(g);
      const params = { n: n * d, scale: 2 / n };
      const first = Tensor.empty([n, d], 'f32', e);
      let second: Tensor | null = null;
      const bufs = { z: zs.binding(op), cf: cs.binding(op), gy: gb.binding(op), gz: first.binding(op) };
      if (wantZ && wantC) {
        second = Tensor.empty([n, d], 'f32', e);
        dispatch1d(e, 'losses', 'mse_backward_both', {}, { ...bufs, gc: second.binding(op) }, params, n * d);
      } else {
        dispatch1d(e, 'losses', 'mse_backward', { SIGN: wantZ ? 1 : -1 }, bufs, params, n * d);
      }
      if (gb !== g) gb.dispose();
      if (wantZ) return [first, second];
      return [null, first];
    };
  });
  if (zb !== z) zb.dispose();
  if (cb !== c) cb.dispose();
  return out;
}

export interface ConsistencyOptions {
  /** Number of sampled pairs P ≥ 1. */
  pairs: number;
  /** Philox key: the same (seed, offset) gives the same pairs. */
  seed: number;
  /** First stream element (default 0); pair p uses elements offset + 2p and offset + 2p + 1. */
  offset?: number;
  /** Norm floor in the cosine: a·b / (max(‖a‖, eps)·max(‖b‖, eps)) (default 1e-8). */
  eps?: number;
}

/** A non-negative safe integer as (lo, hi) u32 words. */
function split64(op: string, what: string, v: number): [number, number] {
  if (!Number.isSafeInteger(v) || v < 0) throw new TensorError(`${op}: ${what} must be a non-negative safe integer, got ${v}`);
  return [v % TWO32, Math.floor(v / TWO32)];
}

/** Uniform fields for the pair sampler (shaders/losses.wgsl ConsParams, less dz/dt/eps). */
function pairParams(op: string, n: number, pairs: number, seed: number, offset: number) {
  if (!Number.isInteger(n) || n < 2 || n > 0x7fffffff) {
    throw new ShapeError(op, `needs N ≥ 2 rows to sample pairs i ≠ j (and N < 2^31), got N = ${n}`);
  }
  // 2P + 3 stream elements past lane0 must stay within u32 arithmetic in the kernel.
  if (!Number.isInteger(pairs) || pairs < 1 || pairs > 2 ** 30) throw new TensorError(`${op}: pairs must be an integer in [1, 2^30], got ${pairs}`);
  const key = split64(op, 'seed', seed);
  split64(op, 'offset', offset);
  if (!Number.isSafeInteger(offset + 2 * pairs)) throw new TensorError(`${op}: offset ${offset} + ${2 * pairs} stream elements passes 2^53`);
  return { npairs: pairs, n, lane0: offset % 4, block0: split64(op, 'offset', Math.floor(offset / 4)), key };
}

/**
 * The P pairs (i, j) that consistencyLoss with the same (N, pairs, seed, offset) uses, as an i32
 * [P, 2] tensor. Rule (exact, integer): w0, w1 = Philox stream words offset + 2p and offset + 2p + 1
 * (shaders/rng.wgsl, key = seed); i = ⌊w0·N / 2^32⌋, j = (i + 1 + ⌊w1·(N − 1) / 2^32⌋) mod N. So i is
 * uniform on the N rows, j uniform on the other N − 1 rows, and i ≠ j always.
 */
export function samplePairs(n: number, pairs: number, seed: number, offset = 0, opts: { engine?: Engine } = {}): Tensor {
  const op = 'samplePairs';
  const params = pairParams(op, n, pairs, seed, offset);
  const e = opts.engine ?? defaultEngine();
  const out = Tensor.empty([pairs, 2], 'i32', e);
  dispatch1d(e, 'losses', 'sample_pairs', {}, { pairs: out.binding(op) }, { ...params, dz: 0, dt: 0, eps: 0 }, pairs);
  return out;
}

/**
 * L_cons = (1/P) Σ_{(i, j)} (cos(z_i, z_j) − cos(t_i, t_j))² over P pairs sampled on the GPU (paper
 * eq. 3; the sampling rule is samplePairs'). z is [N, d_z], t is [N, d_t] (the fused and title
 * embeddings may differ in width; the rows must correspond). cos(a, b) = a·b / (max(‖a‖, eps)·
 * max(‖b‖, eps)). Returns a [1] tensor; gradients to z and, if it requires grad, to t. N < 2 throws.
 */
export function consistencyLoss(z: Tensor, t: Tensor, opts: ConsistencyOptions): Tensor {
  const op = 'consistencyLoss';
  const e = engineOf(op, z, t);
  assertDType(op, z, 'f32');
  assertDType(op, t, 'f32');
  if (z.rank !== 2 || t.rank !== 2 || z.shape[0] !== t.shape[0]) {
    throw new ShapeError(op, `z and t must be [N, d] and [N, d'] with the same N, got z ${fmt(z.shape)} and t ${fmt(t.shape)}`);
  }
  const n = z.shape[0];
  if (n < 2) throw new ShapeError(op, `needs N ≥ 2 rows to sample pairs i ≠ j, got z ${fmt(z.shape)} and t ${fmt(t.shape)}`);
  const eps = opts.eps ?? 1e-8;
  if (!(eps > 0)) throw new TensorError(`${op}: eps must be > 0, got ${eps}`);
  const P = opts.pairs;
  const [dz, dt] = [z.shape[1], t.shape[1]];
  const params = { ...pairParams(op, n, P, opts.seed, opts.offset ?? 0), dz, dt, eps };
  const zb = bindable(z);
  const tb = bindable(t);
  const pairs = Tensor.empty([P, 2], 'i32', e);
  const stats = Tensor.empty([P, 2, 4], 'f32', e);
  const terms = Tensor.empty([P], 'f32', e);
  dispatch1d(
    e,
    'losses',
    'cons_forward',
    {},
    { z: zb.binding(op), t: tb.binding(op), pairs: pairs.binding(op), stats: stats.binding(op), terms: terms.binding(op) },
    params,
    P,
  );
  const loss = noGrad(() => mean(terms, 0, true));
  terms.dispose();
  const out = record(op, [z, t], loss, (saver) => {
    const zs = z.requiresGrad ? saver.save(zb) : null;
    const ts = t.requiresGrad ? saver.save(tb) : null;
    const ps = saver.save(pairs);
    const ss = saver.save(stats);
    const side = (x: Tensor, which: 0 | 1, d: number, g: Tensor): Tensor => {
      const contrib = Tensor.empty([P, 2, d], 'f32', e);
      dispatch1d(
        e,
        'losses',
        'cons_backward',
        { SIDE: which },
        { x: x.binding(op), stats_in: ss.binding(op), pairs_in: ps.binding(op), gy: g.binding(op), contrib: contrib.binding(op) },
        { rows: 2 * P, d, eps, scale: 2 / P },
        2 * P,
      );
      const grad = scatterAddRows(contrib, ps, n);
      contrib.dispose();
      return grad;
    };
    return (g) => {
      const gb = bindable(g);
      const grads = [zs ? side(zs, 0, dz, gb) : null, ts ? side(ts, 1, dt, gb) : null];
      if (gb !== g) gb.dispose();
      return grads;
    };
  });
  pairs.dispose();
  stats.dispose();
  if (zb !== z) zb.dispose();
  if (tb !== t) tb.dispose();
  return out;
}
