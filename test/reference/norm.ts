// Float64 references for L2 normalisation and layer norm over the last axis, with their gradients
// (written out per row from the textbook formulas; finite differences check the GPU independently).
import { Nd } from './nd.ts';

/** y = x / max(‖x‖, eps); given g, dx = (g − y·(g·y)) / ‖x‖ if ‖x‖ > eps, else g / eps. */
export function l2NormalizeRef(x: Nd, eps: number, g?: Nd): { out: Nd; grad: Nd; norms: Float64Array } {
  const d = x.shape[x.shape.length - 1];
  const rows = d === 0 ? 0 : x.size / d;
  const out = Nd.zeros(x.shape);
  const grad = Nd.zeros(x.shape);
  const norms = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let ss = 0;
    for (let k = 0; k < d; k++) ss += x.data[o + k] ** 2;
    const n = Math.sqrt(ss);
    norms[r] = n;
    const den = Math.max(n, eps);
    for (let k = 0; k < d; k++) out.data[o + k] = x.data[o + k] / den;
    if (!g) continue;
    let gy = 0;
    for (let k = 0; k < d; k++) gy += g.data[o + k] * out.data[o + k];
    for (let k = 0; k < d; k++) grad.data[o + k] = n > eps ? (g.data[o + k] - out.data[o + k] * gy) / n : g.data[o + k] / eps;
  }
  return { out, grad, norms };
}

/**
 * y = (x − μ)·rstd·γ + β with μ, σ² the row mean and biased variance, rstd = 1/√(σ² + eps). Given g:
 * dx = rstd·(dy − mean(dy) − x̂·mean(dy·x̂)) with dy = g·γ, dγ = Σ_rows g·x̂, dβ = Σ_rows g.
 */
export function layerNormRef(
  x: Nd,
  gamma: Nd,
  beta: Nd,
  eps: number,
  g?: Nd,
): { out: Nd; dx: Nd; dgamma: Nd; dbeta: Nd; dgammaAbs: Float64Array; dbetaAbs: Float64Array } {
  const d = x.shape[x.shape.length - 1];
  const rows = d === 0 ? 0 : x.size / d;
  const out = Nd.zeros(x.shape);
  const dx = Nd.zeros(x.shape);
  const dgamma = Nd.zeros([d]);
  const dbeta = Nd.zeros([d]);
  // Σ_rows |g·x̂| and Σ_rows |g| per column: the scale of f32 summation error in dγ, dβ.
  const dgammaAbs = new Float64Array(d);
  const dbetaAbs = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let mu = 0;
    for (let k = 0; k < d; k++) mu += x.data[o + k];
    mu /= d;
    let v = 0;
    for (let k = 0; k < d; k++) v += (x.data[o + k] - mu) ** 2;
    v /= d;
    const rstd = 1 / Math.sqrt(v + eps);
    const xh = new Float64Array(d);
    for (let k = 0; k < d; k++) {
      xh[k] = (x.data[o + k] - mu) * rstd;
      out.data[o + k] = xh[k] * gamma.data[k] + beta.data[k];
    }
    if (!g) continue;
    let a = 0;
    let b = 0;
    for (let k = 0; k < d; k++) {
      const dy = g.data[o + k] * gamma.data[k];
      a += dy;
      b += dy * xh[k];
      dgamma.data[k] += g.data[o + k] * xh[k];
      dbeta.data[k] += g.data[o + k];
      dgammaAbs[k] += Math.abs(g.data[o + k] * xh[k]);
      dbetaAbs[k] += Math.abs(g.data[o + k]);
    }
    a /= d;
    b /= d;
    for (let k = 0; k < d; k++) dx.data[o + k] = rstd * (g.data[o + k] * gamma.data[k] - a - xh[k] * b);
  }
  return { out, dx, dgamma, dbeta, dgammaAbs, dbetaAbs };
}
