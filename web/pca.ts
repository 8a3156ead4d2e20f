// 2-D PCA on the CPU (float64): the item catalogues here are ≤ a few thousand × ≤ a few hundred, so the
// d×d covariance and power iteration take milliseconds, less than a GPU round trip would.

/** Rows of `x` [n, d] projected on their top-2 principal components: [n, 2]. Signs fixed (largest |loading| positive). */
export function pca2(x: ArrayLike<number>, n: number, d: number): Float32Array {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k] += x[i * d + k] / n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) row[k] = x[i * d + k] - mean[k];
    for (let a = 0; a < d; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      for (let b = a; b < d; b++) cov[a * d + b] += ra * row[b];
    }
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) cov[a * d + b] = cov[b * d + a];
  const comps: Float64Array[] = [];
  for (let c = 0; c < 2; c++) {
    let v = new Float64Array(d).map((_, k) => 1 + ((k * 7919) % 13) / 13); // fixed start: reproducible
    let lambda = 0;
    for (let it = 0; it < 300; it++) {
      const w = new Float64Array(d);
      for (let a = 0; a < d; a++) {
        let s = 0;
        for (let b = 0; b < d; b++) s += cov[a * d + b] * v[b];
        w[a] = s;
      }
      for (const p of comps) {
        const dot = w.reduce((s, wk, k) => s + wk * p[k], 0);
        for (let k = 0; k < d; k++) w[k] -= dot * p[k];
      }
      const norm = Math.hypot(...w);
      if (norm === 0) break;
      for (let k = 0; k < d; k++) w[k] /= norm;
      const delta = w.reduce((s, wk, k) => s + Math.abs(wk - v[k]), 0);
      v = w;
      if (Math.abs(norm - lambda) < 1e-12 * norm && delta < 1e-9) break;
      lambda = norm;
    }
    let big = 0;
    for (let k = 0; k < d; k++) if (Math.abs(v[k]) > Math.abs(v[big])) big = k;
    if (v[big] < 0) v = v.map((t) => -t);
    comps.push(v);
  }
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 2; c++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += (x[i * d + k] - mean[k]) * comps[c][k];
      out[i * 2 + c] = s;
    }
  }
  return out;
}
