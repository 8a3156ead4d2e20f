// Normalisation over the last axis (shaders/norm.wgsl): L2 normalisation (cosine-similarity inputs,
// DESIGN.md §4's InfoNCE and consistency losses) and layer norm.
//
// l2Normalize saves only x: the backward recomputes ‖x‖ in the same row pass that computes g·x, so no
// per-row norm tensor is kept, and x is usually alive anyway (the layer below holds it).
// layerNorm saves x, gamma and a small [rows, 2] (mean, rstd) tensor; recomputing the statistics
// would cost two more passes over x in the backward. Its parameter gradients are column sums over
// rows, one thread per (row chunk, column) with the [chunks, d] partials summed by `sum` (no atomics,
// fixed order: deterministic); chunks only when there are few columns, so a [100000, 64] batch still
// fills TARGET_THREADS threads instead of 64.

import { Tensor, ShapeError } from '../tensor.ts';
import { record } from '../tape.ts';
import { bindable } from './layout.ts';
import { engineOf, assertDType, fmt, dispatch1d } from './util.ts';
import { rowLaunch, sum, MAX_LOOP } from './reduce.ts';

const TARGET_THREADS = 16384;
/** Fewest rows one thread of the parameter-gradient kernel sums. */
const MIN_CHUNK_ROWS = 64;

function rowsOf(op: string, x: Tensor): { rows: number; d: number } {
  if (x.rank === 0) throw new ShapeError(op, `needs at least one axis, got a scalar ${fmt(x.shape)}`);
  const d = x.shape[x.rank - 1];
  return { rows: d === 0 ? 0 : x.size / d, d };
}

/** x / max(‖x‖₂, eps) over the last axis. */
export function l2Normalize(x: Tensor, eps = 1e-12): Tensor {
  const op = 'l2Normalize';
  const e = engineOf(op, x);
  assertDType(op, x, 'f32');
  const { rows, d } = rowsOf(op, x);
  const { constants, grid } = rowLaunch(e, rows, d, 2);
  const xb = bindable(x);
  const y = Tensor.empty(x.shape, 'f32', e);
  e.stream.dispatch(e.kernels.get('norm', 'l2_forward', constants), { x: xb.binding(op), y: y.binding(op) }, { rows, d, eps }, grid);
  if (xb !== x) xb.dispose();
  return record(op, [x], y, (saver) => {
    const xs = saver.save(x);
    return (g) => {
      const xv = bindable(xs);
      const gb = bindable(g);
      const gx = Tensor.empty(x.shape, 'f32', e);
      e.stream.dispatch(
        e.kernels.get('norm', 'l2_backward', constants),
        { x: xv.binding(op), g: gb.binding(op), gx: gx.binding(op) },
        { rows, d, eps },
        grid,
      );
      if (xv !== xs) xv.dispose();
      if (gb !== g) gb.dispose();
      return [gx];
    };
  });
}

/** Layer norm over the last axis: (x − mean) / √(var + eps) · gamma + beta, gamma and beta of shape [d]. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  const op = 'layerNorm';
  const e = engineOf(op, x, gamma, beta);
  for (const t of [x, gamma, beta]) assertDType(op, t, 'f32');
  const { rows, d } = rowsOf(op, x);
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t.rank !== 1 || t.shape[0] !== d) throw new ShapeError(op, `${name} has shape ${fmt(t.shape)}; expected [${d}] for input ${fmt(x.shape)}`);
  }
  const { constants, grid } = rowLaunch(e, rows, d, 3);
  const xb = bindable(x);
  const gb = bindable(gamma);
  const bb = bindable(beta);
  const y = Tensor.empty(x.shape, 'f32', e);
  const stats = Tensor.empty([rows, 2], 'f32', e);
  e.stream.dispatch(
    e.kernels.get('norm', 'ln_forward', constants),
    { x: xb.binding(op), gamma: gb.binding(op), beta: bb.binding(op), y: y.binding(op), stats: stats.binding(op) },
    { rows, d, eps },
    grid,
  );
  for (const [c, t] of [[xb, x], [gb, gamma], [bb, beta]]) if (c !== t) c.dispose();
  const out = record(op, [x, gamma, beta], y, (saver) => {
    const xs = saver.save(x);
    const gs = saver.save(gamma);
    const ss = saver.save(stats);
    return (g) => {
      const xv = bindable(xs);
      const gv = bindable(gs);
      const gr = bindable(g);
      let gx: Tensor | null = null;
      if (x.requiresGrad) {
        gx = Tensor.empty(x.shape, 'f32', e);
        e.stream.dispatch(
          e.kernels.get('norm', 'ln_backward', constants),
          { x: xv.binding(op), gamma: gv.binding(op), g: gr.binding(op), st: ss.binding(op), gx: gx.binding(op) },
          { rows, d, eps },
          grid,
        );
      }
      let dgamma: Tensor | null = null;
      let dbeta: Tensor | null = null;
      if (gamma.requiresGrad || beta.requiresGrad) {
        let chunks = 1;
        if (d < TARGET_THREADS && rows >= 2 * MIN_CHUNK_ROWS) chunks = Math.min(Math.floor(rows / MIN_CHUNK_ROWS), Math.max(1, Math.floor(TARGET_THREADS / d)));
        // llvmpipe stops a thread's loops after 65535 iterations (MAX_LOOP in reduce.ts).
        chunks = Math.max(chunks, Math.ceil(rows / MAX_LOOP));
        const chunkRows = Math.max(1, Math.ceil(rows / chunks));
        chunks = Math.max(1, Math.ceil(rows / chunkRows));
        const pg = Tensor.empty(chunks > 1 ? [chunks, d] : [d], 'f32', e);
        const pb = Tensor.empty(chunks > 1 ? [chunks, d] : [d], 'f32', e);
        dispatch1d(
          e,
          'norm',
          'ln_backward_params',
          {},
          { x: xv.binding(op), g: gr.binding(op), st: ss.binding(op), dgamma: pg.binding(op), dbeta: pb.binding(op) },
          { rows, d, chunks, chunk_rows: chunkRows },
          chunks * d,
        );
        if (chunks > 1) {
          dgamma = sum(pg, 0);
          dbeta = sum(pb, 0);
          pg.dispose();
          pb.dispose();
        } else {
          dgamma = pg;
          dbeta = pb;
        }
        if (!gamma.requiresGrad) {
          dgamma.dispose();
          dgamma = null;
        }
        if (!beta.requiresGrad) {
          dbeta.dispose();
          dbeta = null;
        }
      }
      if (xv !== xs) xv.dispose();
      if (gv !== gs) gv.dispose();
      if (gr !== g) gr.dispose();
      return [gx, dgamma, dbeta];
    };
  });
  // The node (if any) holds its own alias of stats; ours goes now.
  stats.dispose();
  return out;
}
