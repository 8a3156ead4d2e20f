// SAL — the Sparse Attention-based Alignment Layer (paper §3.2, eq. 6–12): three attention branches
// over a user's fused item sequence H [B, L, d], combined by a learned gate into the user vector.
//
//   z_short = window attention over the W most recent items           (§3.2.1, eq. 6–7)
//   z_long  = attention over block embeddings φ(block) of blocks that end before t   (§3.2.2, eq. 8–9)
//   z_core  = attention over the items of the top-k blocks by block score          (§3.2.3, eq. 10–12)
//   user    = Σ_b g_b · z_b,  g = softmax(W_g [z_short; z_long; z_core] + b_g)
//
// Choices where the paper is silent (all SalConfig fields):
// - φ is "a linear projection" of a block's items: we project the concatenation of the bs item vectors
//   ([bs·d] → d), which keeps item order inside the block (a mean would not).
// - The gate is a softmax over the three branches computed from their concatenation: a convex
//   combination keeps the user vector on the scale of the branch outputs.
// - Every branch has its own Q/K/V projections, as in the paper (W^Q_w, W^K_b, …).
// - W follows the paper's rule per sequence (8 if the history is longer than 30 items, else 4) unless
//   `window` fixes it: the window kernel picks W per sequence from its length (causalAttention's
//   longWindow). It used to run both widths and mix them: one more attention pass and three
//   [B, L, d] elementwise passes each way.

import type { Tensor } from '../tensor/tensor.ts';
import { tensor, zeros } from '../tensor/ops/creation.ts';
import { reshape, concat } from '../tensor/ops/layout.ts';
import { linear } from '../tensor/ops/matmul.ts';
import { gatherRows, indexTensor } from '../tensor/ops/gather.ts';
import { causalAttention, blockAttention, blockAttentionSelect, selectBlocks, selectiveAttention } from '../tensor/ops/attention.ts';
import { gatedMix } from '../tensor/ops/gate.ts';
import { tidy } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import { xavierUniform, zerosParam } from '../nn/init.ts';

export interface SalConfig {
  /** Item/user vector size. */
  dim: number;
  /** Items per interest block (paper: "a fixed number"; 8 gives ML-100K's ~106-item histories ~13 blocks). */
  blockSize: number;
  /** Blocks kept by the selective branch (top-k by block score). */
  topK: number;
  /** Window width; 'paper' = 8 when the sequence is longer than 30 items, else 4 (§3.2.1). */
  window: number | 'paper';
  /** Switch branches off for ablations (the gate then mixes the remaining ones; at least one stays). */
  branches?: { short?: boolean; long?: boolean; core?: boolean };
}

export const defaultSalConfig: SalConfig = { dim: 64, blockSize: 8, topK: 4, window: 'paper' };

interface Qkv {
  q: Tensor;
  k: Tensor;
  v: Tensor;
}

export class SAL {
  readonly window: Qkv;
  readonly blk: Qkv;
  readonly core: Qkv;
  /** φ: [bs·d, d] projection of a block's concatenated items, and its bias. */
  readonly phi: Tensor;
  readonly phiBias: Tensor;
  readonly gate: Tensor;
  readonly gateBias: Tensor;
  private readonly on: { short: boolean; long: boolean; core: boolean };

  /** `prefix` names the parameters (checkpoints): 'sal' for MUFASA's first layer, 'sal1', … above it. */
  constructor(readonly cfg: SalConfig, rand: () => number, prefix = 'sal') {
    const d = cfg.dim;
    this.on = { short: true, long: true, core: true, ...cfg.branches };
    const n = +this.on.short + +this.on.long + +this.on.core;
    if (n === 0) throw new Error('SAL: every branch is switched off');
    const qkv = (name: string): Qkv => ({
      q: xavierUniform(d, d, rand, `${prefix}.${name}.q`),
      k: xavierUniform(d, d, rand, `${prefix}.${name}.k`),
      v: xavierUniform(d, d, rand, `${prefix}.${name}.v`),
    });
    this.window = qkv('window');
    this.blk = qkv('block');
    this.core = qkv('core');
    this.phi = xavierUniform(cfg.blockSize * d, d, rand, `${prefix}.phi`);
    this.phiBias = zerosParam([d], `${prefix}.phi.bias`);
    this.gate = xavierUniform(n * d, n, rand, `${prefix}.gate`);
    this.gateBias = zerosParam([n], `${prefix}.gate.bias`);
  }

  parameters(): Tensor[] {
    return [
      ...[this.window, this.blk, this.core].flatMap((p) => [p.q, p.k, p.v]),
      this.phi,
      this.phiBias,
      this.gate,
      this.gateBias,
    ];
  }

  /**
   * User vectors from the item sequence `h` [B, L, d] (left-aligned, `lengths` valid items each).
   * Every position t (training on every prefix) → [B, L, d]; `lastOnly` → [B, 1, d] at t = len − 1.
   */
  forward(h: Tensor, lengths: Int32Array, opts: { lastOnly?: boolean } = {}): Tensor {
    const B = h.shape[0];
    const cfg = this.cfg;
    const lastOnly = opts.lastOnly ?? false;
    return tidy(() => {
      const len = tensor(lengths, [B], { dtype: 'i32', engine: h.engine });
      // Queries: every position, or only each sequence's last item.
      const hq = lastOnly ? lastItems(h, lengths) : h;
      const on = this.on;

      const branches: Tensor[] = [];
      if (on.short) branches.push(this.shortTerm(h, hq, len, lastOnly));

      if (on.long || on.core) {
        const blocks = this.blockEmbeddings(h);
        const qb = linear(hq, this.blk.q);
        const kb = linear(blocks, this.blk.k);
        const sel = { blockSize: cfg.blockSize, k: cfg.topK, lastOnly };
        // Both branches: the top-k comes off the block attention's own scores (no second q·kb pass).
        const both = on.long && on.core ? blockAttentionSelect(qb, kb, linear(blocks, this.blk.v), len, sel) : null;
        if (on.long) branches.push(both?.out ?? blockAttention(qb, kb, linear(blocks, this.blk.v), len, sel));
        if (on.core) {
          const selected = both?.selected ?? selectBlocks(qb, kb, len, sel);
          const z = selectiveAttention(linear(hq, this.core.q), linear(h, this.core.k), linear(h, this.core.v), selected, len, {
            blockSize: cfg.blockSize,
            lastOnly,
          });
          branches.push(z);
        }
      }
      if (branches.length === 1) return branches[0];
      // g = softmax([z_short; z_long; z_core]·gate + gateBias), user = Σ_b g_b z_b, fused (ops/gate.ts).
      return gatedMix(branches, this.gate, this.gateBias);
    });
  }

  /** Block embeddings φ: [B, nb, d] from the concatenated items of each block (the last one zero-padded). */
  blockEmbeddings(h: Tensor): Tensor {
    const [B, L, d] = h.shape;
    const bs = this.cfg.blockSize;
    const nb = Math.ceil(L / bs);
    const padded = nb * bs === L ? h : concat([h, zeros([B, nb * bs - L, d], { engine: h.engine })], 1);
    return linear(reshape(padded, [B, nb, bs * d]), this.phi, this.phiBias);
  }

  /**
   * What SAL looks at from each sequence's last position (read only, no gradient; the demo's SAL
   * view): the block-attention weights of the long-term branch (softmax of q·kb/√d over the blocks
   * that end before the query, as blockAttention computes them; 0 for invisible blocks), the top-k
   * blocks the core branch selected (selectBlocks, best first, −1 = none), and the window width.
   */
  async explain(h: Tensor, lengths: Int32Array): Promise<SalExplanation[]> {
    const [B, , d] = h.shape;
    const bs = this.cfg.blockSize;
    const [qb, kb, sel] = tidy(() =>
      noGrad(() => {
        const len = tensor(lengths, [B], { dtype: 'i32', engine: h.engine });
        const q = linear(lastItems(h, lengths), this.blk.q);
        const k = linear(this.blockEmbeddings(h), this.blk.k);
        return [q, k, selectBlocks(q, k, len, { blockSize: bs, k: this.cfg.topK, lastOnly: true })];
      }),
    );
    try {
      const [q, k, s] = [await qb.data(), await kb.data(), await sel.data()];
      const nb = kb.shape[1];
      return Array.from(lengths, (n, b) => {
        const t = n - 1;
        const logits = Array.from({ length: nb }, (_, c) => {
          if ((c + 1) * bs > t) return -Infinity;
          let dot = 0;
          for (let j = 0; j < d; j++) dot += q[b * d + j] * k[(b * nb + c) * d + j];
          return dot / Math.sqrt(d);
        });
        const m = Math.max(...logits);
        const ex = logits.map((x) => (x === -Infinity ? 0 : Math.exp(x - m)));
        const z = ex.reduce((a, x) => a + x, 0);
        const window = this.cfg.window === 'paper' ? (n > 30 ? 8 : 4) : this.cfg.window;
        return { blockWeights: ex.map((x) => (z > 0 ? x / z : 0)), selected: Array.from(s.subarray(b * this.cfg.topK, (b + 1) * this.cfg.topK)), window, length: n };
      });
    } finally {
      [qb, kb, sel].forEach((t) => t.dispose());
    }
  }

  private shortTerm(h: Tensor, hq: Tensor, len: Tensor, lastOnly: boolean): Tensor {
    const q = linear(hq, this.window.q);
    const k = linear(h, this.window.k);
    const v = linear(h, this.window.v);
    const w = this.cfg.window;
    if (w !== 'paper') return causalAttention(q, k, v, len, { window: w, lastOnly });
    // Paper rule per sequence: W = 8 when the history is longer than 30 items, else 4.
    return causalAttention(q, k, v, len, { window: 4, longWindow: { window: 8, longerThan: 30 }, lastOnly });
  }

  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}

/** SAL.explain's answer for one sequence. */
export interface SalExplanation {
  /** Per block (nb = ⌈L/bs⌉): the long-term branch's attention weight from the last position. */
  blockWeights: number[];
  /** The core branch's top-k block indices, best first (−1: fewer visible blocks than k). */
  selected: number[];
  window: number;
  length: number;
}

/** h[b, len_b − 1, :] as [B, 1, d]. */
export function lastItems(h: Tensor, lengths: Int32Array): Tensor {
  const [B, L, d] = h.shape;
  const idx = indexTensor(
    Array.from(lengths, (n, b) => b * L + n - 1),
    [B],
    B * L,
    { engine: h.engine },
  );
  return reshape(gatherRows(reshape(h, [B * L, d]), idx), [B, 1, d]);
}

