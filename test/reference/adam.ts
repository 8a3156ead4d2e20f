// Float64 reference of PyTorch's Adam/AdamW update (torch.optim.Adam / AdamW, no amsgrad).
export interface AdamRefOpts { lr: number; beta1: number; beta2: number; eps: number; wd: number; decoupled: boolean }

export class AdamRef {
  m: Float64Array[];
  v: Float64Array[];
  t = 0;
  constructor(readonly params: Float64Array[], readonly o: AdamRefOpts) {
    this.m = params.map((p) => new Float64Array(p.length));
    this.v = params.map((p) => new Float64Array(p.length));
  }
  /** clipNorm > 0: scale all grads by min(1, clipNorm / (‖g‖ + 1e-6)) first (torch clip_grad_norm_). */
  step(grads: Float64Array[], clipNorm = 0): number {
    this.t++;
    let sq = 0;
    for (const g of grads) for (const x of g) sq += x * x;
    const norm = Math.sqrt(sq);
    const scale = clipNorm > 0 ? Math.min(1, clipNorm / (norm + 1e-6)) : 1;
    const { lr, beta1, beta2, eps, wd, decoupled } = this.o;
    const bc1 = 1 - beta1 ** this.t;
    const bc2 = 1 - beta2 ** this.t;
    this.params.forEach((p, k) => {
      for (let i = 0; i < p.length; i++) {
        let g = grads[k][i] * scale;
        if (decoupled) p[i] *= 1 - lr * wd;
        else g += wd * p[i];
        this.m[k][i] = beta1 * this.m[k][i] + (1 - beta1) * g;
        this.v[k][i] = beta2 * this.v[k][i] + (1 - beta2) * g * g;
        p[i] -= (lr * (this.m[k][i] / bc1)) / (Math.sqrt(this.v[k][i] / bc2) + eps);
      }
    });
    return norm;
  }
}
