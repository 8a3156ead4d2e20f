// MFL — the Multimodal Fusion Layer (paper §3.1): per-modality projections → a fusion network over the
// modality tokens (missing modalities masked) → the fused item vector z_i, trained with
//   L_MFL = α1·L_title + α2·L_cf + α3·L_cons + α4·L_fus-cl          (eq. 5; paper: 0.5, 0.25, 0.15, 0.1)
//
// Choices where the paper is silent (MflConfig fields):
// - Fusion network: additive attention pooling over the modality tokens (score_m = wᵀ·tanh(x_m),
//   softmax over the *present* tokens, Σ α_m x_m) followed by a 2-layer GELU MLP with a residual. It
//   handles any number of modalities, gives a missing modality exactly zero weight, and its weights are
//   inspectable (which modality an item's vector leans on). Each token also gets a learned
//   modality-type embedding so the pooling can tell modalities apart when their projections agree.
// - Title anchors: t_i (SIF title vectors, 100-d for GloVe) pass through a learned linear head to d
//   before L_title (as CLIP projects both towers); L_cons uses the raw t_i, whose cosine structure is
//   what it must preserve (eq. 3).
// - Items without a title are left out of L_title and L_cons (paper §3.1.1: low-quality titles are
//   excluded); the caller passes only titled items in `titled`.
// - τ = 0.1 for both contrastive losses, σ = 0.1 for the L_fus-cl perturbation, P = batch size pairs
//   for L_cons.

import type { Tensor } from '../tensor/tensor.ts';
import { reshape, concat, slice } from '../tensor/ops/layout.ts';
import { add, mul } from '../tensor/ops/binary.ts';
import { tanh, gelu, affine } from '../tensor/ops/unary.ts';
import { linear } from '../tensor/ops/matmul.ts';
import { softmax } from '../tensor/ops/softmax.ts';
import { sum, mean } from '../tensor/ops/reduce.ts';
import { gatherRows } from '../tensor/ops/gather.ts';
import { infoNCE } from '../tensor/ops/infonce.ts';
import { mseLoss, consistencyLoss } from '../tensor/ops/losses.ts';
import { xavierUniform, zerosParam, normalParam } from '../nn/init.ts';

export interface MflConfig {
  dim: number;
  /** Loss weights (α1..α4 of eq. 5). */
  weights: { title: number; cf: number; cons: number; fusCl: number };
  temperature: number;
  /** Std of the Gaussian perturbation of L_fus-cl (eq. 4). */
  sigma: number;
  /** Pairs sampled per batch for L_cons (0: the batch size). */
  consPairs: number;
}

export const defaultMflConfig: MflConfig = {
  dim: 64,
  weights: { title: 0.5, cf: 0.25, cons: 0.15, fusCl: 0.1 },
  temperature: 0.1,
  sigma: 0.1,
  consPairs: 0,
};

/** One modality's frozen features on the GPU: values [I, d_m] and present [I, 1] (1 = present, 0 = missing). */
export interface ModalityInput {
  name: string;
  values: Tensor;
  present: Tensor;
}

export interface MflLosses {
  total: Tensor;
  title: Tensor | null;
  cf: Tensor | null;
  cons: Tensor | null;
  fusCl: Tensor | null;
}

/** Large negative logit for a missing modality: exp underflows to exactly 0 in f32. */
const MASKED = -1e4;

export class MFL {
  readonly proj: { w: Tensor; b: Tensor }[];
  readonly typeEmb: Tensor;
  readonly poolW: Tensor;
  readonly mlp1: { w: Tensor; b: Tensor };
  readonly mlp2: { w: Tensor; b: Tensor };
  readonly titleHead: Tensor | null;

  constructor(
    readonly modalityDims: { name: string; dim: number }[],
    readonly titleDim: number,
    readonly cfg: MflConfig,
    rand: () => number,
  ) {
    const d = cfg.dim;
    this.proj = modalityDims.map((m) => ({ w: xavierUniform(m.dim, d, rand, `mfl.proj.${m.name}`), b: zerosParam([d], `mfl.proj.${m.name}.bias`) }));
    this.typeEmb = normalParam([modalityDims.length, d], 0.02, rand, 'mfl.type');
    this.poolW = xavierUniform(d, 1, rand, 'mfl.pool');
    this.mlp1 = { w: xavierUniform(d, d, rand, 'mfl.mlp1'), b: zerosParam([d], 'mfl.mlp1.bias') };
    this.mlp2 = { w: xavierUniform(d, d, rand, 'mfl.mlp2'), b: zerosParam([d], 'mfl.mlp2.bias') };
    this.titleHead = titleDim > 0 ? xavierUniform(titleDim, d, rand, 'mfl.titleHead') : null;
  }

  parameters(): Tensor[] {
    return [
      ...this.proj.flatMap((p) => [p.w, p.b]),
      this.typeEmb,
      this.poolW,
      this.mlp1.w,
      this.mlp1.b,
      this.mlp2.w,
      this.mlp2.b,
      ...(this.titleHead ? [this.titleHead] : []),
    ];
  }

  /** Fused vectors z [n, d] of the items `items` (i32 [n]) from the full modality tables. */
  forward(modalities: ModalityInput[], items: Tensor): Tensor {
    const M = modalities.length;
    if (M !== this.proj.length) throw new Error(`MFL: built for ${this.proj.length} modalities, given ${M}`);
    const n = items.shape[0];
    const d = this.cfg.dim;
    const tokens: Tensor[] = [];
    const masks: Tensor[] = [];
    modalities.forEach((m, i) => {
      const x = gatherRows(m.values, items); // [n, d_m]
      const tok = add(linear(x, this.proj[i].w, this.proj[i].b), slice(this.typeEmb, 0, i, i + 1));
      tokens.push(reshape(tok, [n, 1, d]));
      masks.push(gatherRows(m.present, items)); // [n, 1]
    });
    const toks = concat(tokens, 1); // [n, M, d]
    const present = concat(masks, 1); // [n, M]
    // Attention pooling over present tokens: logits + (1 − present)·MASKED.
    const logits = add(reshape(linear(tanh(toks), this.poolW), [n, M]), affine(present, -MASKED, MASKED));
    const alpha = reshape(softmax(logits), [n, M, 1]);
    const pooled = sum(mul(toks, alpha), 1); // [n, d]
    const hidden = linear(gelu(linear(pooled, this.mlp1.w, this.mlp1.b)), this.mlp2.w, this.mlp2.b);
    return add(pooled, hidden);
  }

  /**
   * L_MFL for a batch: `z` the fused vectors of the batch items, `titles` their raw title vectors
   * [n, titleDim] restricted to titled items by `titled` (`rows`: i32 row indices into the batch,
   * `ids`: those rows' item ids; null for all rows), `cf` their CF embeddings [n, d] (or null to skip L_cf), `itemIds` i32 [n] (duplicates in a
   * batch are not negatives of each other), and the step's seed for the RNG-driven terms.
   */
  losses(z: Tensor, inputs: { titles: Tensor | null; titled: { rows: Tensor; ids: Tensor } | null; cf: Tensor | null; itemIds: Tensor; seed: number }): MflLosses {
    const w = this.cfg.weights;
    const terms: Tensor[] = [];
    const out: MflLosses = { total: null as unknown as Tensor, title: null, cf: null, cons: null, fusCl: null };
    // L_cons needs the titles but not L_title: each can be switched off alone (ablations, Table 6).
    if (inputs.titles && ((w.title > 0 && this.titleHead) || w.cons > 0)) {
      const zt = inputs.titled ? gatherRows(z, inputs.titled.rows) : z;
      const idv = inputs.titled ? inputs.titled.ids : inputs.itemIds;
      const tt = inputs.titled ? gatherRows(inputs.titles, inputs.titled.rows) : inputs.titles;
      if (w.title > 0 && this.titleHead) {
        out.title = mean(infoNCE(zt, linear(tt, this.titleHead), { temperature: this.cfg.temperature, anchorIds: idv, candidateIds: idv }));
        terms.push(affine(out.title, w.title, 0));
      }
      if (w.cons > 0 && zt.shape[0] >= 2) {
        out.cons = consistencyLoss(zt, tt, { pairs: this.cfg.consPairs || zt.shape[0], seed: inputs.seed });
        terms.push(affine(out.cons, w.cons, 0));
      }
    }
    if (inputs.cf && w.cf > 0) {
      out.cf = mseLoss(z, inputs.cf);
      terms.push(affine(out.cf, w.cf, 0));
    }
    if (w.fusCl > 0) {
      out.fusCl = mean(infoNCE(z, z, { temperature: this.cfg.temperature, noise: { sigma: this.cfg.sigma, seed: inputs.seed + 1 }, anchorIds: inputs.itemIds, candidateIds: inputs.itemIds }));
      terms.push(affine(out.fusCl, w.fusCl, 0));
    }
    if (!terms.length) throw new Error('MFL.losses: every loss weight is 0 or its input is missing');
    out.total = terms.reduce((a, b) => add(a, b));
    return out;
  }

  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}
