// gatedMix: the softmax gate that combines MUFASA SAL's branch outputs into the user vector (paper §3.2,
// eq. 12; src/model/sal.ts), fused (shaders/gate.wgsl):
//   g = softmax(concat(z_1 … z_n) · W + bias),  y = Σ_b g_b z_b.
// Why fused: as a composition (concat → linear → softmax → broadcast mul → sum over branches) it took
// ~0.8 s of a 2.2 s SAL forward+backward at B = 64, L = 200, d = 64 on llvmpipe-GL (per-kernel profile,
// `npm run bench -- attention --profile`): three strided concat copies each way, the broadcast product's
// reduction, and several elementwise passes over [B, L, 3·d]. Fused it is one pass over the branches
// forward and one backward, plus gate_dw's partial sums of dW = z_bᵀ·dlogit and dbias = Σ dlogit over
// segments of rows and their sum (2 dispatches where 3 split-K matmuls, their concat and a column sum
// took 10).
// The kernels read vec4 rows (shaders/gate.wgsl): d not a multiple of 4 is padded with zero columns.

import { Tensor, ShapeError, TensorError, contiguousStrides } from '../tensor.ts';
import { record } from '../tape.ts';
import { bindable, reshape, slice, padLastDim } from './layout.ts';
import { tidy } from '../scope.ts';
import { engineOf, assertDType, fmt } from './util.ts';
import { sum } from './reduce.ts';

/** Rows per segment of gate_dw's partial sums (at least; more when rows would need too many segments). */
const DW_SEGMENT_ROWS = 256;

/** Most branches gatedMix takes (z0 … z2 in the WGSL). */
export const GATE_MAX_BRANCHES = 3;

function wgOf(e: Tensor['engine']): number {
  return Math.min(64, e.device.limits.maxComputeInvocationsPerWorkgroup, e.device.limits.maxComputeWorkgroupSizeX);
}

/**
 * softmax(concat(zs, -1)·w + bias) as gates g [..., n], then Σ_b g_b·zs[b]. zs: n ∈ 1 … 3 tensors of one
 * shape [..., d]; w [n·d, n]; bias [n]. Output like zs[0]. Differentiable in every input.
 */
export function gatedMix(zs: readonly Tensor[], w: Tensor, bias: Tensor): Tensor {
  const op = 'gatedMix';
  const n = zs.length;
  if (n < 1 || n > GATE_MAX_BRANCHES) throw new TensorError(`${op}: takes 1 … ${GATE_MAX_BRANCHES} branches, got ${n}`);
  const e = engineOf(op, ...zs, w, bias);
  for (const t of [...zs, w, bias]) assertDType(op, t, 'f32');
  const shape = zs[0].shape;
  if (shape.length < 1 || shape[shape.length - 1] < 1) throw new ShapeError(op, `branches must be [..., d] with d ≥ 1, got ${fmt(shape)}`);
  zs.forEach((z, i) => {
    if (z.shape.join() !== shape.join()) throw new ShapeError(op, `branch ${i} is ${fmt(z.shape)}, branch 0 is ${fmt(shape)}`);
  });
  const d = shape[shape.length - 1];
  if (w.rank !== 2 || w.shape[0] !== n * d || w.shape[1] !== n) throw new ShapeError(op, `w must be [n·d, n] = [${n * d}, ${n}] for ${n} branches of d = ${d}, got ${fmt(w.shape)}`);
  if (bias.rank !== 1 || bias.shape[0] !== n) throw new ShapeError(op, `bias must be [${n}], got ${fmt(bias.shape)}`);
  if (d % 4 !== 0) {
    // Zero columns change no logit (W's rows past d read as 0 in the kernel) and mix to zero outputs.
    const width = 4 * Math.ceil(d / 4);
    const r = shape.length - 1;
    return tidy(() => slice(mixRows(zs.map((z) => padLastDim(z, width)), w, bias, d), r, 0, d));
  }
  return mixRows(zs, w, bias, d);
}

/** gatedMix on rows of a multiple of 4 columns, the first d of which W weighs (the rest are zero padding). */
function mixRows(zs: readonly Tensor[], w: Tensor, bias: Tensor, d: number): Tensor {
  const op = 'gatedMix';
  const n = zs.length;
  const e = zs[0].engine;
  const shape = zs[0].shape;
  const width = shape[shape.length - 1];
  const d4 = width / 4;
  const rows = zs[0].size / width;
  const WG = wgOf(e);
  const grid = e.grid(Math.ceil(rows / WG));
  const kernel = (entry: string) => e.kernels.get('gate', entry, { WG, N: n });
  const zb = zs.map((z) => bindable(z));
  const wb = bindable(w);
  const bb = bindable(bias);
  const zBind = (ts: Tensor[]) => ({ z0: ts[0].binding(op), z1: ts[Math.min(1, n - 1)].binding(op), z2: ts[n - 1].binding(op) });
  const y = Tensor.empty(shape, 'f32', e);
  const gates = Tensor.empty([rows, n], 'f32', e);
  if (rows > 0) {
    e.stream.dispatch(kernel('gate_forward'), { ...zBind(zb), w: wb.binding(op), bias: bb.binding(op), y: y.binding(op), gates: gates.binding(op) }, { rows, d, d4 }, grid);
  }
  const res = record(op, [...zs, w, bias], y, (saver) => {
    const zsv = zb.map((z) => saver.save(z));
    const ws = saver.save(wb);
    const gs = saver.save(gates);
    return (g) => {
      const gb = bindable(g);
      const dz = Tensor.empty([n, rows, width], 'f32', e);
      const dlogit = Tensor.empty([rows, n], 'f32', e);
      if (rows > 0) {
        e.stream.dispatch(
          kernel('gate_backward'),
          { ...zBind(zsv), w: ws.binding(op), dy: gb.binding(op), gates_in: gs.binding(op), dz: dz.binding(op), dlogit: dlogit.binding(op) },
          { rows, d, d4 },
          grid,
        );
      }
      if (gb !== g) gb.dispose();
      const strides = contiguousStrides(shape);
      const dzs = zs.map((_, b) => dz.view(shape, strides, dz.offset + b * rows * width));
      dz.dispose();
      // dW = [z_0; …; z_{n−1}]ᵀ·dlogit and dbias = Σ_r dlogit: partials over segments of rows in one
      // dispatch, summed in segment order; rows 0 … n·d − 1 of the sum are dW, the last is dbias.
      const seg = Math.max(DW_SEGMENT_ROWS, Math.ceil(rows / e.device.limits.maxComputeWorkgroupsPerDimension));
      const nseg = Math.max(1, Math.ceil(rows / seg));
      const part = Tensor.empty([nseg, n * d + 1, n], 'f32', e);
      e.stream.dispatch(kernel('gate_dw'), { ...zBind(zsv), dlogit_in: dlogit.binding(op), dwpart: part.binding(op) }, { rows, d, d4, seg }, [Math.ceil((n * d4 + 1) / WG), nseg]);
      dlogit.dispose();
      const sums = sum(part, 0);
      part.dispose();
      const dw = slice(sums, 0, 0, n * d);
      const last = slice(sums, 0, n * d, n * d + 1);
      const db = reshape(last, [n]);
      [last, sums].forEach((t) => t.dispose());
      return [...dzs, dw, db];
    };
  });
  zb.forEach((z, i) => z !== zs[i] && z.dispose());
  if (wb !== w) wb.dispose();
  if (bb !== bias) bb.dispose();
  gates.dispose();
  return res;
}
