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
//   `window` fixes it: we compute both window widths and pick per sequence, which costs one extra
//   window pass (W ≤ 8, cheap) and keeps the kernel's window a plain scalar.

import type { Tensor } from '../tensor/tensor.ts';
import { tensor, zeros } from '../tensor/ops/creation.ts';
import { reshape, concat } from '../tensor/ops/layout.ts';
import { add, mul, sub } from '../tensor/ops/binary.ts';
import { linear } from '../tensor/ops/matmul.ts';
import { softmax } from '../tensor/ops/softmax.ts';
import { sum } from '../tensor/ops/reduce.ts';
import { gatherRows, indexTensor } from '../tensor/ops/gather.ts';
import { causalAttention, blockAttention, selectBlocks, selectiveAttention } from '../tensor/ops/attention.ts';
import { tidy } from '../tensor/scope.ts';
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

  constructor(readonly cfg: SalConfig, rand: () => number) {
    const d = cfg.dim;
    this.on = { short: true, long: true, core: true, ...cfg.branches };
    const n = +this.on.short + +this.on.long + +this.on.core;
    if (n === 0) throw new Error('SAL: every branch is switched off');
    const qkv = (name: string): Qkv => ({
      q: xavierUniform(d, d, rand, `sal.${name}.q`),
      k: xavierUniform(d, d, rand, `sal.${name}.k`),
      v: xavierUniform(d, d, rand, `sal.${name}.v`),
    });
    this.window = qkv('window');
    this.blk = qkv('block');
    this.core = qkv('core');
    this.phi = xavierUniform(cfg.blockSize * d, d, rand, 'sal.phi');
    this.phiBias = zerosParam([d], 'sal.phi.bias');
    this.gate = xavierUniform(n * d, n, rand, 'sal.gate');
    this.gateBias = zerosParam([n], 'sal.gate.bias');
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
    const d = h.shape[2];
    const cfg = this.cfg;
    const lastOnly = opts.lastOnly ?? false;
    return tidy(() => {
      const len = tensor(lengths, [B], { dtype: 'i32', engine: h.engine });
      // Queries: every position, or only each sequence's last item.
      const hq = lastOnly ? lastItems(h, lengths) : h;
      const on = this.on;

      const branches: Tensor[] = [];
      if (on.short) branches.push(this.shortTerm(h, hq, len, lengths, lastOnly));

      if (on.long || on.core) {
        const blocks = this.blockEmbeddings(h);
        const qb = linear(hq, this.blk.q);
        const kb = linear(blocks, this.blk.k);
        if (on.long) branches.push(blockAttention(qb, kb, linear(blocks, this.blk.v), len, { blockSize: cfg.blockSize, lastOnly }));
        if (on.core) {
          const selected = selectBlocks(qb, kb, len, { blockSize: cfg.blockSize, k: cfg.topK, lastOnly });
          const z = selectiveAttention(linear(hq, this.core.q), linear(h, this.core.k), linear(h, this.core.v), selected, len, {
            blockSize: cfg.blockSize,
            lastOnly,
          });
          branches.push(z);
        }
      }
      if (branches.length === 1) return branches[0];
      const n = branches.length;
      const all = concat(branches, -1); // [B, Lq, n·d]
      const g = softmax(linear(all, this.gate, this.gateBias)); // [B, Lq, n]
      const Lq = branches[0].shape[1];
      return sum(mul(reshape(all, [B, Lq, n, d]), reshape(g, [B, Lq, n, 1])), 2);
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

  private shortTerm(h: Tensor, hq: Tensor, len: Tensor, lengths: Int32Array, lastOnly: boolean): Tensor {
    const q = linear(hq, this.window.q);
    const k = linear(h, this.window.k);
    const v = linear(h, this.window.v);
    const w = this.cfg.window;
    if (w !== 'paper') return causalAttention(q, k, v, len, { window: w, lastOnly });
    // Paper rule per sequence: W = 8 when the history is longer than 30 items, else 4.
    const long = Array.from(lengths, (n) => (n > 30 ? 1 : 0));
    if (long.every((x) => !x)) return causalAttention(q, k, v, len, { window: 4, lastOnly });
    if (long.every((x) => x)) return causalAttention(q, k, v, len, { window: 8, lastOnly });
    const z4 = causalAttention(q, k, v, len, { window: 4, lastOnly });
    const z8 = causalAttention(q, k, v, len, { window: 8, lastOnly });
    const m = tensor(long, [long.length, 1, 1], { engine: h.engine });
    // z4 + m·(z8 − z4)
    return add(z4, mul(m, sub(z8, z4)));
  }

  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
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

