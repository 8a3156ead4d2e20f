// Float64 reference of the BPR-MF loss of src/train/cf.ts and its gradients with respect to both
// embedding tables (plain loops):
//   L = mean_b softplus(−x_b) + l2 · Σ_b (‖u_b‖² + ‖i⁺_b‖² + ‖i⁻_b‖²) / B,   x_b = u_b·(i⁺_b − i⁻_b)

function softplus(z: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

export function bprLossRef(
  userEmb: Float64Array,
  itemEmb: Float64Array,
  d: number,
  users: ArrayLike<number>,
  pos: ArrayLike<number>,
  neg: ArrayLike<number>,
  l2: number,
): { loss: number; gUser: Float64Array; gItem: Float64Array } {
  const b = users.length;
  const gUser = new Float64Array(userEmb.length);
  const gItem = new Float64Array(itemEmb.length);
  let loss = 0;
  for (let k = 0; k < b; k++) {
    const u = users[k] * d;
    const p = pos[k] * d;
    const n = neg[k] * d;
    let x = 0;
    let reg = 0;
    for (let j = 0; j < d; j++) {
      x += userEmb[u + j] * (itemEmb[p + j] - itemEmb[n + j]);
      reg += userEmb[u + j] ** 2 + itemEmb[p + j] ** 2 + itemEmb[n + j] ** 2;
    }
    loss += softplus(-x) / b + (l2 * reg) / b;
    // d softplus(−x)/dx = −σ(−x)
    const dx = -1 / (1 + Math.exp(x)) / b;
    for (let j = 0; j < d; j++) {
      const uj = userEmb[u + j];
      const pj = itemEmb[p + j];
      const nj = itemEmb[n + j];
      gUser[u + j] += dx * (pj - nj) + (2 * l2 * uj) / b;
      gItem[p + j] += dx * uj + (2 * l2 * pj) / b;
      gItem[n + j] += -dx * uj + (2 * l2 * nj) / b;
    }
  }
  return { loss, gUser, gItem };
}
