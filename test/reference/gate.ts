// Float64 reference for gatedMix (src/tensor/ops/gate.ts): g = softmax(concat(z)·W + bias), y = Σ_b g_b z_b,
// and the gradients of Σ y·w_out, written out directly (no shared code with the kernel's formulas).
import { Nd } from './nd.ts';

export function gatedMixRef(zs: Nd[], W: Nd, bias: Nd, wOut: Nd): { y: Nd; dz: Nd[]; dW: Nd; dbias: Nd } {
  const n = zs.length;
  const d = zs[0].shape[zs[0].shape.length - 1];
  const rows = zs[0].size / d;
  const y = Nd.zeros([...zs[0].shape]);
  const dz = zs.map((z) => Nd.zeros([...z.shape]));
  const dW = Nd.zeros([...W.shape]);
  const dbias = Nd.zeros([n]);
  for (let r = 0; r < rows; r++) {
    const x = (b: number, c: number) => zs[b].data[r * d + c];
    const logits = Array.from({ length: n }, (_, j) => {
      let s = bias.data[j];
      for (let b = 0; b < n; b++) for (let c = 0; c < d; c++) s += x(b, c) * W.data[(b * d + c) * n + j];
      return s;
    });
    const m = Math.max(...logits);
    const ex = logits.map((l) => Math.exp(l - m));
    const tot = ex.reduce((a, b) => a + b, 0);
    const g = ex.map((v) => v / tot);
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let b = 0; b < n; b++) s += g[b] * x(b, c);
      y.data[r * d + c] = s;
    }
    // L = Σ_c wOut_c y_c: ∂L/∂g_b = Σ_c wOut_c z_bc; ∂L/∂logit_j = Σ_b ∂L/∂g_b · g_b (δ_bj − g_j).
    const dg = Array.from({ length: n }, (_, b) => {
      let s = 0;
      for (let c = 0; c < d; c++) s += wOut.data[r * d + c] * x(b, c);
      return s;
    });
    const dl = Array.from({ length: n }, (_, j) => {
      let s = 0;
      for (let b = 0; b < n; b++) s += dg[b] * g[b] * ((b === j ? 1 : 0) - g[j]);
      return s;
    });
    for (let j = 0; j < n; j++) dbias.data[j] += dl[j];
    for (let b = 0; b < n; b++) {
      for (let c = 0; c < d; c++) {
        let s = g[b] * wOut.data[r * d + c];
        for (let j = 0; j < n; j++) {
          s += W.data[(b * d + c) * n + j] * dl[j];
          dW.data[(b * d + c) * n + j] += x(b, c) * dl[j];
        }
        dz[b].data[r * d + c] = s;
      }
    }
  }
  return { y, dz, dW, dbias };
}
