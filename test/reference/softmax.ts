// Float64 reference for softmax / log-softmax over the last axis, and their gradients.
import { Nd } from './nd.ts';

/** Forward and (given the output gradient g) the input gradient, row by row in float64. */
export function softmaxRef(x: Nd, log: boolean, g?: Nd): { out: Nd; grad: Nd } {
  const d = x.shape[x.shape.length - 1];
  const rows = d === 0 ? 0 : x.size / d;
  const out = Nd.zeros(x.shape);
  const grad = Nd.zeros(x.shape);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let m = -Infinity;
    for (let k = 0; k < d; k++) m = Math.max(m, x.data[o + k]);
    let s = 0;
    for (let k = 0; k < d; k++) s += Math.exp(x.data[o + k] - m);
    const p = new Float64Array(d);
    for (let k = 0; k < d; k++) {
      p[k] = Math.exp(x.data[o + k] - m) / s;
      out.data[o + k] = log ? x.data[o + k] - m - Math.log(s) : p[k];
    }
    if (!g) continue;
    // softmax: dx_k = p_k (g_k − Σ_j g_j p_j); log-softmax: dx_k = g_k − p_k Σ_j g_j
    let dot = 0;
    for (let k = 0; k < d; k++) dot += log ? g.data[o + k] : g.data[o + k] * p[k];
    for (let k = 0; k < d; k++) grad.data[o + k] = log ? g.data[o + k] - p[k] * dot : p[k] * (g.data[o + k] - dot);
  }
  return { out, grad };
}
