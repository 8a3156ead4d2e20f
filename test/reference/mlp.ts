// Float64 reference of a 2-layer MLP (linear → tanh → linear, MSE loss) with hand-written backprop.
export interface MlpParams { w1: Float64Array; b1: Float64Array; w2: Float64Array; b2: Float64Array }

export function mlpLossAndGrads(p: MlpParams, x: Float64Array, t: Float64Array, n: number, din: number, h: number, dout: number) {
  const a = new Float64Array(n * h);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < h; j++) {
      let s = p.b1[j];
      for (let k = 0; k < din; k++) s += x[i * din + k] * p.w1[k * h + j];
      a[i * h + j] = Math.tanh(s);
    }
  const y = new Float64Array(n * dout);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < dout; j++) {
      let s = p.b2[j];
      for (let k = 0; k < h; k++) s += a[i * h + k] * p.w2[k * dout + j];
      y[i * dout + j] = s;
    }
  let loss = 0;
  const dy = new Float64Array(n * dout);
  for (let i = 0; i < y.length; i++) {
    const d = y[i] - t[i];
    loss += d * d;
    dy[i] = (2 * d) / y.length;
  }
  loss /= y.length;
  const g: MlpParams = { w1: new Float64Array(din * h), b1: new Float64Array(h), w2: new Float64Array(h * dout), b2: new Float64Array(dout) };
  const da = new Float64Array(n * h);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < dout; j++) {
      const d = dy[i * dout + j];
      g.b2[j] += d;
      for (let k = 0; k < h; k++) {
        g.w2[k * dout + j] += a[i * h + k] * d;
        da[i * h + k] += p.w2[k * dout + j] * d;
      }
    }
  for (let i = 0; i < n; i++)
    for (let k = 0; k < h; k++) {
      const dz = da[i * h + k] * (1 - a[i * h + k] ** 2);
      g.b1[k] += dz;
      for (let m = 0; m < din; m++) g.w1[m * h + k] += x[i * din + m] * dz;
    }
  return { loss, grads: g };
}
