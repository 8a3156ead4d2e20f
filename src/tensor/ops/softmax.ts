// Softmax and log-softmax over the last axis (shaders/softmax.wgsl): T threads per row (one workgroup
// per row on GPUs, a thread per row on the CPU adapters: rowConfig in reduce.ts has the measurements),
// online max/sum (Milakov & Gimelshein 2018, "Online normalizer calculation for softmax") so x is read twice
// and exp never overflows. Backward needs only the output (dx = y·(g − Σg·y); for log-softmax
// dx = g − exp(y)·Σg), so the output is all that is saved: it is usually alive anyway (the next op
// holds it), whereas saving x would keep a second row-sized tensor alive.

import { Tensor, ShapeError } from '../tensor.ts';
import { record } from '../tape.ts';
import { bindable } from './layout.ts';
import { engineOf, assertDType, fmt } from './util.ts';
import { rowLaunch } from './reduce.ts';

function softmaxOp(op: 'softmax' | 'logSoftmax', x: Tensor): Tensor {
  const e = engineOf(op, x);
  assertDType(op, x, 'f32');
  if (x.rank === 0) throw new ShapeError(op, `needs at least one axis, got a scalar ${fmt(x.shape)}`);
  const d = x.shape[x.rank - 1];
  const rows = d === 0 ? 0 : x.size / d;
  const LOG = op === 'logSoftmax';
  // Two passes over the row in each kernel (rowLaunch: llvmpipe's loop limit).
  const { constants, grid } = rowLaunch(e, rows, d, 2);
  const xb = bindable(x);
  const y = Tensor.empty(x.shape, 'f32', e);
  const k = e.kernels.get('softmax', 'softmax_forward', { ...constants, LOG });
  e.stream.dispatch(k, { x: xb.binding(op), y: y.binding(op) }, { rows, d }, grid);
  if (xb !== x) xb.dispose();
  return record(op, [x], y, (saver) => {
    const ys = saver.save(y);
    return (g) => {
      const gb = bindable(g);
      const gx = Tensor.empty(x.shape, 'f32', e);
      const kb = e.kernels.get('softmax', 'softmax_backward', { ...constants, LOG });
      e.stream.dispatch(kb, { ys: ys.binding(op), g: gb.binding(op), gx: gx.binding(op) }, { rows, d }, grid);
      if (gb !== g) gb.dispose();
      return [gx];
    };
  });
}

/** softmax over the last axis, any leading dims. */
export const softmax = (x: Tensor) => softmaxOp('softmax', x);
/** log(softmax(x)) over the last axis, computed as x − max − log Σ exp(x − max). */
export const logSoftmax = (x: Tensor) => softmaxOp('logSoftmax', x);
