// Float64 reference for full-catalog evaluation (src/train/metrics.ts): scores, ranks with the tie and
// exclusion rules, top-k, and the metric definitions, written as plain loops straight from the rules.

/** scores[u][i] = users[u]·items[i] in float64. */
export function scoresRef(items: Float64Array, I: number, users: Float64Array, U: number, d: number): Float64Array {
  const s = new Float64Array(U * I);
  for (let u = 0; u < U; u++)
    for (let i = 0; i < I; i++) {
      let acc = 0;
      for (let c = 0; c < d; c++) acc += users[u * d + c] * items[i * d + c];
      s[u * I + i] = acc;
    }
  return s;
}

function excludedSet(offsets: Int32Array | undefined, exItems: Int32Array | undefined, u: number): Set<number> {
  const set = new Set<number>();
  if (offsets && exItems) for (let p = offsets[u]; p < offsets[u + 1]; p++) set.add(exItems[p]);
  return set;
}

/**
 * Rank of each target: candidates are all items except the target, the user's excluded items and the
 * user's other targets; rank = #candidates with a higher score + #with an equal score and lower id.
 */
export function ranksRef(scores: Float64Array, I: number, U: number, targets: Int32Array, T: number, offsets?: Int32Array, exItems?: Int32Array): Int32Array {
  const out = new Int32Array(U * T);
  for (let u = 0; u < U; u++) {
    const ex = excludedSet(offsets, exItems, u);
    for (let t = 0; t < T; t++) {
      const tgt = targets[u * T + t];
      const st = scores[u * I + tgt];
      const others = new Set<number>();
      for (let o = 0; o < T; o++) if (o !== t) others.add(targets[u * T + o]);
      let r = 0;
      for (let j = 0; j < I; j++) {
        if (j === tgt || ex.has(j) || others.has(j)) continue;
        const sj = scores[u * I + j];
        if (sj > st || (sj === st && j < tgt)) r++;
      }
      out[u * T + t] = r;
    }
  }
  return out;
}

/** For scores with float rounding: the range of ranks consistent with |score error| ≤ eps. */
export function rankBoundsRef(scores: Float64Array, I: number, U: number, targets: Int32Array, eps: number): { lo: Int32Array; hi: Int32Array } {
  const lo = new Int32Array(U);
  const hi = new Int32Array(U);
  for (let u = 0; u < U; u++) {
    const tgt = targets[u];
    const st = scores[u * I + tgt];
    for (let j = 0; j < I; j++) {
      if (j === tgt) continue;
      const sj = scores[u * I + j];
      if (sj > st + eps) lo[u]++;
      if (sj > st - eps) hi[u]++;
    }
  }
  return { lo, hi };
}

/** Each user's k best non-excluded items, ties → lower id, −1 when fewer than k remain. */
export function topKRef(scores: Float64Array, I: number, U: number, k: number, offsets?: Int32Array, exItems?: Int32Array): Int32Array {
  const out = new Int32Array(U * k).fill(-1);
  for (let u = 0; u < U; u++) {
    const ex = excludedSet(offsets, exItems, u);
    const ids: number[] = [];
    for (let j = 0; j < I; j++) if (!ex.has(j)) ids.push(j);
    ids.sort((a, b) => scores[u * I + b] - scores[u * I + a] || a - b);
    for (let s = 0; s < Math.min(k, ids.length); s++) out[u * k + s] = ids[s];
  }
  return out;
}

/** Mean metrics over users from ranks [U·T] (see the protocol comment in src/train/metrics.ts). */
export function metricsRef(ranks: Int32Array, T: number, ks: number[]): Record<string, number> {
  const U = ranks.length / T;
  const m: Record<string, number> = {};
  for (const k of ks) {
    let hr = 0;
    let nd = 0;
    let rc = 0;
    for (let u = 0; u < U; u++) {
      const rs = Array.from(ranks.subarray(u * T, (u + 1) * T));
      if (rs.some((r) => r < k)) hr++;
      rc += rs.filter((r) => r < k).length / T;
      nd += rs.reduce((a, r) => a + (r < k ? 1 / Math.log2(r + 2) : 0), 0) / T;
    }
    m[`HR@${k}`] = hr / U;
    m[`NDCG@${k}`] = nd / U;
    m[`Recall@${k}`] = rc / U;
  }
  let mrr = 0;
  for (let u = 0; u < U; u++) {
    let s = 0;
    for (let t = 0; t < T; t++) {
      const r = ranks[u * T + t];
      if (r < 10) s += 1 / (r + 1);
    }
    mrr += s / T;
  }
  m['MRR@10'] = mrr / U;
  return m;
}
