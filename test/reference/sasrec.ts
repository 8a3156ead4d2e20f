// Float64 reference of SASRec (src/model/sasrec.ts) without dropout: forward to the user vectors and
// the full-catalog softmax cross-entropy over every position t < len − 1. Gradients come from central
// finite differences of this function (float64, so they are accurate to ~1e-8 at these sizes).

export interface SasrecRefConfig {
  dim: number;
  heads: number;
  layers: number;
  inner: number;
  scaleEmbedding: boolean;
  layerNormEps: number;
}

export interface SasrecRefBatch {
  items: Int32Array;
  lengths: Int32Array;
  batch: number;
  maxLen: number;
  /** Per row, the first trained position (default 0). */
  firstTarget?: Int32Array;
}

type P = Map<string, Float64Array>;

/** y = x·W + b for rows of x [n, i], W [i, o]. */
function lin(x: Float64Array, n: number, w: Float64Array, b: Float64Array, i: number, o: number): Float64Array {
  const y = new Float64Array(n * o);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < o; c++) {
      let s = b[c];
      for (let k = 0; k < i; k++) s += x[r * i + k] * w[k * o + c];
      y[r * o + c] = s;
    }
  }
  return y;
}

function ln(x: Float64Array, n: number, d: number, g: Float64Array, b: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    let m = 0;
    for (let k = 0; k < d; k++) m += x[r * d + k];
    m /= d;
    let v = 0;
    for (let k = 0; k < d; k++) v += (x[r * d + k] - m) ** 2;
    v /= d;
    const rs = 1 / Math.sqrt(v + eps);
    for (let k = 0; k < d; k++) y[r * d + k] = (x[r * d + k] - m) * rs * g[k] + b[k];
  }
  return y;
}

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

function get(p: P, name: string): Float64Array {
  const v = p.get(name);
  if (!v) throw new Error(`sasrecRef: no parameter ${name}`);
  return v;
}

/** Hidden states [B·L, d] after the last block (padding rows included, as the GPU computes them). */
export function sasrecHiddenRef(c: SasrecRefConfig, p: P, numItems: number, bt: SasrecRefBatch): Float64Array {
  const { batch: B, maxLen: L } = bt;
  const d = c.dim;
  const h = c.heads;
  const dh = d / h;
  const n = B * L;
  const E = get(p, 'sasrec.item');
  const Pos = get(p, 'sasrec.pos');
  let x: Float64Array = new Float64Array(n * d);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < L; t++) {
      const it = bt.items[b * L + t];
      for (let k = 0; k < d; k++) {
        const e = it < numItems ? E[it * d + k] * (c.scaleEmbedding ? Math.sqrt(d) : 1) : 0;
        x[(b * L + t) * d + k] = e + Pos[t * d + k];
      }
    }
  }
  x = ln(x, n, d, get(p, 'sasrec.ln0.gamma'), get(p, 'sasrec.ln0.beta'), c.layerNormEps);
  for (let l = 0; l < c.layers; l++) {
    const pre = `sasrec.block${l}`;
    const w = (s: string) => get(p, `${pre}.${s}`);
    const q = lin(x, n, w('q'), w('q.bias'), d, d);
    const k = lin(x, n, w('k'), w('k.bias'), d, d);
    const v = lin(x, n, w('v'), w('v.bias'), d, d);
    const att = new Float64Array(n * d);
    for (let b = 0; b < B; b++) {
      const len = bt.lengths[b];
      for (let hd = 0; hd < h; hd++) {
        for (let t = 0; t < len; t++) {
          const sc: number[] = [];
          for (let j = 0; j <= t; j++) {
            let s = 0;
            for (let e = 0; e < dh; e++) s += q[(b * L + t) * d + hd * dh + e] * k[(b * L + j) * d + hd * dh + e];
            sc.push(s / Math.sqrt(dh));
          }
          const m = Math.max(...sc);
          const ex = sc.map((s) => Math.exp(s - m));
          const z = ex.reduce((a, b2) => a + b2, 0);
          for (let e = 0; e < dh; e++) {
            let s = 0;
            for (let j = 0; j <= t; j++) s += (ex[j] / z) * v[(b * L + j) * d + hd * dh + e];
            att[(b * L + t) * d + hd * dh + e] = s;
          }
        }
      }
    }
    const a = lin(att, n, w('o'), w('o.bias'), d, d);
    x = ln(x.map((xv, i) => xv + a[i]), n, d, w('ln1.gamma'), w('ln1.beta'), c.layerNormEps);
    const f1 = lin(x, n, w('ff1'), w('ff1.bias'), d, c.inner).map(gelu);
    const f = lin(f1, n, w('ff2'), w('ff2.bias'), c.inner, d);
    x = ln(x.map((xv, i) => xv + f[i]), n, d, w('ln2.gamma'), w('ln2.beta'), c.layerNormEps);
  }
  return x;
}

/** Mean over every position firstTarget ≤ t < len − 1 of −log softmax(u_t·Eᵀ)[item t+1]. */
export function sasrecLossRef(c: SasrecRefConfig, p: P, numItems: number, bt: SasrecRefBatch): number {
  const x = sasrecHiddenRef(c, p, numItems, bt);
  const E = get(p, 'sasrec.item');
  const d = c.dim;
  let total = 0;
  let count = 0;
  for (let b = 0; b < bt.batch; b++) {
    for (let t = bt.firstTarget?.[b] ?? 0; t + 1 < bt.lengths[b]; t++) {
      const row = b * bt.maxLen + t;
      const logits = Array.from({ length: numItems }, (_, j) => {
        let s = 0;
        for (let k = 0; k < d; k++) s += x[row * d + k] * E[j * d + k];
        return s;
      });
      const m = Math.max(...logits);
      const lse = m + Math.log(logits.reduce((a, s) => a + Math.exp(s - m), 0));
      total += lse - logits[bt.items[row + 1]];
      count++;
    }
  }
  return total / count;
}
