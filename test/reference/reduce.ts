// Float64 reference for sum / mean over axes: plain loops over every input element.
import { Nd, forEachIndex } from './nd.ts';

export type RefAxes = number | number[] | undefined;

function reducedMask(shape: number[], axis: RefAxes): boolean[] {
  const rank = shape.length;
  const list = axis === undefined ? shape.map((_, i) => i) : typeof axis === 'number' ? [axis] : axis;
  const red = new Array<boolean>(rank).fill(false);
  for (const a of list) red[a < 0 ? a + rank : a] = true;
  return red;
}

/** Flat output index of input multi-index `idx` (reduced coordinates dropped). */
function outIndex(shape: number[], red: boolean[], idx: number[]): number {
  let o = 0;
  for (let k = 0; k < shape.length; k++) if (!red[k]) o = o * shape[k] + idx[k];
  return o;
}

/**
 * Forward of sum/mean, and (given the output gradient w) the input gradient: every input element
 * receives w at its output position, ÷ r for mean. Also returns Σ|x| per output (error scale).
 */
export function reduceRef(x: Nd, axis: RefAxes, keepDims: boolean, mean: boolean, w?: Nd): { out: Nd; grad: Nd; absSum: Float64Array } {
  const red = reducedMask(x.shape, axis);
  const outShape = keepDims ? x.shape.map((d, i) => (red[i] ? 1 : d)) : x.shape.filter((_, i) => !red[i]);
  const r = x.shape.reduce((a, d, i) => (red[i] ? a * d : a), 1);
  const out = Nd.zeros(outShape);
  const absSum = new Float64Array(out.size);
  const grad = Nd.zeros(x.shape);
  forEachIndex(x.shape, (idx, flat) => {
    const o = outIndex(x.shape, red, idx);
    out.data[o] += x.data[flat];
    absSum[o] += Math.abs(x.data[flat]);
    if (w) grad.data[flat] = mean ? w.data[o] / r : w.data[o];
  });
  if (mean) for (let i = 0; i < out.size; i++) out.data[i] /= r;
  if (mean) for (let i = 0; i < out.size; i++) absSum[i] /= r;
  return { out, grad, absSum };
}
