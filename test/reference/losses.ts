// CPU references for the MUFASA regression losses (paper eq. 2 and 3) and the pair sampler:
// plain loops in float64 (the sampler in exact integers); no GPU code.

import { Nd } from './nd.ts';
import { streamWords } from './gather.ts';

/** ⌊w·m / 2^32⌋ exactly (w a u32, m < 2^31): the product needs 63 bits. */
function mulhi(w: number, m: number): number {
  return Number((BigInt(w >>> 0) * BigInt(m)) >> 32n);
}

/** Pairs [P][2] by the rule of shaders/losses.wgsl: i = ⌊w0·N/2^32⌋, j = (i + 1 + ⌊w1·(N−1)/2^32⌋) mod N. */
export function samplePairsRef(n: number, pairs: number, seed: number, offset = 0): Int32Array {
  const w = streamWords(seed, offset, 2 * pairs);
  const out = new Int32Array(2 * pairs);
  for (let p = 0; p < pairs; p++) {
    const i = mulhi(w[2 * p], n);
    out[2 * p] = i;
    out[2 * p + 1] = (i + 1 + mulhi(w[2 * p + 1], n - 1)) % n;
  }
  return out;
}

/** L = (1/N) Σ_i ‖z_i − c_i‖², and its gradients times the upstream scalar g. */
export function mseRef(z: Nd, c: Nd, g = 1): { loss: number; gz: Nd; gc: Nd } {
  const [n, d] = z.shape;
  let loss = 0;
  const gz = Nd.zeros([n, d]);
  const gc = Nd.zeros([n, d]);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < d; k++) {
      const v = z.data[r * d + k] - c.data[r * d + k];
      loss += v * v;
      gz.data[r * d + k] = (g * 2 * v) / n;
      gc.data[r * d + k] = (-g * 2 * v) / n;
    }
  }
  return { loss: loss / n, gz, gc };
}

/** (‖a‖, ‖b‖, a·b) of rows i and j of x. */
function rowStats(x: Nd, i: number, j: number): [number, number, number] {
  const d = x.shape[1];
  let aa = 0;
  let bb = 0;
  let ab = 0;
  for (let k = 0; k < d; k++) {
    const a = x.data[i * d + k];
    const b = x.data[j * d + k];
    aa += a * a;
    bb += b * b;
    ab += a * b;
  }
  return [Math.sqrt(aa), Math.sqrt(bb), ab];
}

/**
 * L = (1/P) Σ_p (cos(z_i, z_j) − cos(t_i, t_j))² with cos(a, b) = a·b / (max(‖a‖, eps)·max(‖b‖, eps)),
 * and its gradients times the upstream scalar g. ∂cos/∂a = (b/n_b − cos·a/n_a)/n_a when ‖a‖ > eps,
 * (b/n_b)/eps otherwise (n_a is the constant eps there). gzAbs/gtAbs: Σ of the absolute values of the
 * terms summed into each gradient element — the scale f32 rounding errors are relative to when the
 * terms cancel (e.g. d = 1, where the exact gradient is 0).
 */
export function consistencyRef(z: Nd, t: Nd, pairs: ArrayLike<number>, eps = 1e-8, g = 1): { loss: number; gz: Nd; gt: Nd; gzAbs: Nd; gtAbs: Nd } {
  const P = pairs.length / 2;
  const gz = Nd.zeros([...z.shape]);
  const gt = Nd.zeros([...t.shape]);
  const gzAbs = Nd.zeros([...z.shape]);
  const gtAbs = Nd.zeros([...t.shape]);
  let loss = 0;
  const cosGrad = (x: Nd, gx: Nd, gabs: Nd, i: number, j: number, coef: number) => {
    const d = x.shape[1];
    const [ra, rb, ab] = rowStats(x, i, j);
    const na = Math.max(ra, eps);
    const nb = Math.max(rb, eps);
    const cos = ab / (na * nb);
    for (let k = 0; k < d; k++) {
      const a = x.data[i * d + k];
      const b = x.data[j * d + k];
      const ti = [(coef * b) / nb / na, ra > eps ? (-coef * cos * a) / na / na : 0];
      const tj = [(coef * a) / na / nb, rb > eps ? (-coef * cos * b) / nb / nb : 0];
      gx.data[i * d + k] += ti[0] + ti[1];
      gx.data[j * d + k] += tj[0] + tj[1];
      gabs.data[i * d + k] += Math.abs(ti[0]) + Math.abs(ti[1]);
      gabs.data[j * d + k] += Math.abs(tj[0]) + Math.abs(tj[1]);
    }
  };
  const cosOf = (x: Nd, i: number, j: number) => {
    const [ra, rb, ab] = rowStats(x, i, j);
    return ab / (Math.max(ra, eps) * Math.max(rb, eps));
  };
  for (let p = 0; p < P; p++) {
    const i = pairs[2 * p];
    const j = pairs[2 * p + 1];
    const diff = cosOf(z, i, j) - cosOf(t, i, j);
    loss += diff * diff;
    const coef = (g * 2 * diff) / P;
    cosGrad(z, gz, gzAbs, i, j, coef);
    cosGrad(t, gt, gtAbs, i, j, -coef);
  }
  return { loss: loss / P, gz, gt, gzAbs, gtAbs };
}
