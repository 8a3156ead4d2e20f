// Float64 reference for the blocked sparse attention ops (src/tensor/ops/attention.ts): plain loops
// over each query's explicit key list, softmax and its gradient written out, top-k by sorting.
import { Nd } from './nd.ts';

export type AttnMode =
  | { kind: 'causal'; window: number }
  | { kind: 'block'; bs: number }
  | { kind: 'selective'; bs: number; sel: Int32Array; ksel: number }
  /** Dense causal attention over keys j < ⌊t/bs⌋·bs (the items of every block that ends before t). */
  | { kind: 'prefix'; bs: number };

export interface AttnRef {
  out: Nd;
  gq: Nd;
  gk: Nd;
  gv: Nd;
}

/** Query position of query row qi, or −1 for padding. */
export function queryPos(len: number, qi: number, lastOnly: boolean): number {
  if (lastOnly) return len - 1;
  return qi < len ? qi : -1;
}

/** Key rows (within the sequence) query t (query row `row`) attends to, with repeats. */
export function keysOf(mode: AttnMode, t: number, row: number, rows: number): number[] {
  const keys: number[] = [];
  if (t < 0) return keys;
  if (mode.kind === 'causal') {
    const lo = mode.window > 0 ? Math.max(0, t - mode.window + 1) : 0;
    for (let j = lo; j <= t; j++) keys.push(j);
  } else if (mode.kind === 'block') {
    for (let b = 0; b < Math.min(Math.floor(t / mode.bs), rows); b++) keys.push(b);
  } else if (mode.kind === 'prefix') {
    for (let j = 0; j < Math.floor(t / mode.bs) * mode.bs; j++) keys.push(j);
  } else {
    for (let s = 0; s < mode.ksel; s++) {
      const blk = mode.sel[row * mode.ksel + s];
      if (blk < 0 || (blk + 1) * mode.bs > t) continue;
      for (let j = blk * mode.bs; j < (blk + 1) * mode.bs; j++) keys.push(j);
    }
  }
  return keys;
}

/**
 * Attention forward and, given the output gradient g, the gradients for q, k, v. q [B, Lq, d],
 * k/v [B, rows, d], lengths [B]; scale 1/√d; queries without keys output 0.
 */
export function attentionRef(mode: AttnMode, q: Nd, k: Nd, v: Nd, lengths: number[], lastOnly: boolean, g?: Nd): AttnRef {
  const [B, Lq, d] = q.shape;
  const rows = k.shape[1];
  const scale = 1 / Math.sqrt(d);
  const out = Nd.zeros(q.shape);
  const gq = Nd.zeros(q.shape);
  const gk = Nd.zeros(k.shape);
  const gv = Nd.zeros(k.shape);
  for (let b = 0; b < B; b++) {
    for (let qi = 0; qi < Lq; qi++) {
      const row = b * Lq + qi;
      const t = queryPos(lengths[b], qi, lastOnly);
      const keys = keysOf(mode, t, row, rows);
      if (!keys.length) continue;
      const qo = row * d;
      const s = keys.map((j) => {
        let acc = 0;
        for (let c = 0; c < d; c++) acc += q.data[qo + c] * k.data[(b * rows + j) * d + c];
        return acc * scale;
      });
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const z = e.reduce((a, x) => a + x, 0);
      const p = e.map((x) => x / z);
      keys.forEach((j, n) => {
        for (let c = 0; c < d; c++) out.data[qo + c] += p[n] * v.data[(b * rows + j) * d + c];
      });
      if (!g) continue;
      const dp = keys.map((j) => {
        let acc = 0;
        for (let c = 0; c < d; c++) acc += g.data[qo + c] * v.data[(b * rows + j) * d + c];
        return acc;
      });
      const delta = p.reduce((a, pn, n) => a + pn * dp[n], 0);
      keys.forEach((j, n) => {
        const ds = p[n] * (dp[n] - delta) * scale;
        const ko = (b * rows + j) * d;
        for (let c = 0; c < d; c++) {
          gq.data[qo + c] += ds * k.data[ko + c];
          gk.data[ko + c] += ds * q.data[qo + c];
          gv.data[ko + c] += p[n] * g.data[qo + c];
        }
      });
    }
  }
  return { out, gq, gk, gv };
}

/**
 * Top-k visible blocks per query by q·kb (float64), best first, ties → earlier block, −1 padding:
 * [B, Lq, k] flattened.
 */
export function selectBlocksRef(q: Nd, kb: Nd, lengths: number[], bs: number, k: number, lastOnly: boolean): Int32Array {
  const [B, Lq, d] = q.shape;
  const nb = kb.shape[1];
  const out = new Int32Array(B * Lq * k).fill(-1);
  for (let b = 0; b < B; b++) {
    for (let qi = 0; qi < Lq; qi++) {
      const row = b * Lq + qi;
      const t = queryPos(lengths[b], qi, lastOnly);
      if (t < 0) continue;
      const nvis = Math.min(Math.floor(t / bs), nb);
      const scored: [number, number][] = [];
      for (let blk = 0; blk < nvis; blk++) {
        let acc = 0;
        for (let c = 0; c < d; c++) acc += q.data[row * d + c] * kb.data[(b * nb + blk) * d + c];
        scored.push([acc, blk]);
      }
      scored.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
      for (let s = 0; s < Math.min(k, scored.length); s++) out[row * k + s] = scored[s][1];
    }
  }
  return out;
}
