// Float64 reference for the fused InfoNCE (src/tensor/ops/infonce.ts): the N×M scores materialised,
// plain loops, gradients by the chain rule written out (softmax − one-hot, then the L2 normalisation).
import { Nd } from './nd.ts';

export interface InfoNCERefOpts {
  tau: number;
  cosine: boolean;
  /** Row i's positive (default i). */
  pos?: ArrayLike<number>;
  logQ?: ArrayLike<number>;
  aIds?: ArrayLike<number>;
  cIds?: ArrayLike<number>;
  eps?: number;
}

function normalizeRows(x: Nd, eps: number): { y: Float64Array; norms: Float64Array } {
  const [n, d] = x.shape;
  const y = new Float64Array(n * d);
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let k = 0; k < d; k++) ss += x.data[i * d + k] ** 2;
    norms[i] = Math.sqrt(ss);
    const inv = 1 / Math.max(norms[i], eps);
    for (let k = 0; k < d; k++) y[i * d + k] = x.data[i * d + k] * inv;
  }
  return { y, norms };
}

/** dx from dy for y = x / max(‖x‖, eps), row by row. */
function normalizeBackward(y: Float64Array, norms: Float64Array, dy: Float64Array, d: number, eps: number): Float64Array {
  const dx = new Float64Array(dy.length);
  for (let i = 0; i < norms.length; i++) {
    let dot = 0;
    for (let k = 0; k < d; k++) dot += y[i * d + k] * dy[i * d + k];
    for (let k = 0; k < d; k++) {
      dx[i * d + k] = norms[i] > eps ? (dy[i * d + k] - y[i * d + k] * dot) / norms[i] : dy[i * d + k] / eps;
    }
  }
  return dx;
}

/**
 * Per-row loss ℓ_i = lse_i − s_{i,pos_i} and the gradients of Σ_i g_i·ℓ_i (g defaults to ones) with
 * respect to a and c (c already perturbed: d/dc = d/dc̃).
 */
export function infoNCERef(a: Nd, c: Nd, o: InfoNCERefOpts, g?: Nd): { loss: Nd; da: Nd; dc: Nd; lse: Float64Array } {
  const [N, d] = a.shape;
  const M = c.shape[0];
  const eps = o.eps ?? 1e-12;
  const an = o.cosine ? normalizeRows(a, eps) : { y: a.data, norms: new Float64Array(N) };
  const cn = o.cosine ? normalizeRows(c, eps) : { y: c.data, norms: new Float64Array(M) };
  const pos = (i: number) => (o.pos ? o.pos[i] : i);
  const masked = (i: number, j: number) => {
    if (!o.cIds || j === pos(i)) return false;
    const key = o.aIds ? o.aIds[i] : o.cIds[pos(i)];
    return o.cIds[j] === key;
  };
  const loss = new Float64Array(N);
  const lseAll = new Float64Array(N);
  const dA = new Float64Array(N * d); // d/d â
  const dC = new Float64Array(M * d); // d/d ĉ
  const s = new Float64Array(M);
  for (let i = 0; i < N; i++) {
    let mx = -Infinity;
    for (let j = 0; j < M; j++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += an.y[i * d + k] * cn.y[j * d + k];
      s[j] = dot / o.tau - (o.logQ ? o.logQ[j] : 0);
      if (!masked(i, j)) mx = Math.max(mx, s[j]);
    }
    let sum = 0;
    for (let j = 0; j < M; j++) if (!masked(i, j)) sum += Math.exp(s[j] - mx);
    const lse = mx + Math.log(sum);
    lseAll[i] = lse;
    loss[i] = lse - s[pos(i)];
    const gi = g ? g.data[i] : 1;
    for (let j = 0; j < M; j++) {
      if (masked(i, j)) continue;
      const w = (gi * (Math.exp(s[j] - lse) - (j === pos(i) ? 1 : 0))) / o.tau;
      if (w === 0) continue;
      for (let k = 0; k < d; k++) {
        dA[i * d + k] += w * cn.y[j * d + k];
        dC[j * d + k] += w * an.y[i * d + k];
      }
    }
  }
  const da = o.cosine ? normalizeBackward(an.y, an.norms, dA, d, eps) : dA;
  const dc = o.cosine ? normalizeBackward(cn.y, cn.norms, dC, d, eps) : dC;
  return { loss: new Nd(loss, [N]), da: new Nd(da, [N, d]), dc: new Nd(dc, [M, d]), lse: lseAll };
}
