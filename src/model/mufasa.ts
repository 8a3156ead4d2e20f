// MUFASA (paper §3): MFL turns each item's modalities into a fused vector z_i; SAL turns a user's
// sequence of fused item vectors into user vectors; a user–item contrastive loss aligns the two.
//
//   items:  z = MFL(modalities)            [I, d]   (+ an optional ID embedding, `useIdEmbedding`)
//   users:  H = z[sequence] (pad → 0)      [B, L, d]   (+ positions; dropout in training: config)
//           u = SAL(H, lengths)            [B, L, d] (every prefix) or [B, 1, d] (last item)
//           u = LN(u + FFN(u))             the user head (`userHead`; the paper has none): 'ffn' as
//                                           written, 'block' first u ← LN(h_t + u) (a Transformer layer)
//           (`layers` > 1: the 'block' layer again on its own output, each layer its own SAL and head)
//   loss:   InfoNCE(u_t, z_{target_t}) over in-batch targets (paper) or the full catalog (config)
//
// Choices where the paper is silent are MufasaConfig fields; the defaults say why.
//
// Ablations (paper Tables 5–6; presets in presets.ts) swap a tower, never the pipeline:
//   itemTower 'concat'  w/o MFL: z = W·[x_1·p_1; …; x_M·p_M; p_1 … p_M] + b (modalities concatenated,
//                       missing ones zeroed with their presence flag as a feature), no MFL losses
//   itemTower 'id'      no content at all: z = the ID embedding (the control that says what the
//                       content adds to everything else MUFASA does: SAL, the head, the loss)
//   userTower 'mean'    w/o SAL: u_t = mean of z over items 0 … t (no parameters)
//   userTower 'dense'   dense causal attention (own Q/K/V) over every earlier item in place of SAL's
//                       three sparse branches and gate

import type { Tensor } from '../tensor/tensor.ts';
import { tensor, zeros, full } from '../tensor/ops/creation.ts';
import { reshape, concat } from '../tensor/ops/layout.ts';
import { add, mul } from '../tensor/ops/binary.ts';
import { linear } from '../tensor/ops/matmul.ts';
import { gelu } from '../tensor/ops/unary.ts';
import { layerNorm } from '../tensor/ops/norm.ts';
import { dropout } from '../tensor/ops/dropout.ts';
import { causalAttention } from '../tensor/ops/attention.ts';
import { tidy } from '../tensor/scope.ts';
import { gatherRows, indexTensor } from '../tensor/ops/gather.ts';
import { infoNCE } from '../tensor/ops/infonce.ts';
import { mean } from '../tensor/ops/reduce.ts';
import { normalParam, xavierUniform, zerosParam } from '../nn/init.ts';
import { MFL, defaultMflConfig } from './mfl.ts';
import type { MflConfig, ModalityInput } from './mfl.ts';
import { SAL, defaultSalConfig, lastItems } from './sal.ts';
import type { SalConfig } from './sal.ts';
import { nextItemPairs, catalogSoftmaxInputs } from './sequence.ts';
import type { SequenceModel, SequenceBatch, LossOptions } from './sequence.ts';

export type { SequenceBatch } from './sequence.ts';

export interface MufasaConfig {
  dim: number;
  mfl: Omit<MflConfig, 'dim'>;
  sal: Omit<SalConfig, 'dim'>;
  /** Add a learned per-item ID embedding to z (off in the paper's content-only setting). */
  useIdEmbedding: boolean;
  /** 'inBatch': negatives are the other targets of the batch (paper §3.2); 'catalog': softmax over every item. */
  userItemLoss: 'inBatch' | 'catalog';
  /** Temperature of the user–item loss. */
  temperature: number;
  /**
   * The user–item score the loss trains and the ranking uses: 'dot' (raw uᵀz / τ, as SASRec: an
   * item's norm can carry how likely it is in general) or 'cosine' (the similarity of the paper's MFL
   * losses, §3.1; §3.2 does not name the user–item one).
   */
  score: 'cosine' | 'dot';
  /**
   * 'mfl' (paper), 'concat' (the w/o-MFL ablation: concatenated modalities, one projection) or 'id'
   * (no content: z is the ID embedding alone; needs useIdEmbedding).
   */
  itemTower: 'mfl' | 'concat' | 'id';
  /** 'sal' (paper), 'dense' (one dense causal attention layer) or 'mean' (mean pooling): ablations. */
  userTower: 'sal' | 'dense' | 'mean';
  /**
   * Learned absolute position embeddings added to the sequence H before the user tower (SASRec-style;
   * the paper is silent): a table of this many rows, positions past the end share the last row; 0 = off.
   */
  positions: number;
  /**
   * Dropout probability on H (the item vectors along each sequence, after positions) in training, as
   * SASRec's embedding dropout; the paper is silent. 0 = off.
   */
  dropout: number;
  /**
   * 'ffn': a point-wise feed-forward block on the user vector, u ← LN(u + W₂·gelu(W₁u + b₁) + b₂) (inner
   * size 4d), as a Transformer layer follows its attention; 'block': the whole Transformer layer around
   * SAL, x = LN(h_t + SAL(H)_t) (the query item as the residual), then the same FFN block on x; 'none':
   * the gate's output is the user vector (paper §3.2). The paper says only that "a gating mechanism is
   * employed to learn the final user embedding".
   */
  userHead: 'none' | 'ffn' | 'block';
  /**
   * Stacked layers of the user tower + 'block' head (each x ← LN(x + SAL(x)), x ← LN(x + FFN(x)), its
   * own parameters; the dense and mean ablations stack their tower the same way), as SASRec stacks 2
   * Transformer blocks; the paper describes one SAL layer. > 1 needs userHead 'block'.
   */
  layers: number;
  /**
   * Dropout inside every layer's head, on each branch before its residual add: the tower's output
   * ('block') and the FFN's output (SASRec's hidden dropout at those two places); no effect without a
   * head. `dropout` stays the one on H. 0 = off.
   */
  layerDropout: number;
  /**
   * In training, the probability that an item's whole ID embedding row is left out of z for the step
   * (z_i = tower_i alone; kept rows scaled by 1/(1 − p), as inverted dropout), the same mask for the
   * sequences and the candidates: DropoutNet's input dropout (Volkovs et al. 2017), so the content
   * path must rank items whose IDs are barely trained. Needs useIdEmbedding and content. 0 = off.
   */
  idDropout: number;
}

/** Where idDropout's draws start in a step's random stream: far past H's and the layers' (B·L·d each). */
export const ID_DROPOUT_OFFSET = 2 ** 40;

export const defaultMufasaConfig: MufasaConfig = {
  // 64, as SASRec's hidden size: 128 ties on ML-100K (seed 0, windowStride 'half', llvmpipe-GL: best
  // valid NDCG@10 0.1307 against 0.1328, test HR@10 / NDCG@10 0.1962 / 0.1024 against 0.1877 / 0.0992)
  // at 2.9× the parameters and 1.5× the epoch time.
  dim: 64,
  mfl: (({ dim: _d, ...rest }) => rest)(defaultMflConfig),
  sal: (({ dim: _d, ...rest }) => rest)(defaultSalConfig),
  // On ML-100K (llvmpipe, 5 SAL epochs, otherwise default config) the content-only tower reached valid
  // NDCG@10 0.0167 / test HR@10 0.035; with the ID embedding 0.0495 / 0.071, still rising: genre, text
  // and stats say little about which movie comes next, item identity does.
  useIdEmbedding: true,
  // Measured on the synthetic set (200 users, 300 items, d 64, 8 SAL epochs, seeds 0 and 1, llvmpipe):
  // validation NDCG@10 ties (catalog 0.1703 vs in-batch 0.1696 mean), test HR@10 0.378 vs 0.348, and an
  // epoch takes 2.6 s vs 4.3 s (the in-batch loss scores every position against every other position's
  // target, P×P; the catalog loss P×I with I < P here). ML-100K (seed 0, llvmpipe, CPU shared, same
  // config otherwise; ranked by raw u·z before the cosine-ranking fix, the same for both): valid NDCG@10
  // after 5 SAL epochs 0.0495 catalog vs 0.0332 in-batch, 57–131 s vs 168–224 s per epoch.
  userItemLoss: 'catalog',
  // Temperature 1 with the dot score is SASRec's full-catalog cross-entropy; the item vectors' norms and
  // the 'block' head's last layer-norm gain can scale the logits, so τ mostly sets where they start.
  // Cosine scores need a small τ: 0.1 was the default with them (cosines in [−1, 1] / 0.1 span 20 nats).
  temperature: 1,
  // The user–item score is one the paper leaves open: §3.2 says only that user and target item are
  // "optimized through contrastive learning [33]" (its s(a, b) = cosine is §3.1's, for the MFL losses).
  // 'dot' measured better than 'cosine' (τ 0.1, the default until then) on ML-100K, ties shuffled,
  // llvmpipe-GL, patience 10, windowStride 'half' (best valid NDCG@10 → test HR@10 / NDCG@10):
  //   full data, 3 seeds   cosine 0.1253 → 0.2064 / 0.1100   dot 0.1304 → 0.2192 / 0.1203
  //                        (paired over users, dot − cosine: +0.013 ± 0.006 / +0.010 ± 0.003)
  //   last 20 per user     cosine 0.0841 → 0.1460 / 0.0725   dot 0.0848 → 0.1492 / 0.0773
  //   last 10 per user     cosine 0.0647 → 0.1113 / 0.0582   dot 0.0669 → 0.1145 / 0.0601
  // SASRec on the full data, 3 seeds: 0.1224 → 0.2078 / 0.1115. Why: a cosine score cannot let an
  // item's norm say how likely it is in general, so popular items must be told apart by direction
  // alone; a dot score learns that prior in the norms (as SASRec's does). Time to test HR@10 ≥ 0.0976
  // (`npm run bench -- train --target-hr10 0.0976`, back to back, each sharing the 2 cores with one
  // training run): 164 s (4 SAL epochs) with dot, 130 s (3) with cosine; RecBole's SASRec took 1,414 s.
  score: 'dot',
  itemTower: 'mfl',
  userTower: 'sal',
  // Off: not yet shown to help (see the issue 5 note); SAL's window branch already sees recency.
  positions: 0,
  // Dropout 0.3 on H and the 'block' user head: MUFASA without them stopped improving on validation
  // after ~16 epochs while its training loss kept falling (overfitting), and its user vector was one
  // linear attention readout. ML-100K, seed 0, llvmpipe-GL, cosine ranking, full catalog, seen items
  // excluded (best valid NDCG@10 → test HR@10 / NDCG@10 at the best epoch):
  //   neither             0.1060 → 0.1559 / 0.0781  (epoch 16, patience 4)
  //   dropout 0.3         0.1191 → 0.1676 / 0.0889  (epoch 24 of a 25-epoch cap)
  //   'ffn' head          0.1177 → 0.1622 / 0.0845  (epoch 24 of a 25-epoch cap)
  //   'ffn', dropout 0.5  0.1232 → 0.1835 / 0.0967  (epoch 27, patience 5)
  //   'ffn', dropout 0.3  0.1269 → 0.1782 / 0.0949  (epoch 26, patience 5; seeds 1, 2: 0.1686 / 0.0910, 0.1792 / 0.0953)
  //   'block', dropout 0.3 0.1356 → 0.1962 / 0.1056 (epoch 24, patience 5)   ← default (best on validation)
  // The engine's SASRec on the same split: 0.1103 → 0.1718 / 0.0909 (3 seeds: the issue 5 note), all
  // measured with windowStride 'last'. With training windows (TrainConfig.windowStride, now the default)
  // SASRec's 3 seeds reach 0.1863 / 0.1018 and MUFASA's 0.1997 / 0.1065, +7 % / +5 % only: SASRec had
  // been trained on 39 % of the targets. Seed 0 with 200 learned positions: valid 0.1272 vs 0.1328. The
  // head adds two d×4d matmuls and two layer norms per position: `npm run bench -- train`, quiet CPU,
  // 21.3 s per SAL epoch against 15.5 s without head and dropout; test HR@10 ≥ 0.0976 at 83 s.
  // Since split-K weight gradients and the shorter sort: 19.9 s per epoch, 0.0976 at 78.7 s; on an
  // H100 (Dawn/Vulkan) 0.65 s per epoch, 0.0976 at 6.8 s, and the same metrics at every epoch.
  // Since InfoNCE's forward sums u for d(anchors), one-pass gradient sums and the gate's dW kernel
  // (llvmpipe, same machine, 3 epochs back to back): 19.6 → 16.6–17.4 s per epoch, 0.0976 at 70.9 s;
  // identical losses and metrics at every epoch, and seed 0 to convergence gives the row above again.
  dropout: 0.3,
  userHead: 'block',
  // One layer: two (SASRec's depth) tie with it on ML-100K. llvmpipe-GL, seeds 0–2, windowStride
  // 'half', patience 5, best valid NDCG@10 → test HR@10 / NDCG@10 (seen items excluded):
  //   layers 1   0.1326 ± 0.0053 → 0.1997 ± 0.0117 / 0.1065 ± 0.0063   (best epochs 20, 19, 23)
  //   layers 2   0.1322 ± 0.0055 → 0.2043 ± 0.0044 / 0.1081 ± 0.0034   (best epochs 30, 22, 20)
  // The test difference is within the binomial noise of 943 test users (σ ≈ 0.013 on HR@10), and an
  // epoch costs 1.4× (53 against 38 s, two runs sharing the 2 cores).
  layers: 1,
  // Off: with two layers (seed 0), 0.2 trailed layerDropout 0 on validation: best 0.1334 against
  // 0.1355 by epoch 25, where it was stopped (not run to convergence).
  layerDropout: 0,
  idDropout: 0,
};

interface Qkv {
  q: Tensor;
  k: Tensor;
  v: Tensor;
}

type HeadParams = FfnHeadParams & { ln0: { g: Tensor; beta: Tensor } | null };

/** A layer above the first (`layers` > 1): its own tower (SAL or dense Q/K/V; 'mean' has none) and 'block' head. */
interface UpperLayer {
  sal: SAL | null;
  dense: Qkv | null;
  head: HeadParams;
}

export class Mufasa implements SequenceModel {
  readonly kind = 'mufasa';
  get similarity(): 'cosine' | 'dot' {
    // A config from before `score` existed was trained with cosine scores.
    return this.cfg.score ?? 'cosine';
  }

  get idTable(): Tensor | null {
    return this.idEmb;
  }
  /** The fusion layer (itemTower 'mfl'), else null (the trainer's view: SequenceModel.fusion). */
  readonly fusion: MFL | null;
  /** The w/o-MFL item tower: [Σ d_m + M, d] and bias (itemTower 'concat'). */
  readonly concatProj: { w: Tensor; b: Tensor } | null;
  /** SAL (userTower 'sal'), else null; the first layer's when `layers` > 1 (the others: `upper`). */
  readonly salLayer: SAL | null;
  /** userTower 'dense': Q/K/V of the dense causal attention (the first layer's when `layers` > 1). */
  readonly dense: Qkv | null;
  readonly idEmb: Tensor | null;
  /** Position embeddings [positions, d] (config `positions` > 0). */
  readonly posEmb: Tensor | null;
  /** userHead 'ffn' / 'block': the point-wise feed-forward block and its layer norm (`ln0`: 'block''s residual norm). */
  readonly head: HeadParams | null;
  /** Layers 2 … `layers` (empty for one layer). */
  readonly upper: UpperLayer[];

  constructor(
    readonly cfg: MufasaConfig,
    readonly numItems: number,
    readonly modalityDims: { name: string; dim: number }[],
    titleDim: number,
    rand: () => number,
  ) {
    // Every check before the first parameter exists, so a bad config leaves no GPU buffer behind.
    checkMufasaConfig(cfg, modalityDims.length);
    const d = cfg.dim;
    const itemTower = cfg.itemTower ?? 'mfl';
    const userTower = cfg.userTower ?? 'sal';
    const layers = cfg.layers ?? 1;
    const denseQkv = (name: string): Qkv => ({ q: xavierUniform(d, d, rand, `${name}.q`), k: xavierUniform(d, d, rand, `${name}.k`), v: xavierUniform(d, d, rand, `${name}.v`) });
    this.fusion = itemTower === 'mfl' ? new MFL(modalityDims, titleDim, { ...cfg.mfl, dim: d }, rand) : null;
    const inDim = modalityDims.reduce((s, m) => s + m.dim + 1, 0);
    this.concatProj = itemTower === 'concat' && inDim > 0 ? { w: xavierUniform(inDim, d, rand, 'concat.proj'), b: zerosParam([d], 'concat.proj.bias') } : null;
    this.salLayer = userTower === 'sal' ? new SAL({ ...cfg.sal, dim: d }, rand) : null;
    this.dense = userTower === 'dense' ? denseQkv('dense') : null;
    this.idEmb = cfg.useIdEmbedding ? normalParam([numItems, d], 0.02, rand, 'item.id') : null;
    const P = cfg.positions ?? 0;
    this.posEmb = P > 0 ? normalParam([P, d], 0.02, rand, 'position') : null;
    const head = cfg.userHead ?? 'none';
    const ones = (name: string) => tensor(new Float32Array(d).fill(1), [d], { requiresGrad: true, name });
    const headParams = (name: string, block: boolean): HeadParams => ({
      ln0: block ? { g: ones(`${name}.ln0.gamma`), beta: zerosParam([d], `${name}.ln0.beta`) } : null,
      w1: xavierUniform(d, 4 * d, rand, `${name}.ff1`),
      b1: zerosParam([4 * d], `${name}.ff1.bias`),
      w2: xavierUniform(4 * d, d, rand, `${name}.ff2`),
      b2: zerosParam([d], `${name}.ff2.bias`),
      g: ones(`${name}.ln.gamma`),
      beta: zerosParam([d], `${name}.ln.beta`),
    });
    this.head = head !== 'none' ? headParams('head', head === 'block') : null;
    // Upper layers draw their initial values after every first-layer parameter, so one layer
    // initialises exactly as before `layers` existed.
    this.upper = Array.from({ length: layers - 1 }, (_, i) => {
      const l = i + 1;
      return {
        sal: userTower === 'sal' ? new SAL({ ...cfg.sal, dim: d }, rand, `sal${l}`) : null,
        dense: userTower === 'dense' ? denseQkv(`dense${l}`) : null,
        head: headParams(`head${l}`, true),
      };
    });
  }

  /** True when training draws random numbers (dropout > 0): the trainer then passes a seed per step. */
  get stochastic(): boolean {
    return (this.cfg.dropout ?? 0) > 0 || (this.cfg.layerDropout ?? 0) > 0 || (this.cfg.idDropout ?? 0) > 0;
  }

  get dim(): number {
    return this.cfg.dim;
  }

  /** The fusion layer; throws for the w/o-MFL ablation (use `fusion` to test for it). */
  get mfl(): MFL {
    if (!this.fusion) throw new Error(`Mufasa: itemTower '${this.cfg.itemTower}' has no MFL`);
    return this.fusion;
  }

  /** SAL (the first layer's, with `layers` > 1); throws for the w/o-SAL and dense ablations (use `salLayer` to test for it). */
  get sal(): SAL {
    if (!this.salLayer) throw new Error(`Mufasa: userTower '${this.cfg.userTower}' has no SAL`);
    return this.salLayer;
  }

  parameters(): Tensor[] {
    return [
      ...(this.fusion?.parameters() ?? []),
      ...(this.concatProj ? [this.concatProj.w, this.concatProj.b] : []),
      ...(this.salLayer?.parameters() ?? []),
      ...(this.dense ? [this.dense.q, this.dense.k, this.dense.v] : []),
      ...(this.idEmb ? [this.idEmb] : []),
      ...(this.posEmb ? [this.posEmb] : []),
      ...(this.head ? headTensors(this.head) : []),
      ...this.upper.flatMap((u) => [...(u.sal?.parameters() ?? []), ...(u.dense ? [u.dense.q, u.dense.k, u.dense.v] : []), ...headTensors(u.head)]),
    ];
  }

  /**
   * Item vectors z for every item [I, d] (the item tower over all items, plus ID embeddings if
   * enabled); `train` turns idDropout on with that seed.
   */
  itemVectors(modalities: ModalityInput[], allItems: Tensor, train: { seed: number } | null = null): Tensor {
    let z: Tensor | null = null;
    if (this.fusion) z = this.fusion.forward(modalities, allItems);
    else if (this.concatProj) z = this.concatTower(modalities, allItems);
    if (!z) return reshape(this.idEmb!, [this.numItems, this.cfg.dim]);
    if (!this.idEmb) return z;
    const p = this.cfg.idDropout ?? 0;
    if (!train || p === 0) return add(z, this.idEmb);
    // One keep/drop draw per item row, [I, 1] broadcast over d. Its stream starts at ID_DROPOUT_OFFSET,
    // past every draw userVectors makes with the same step seed (H, then the layers, from 0).
    const keep = dropout(full([this.numItems, 1], 1, { engine: z.engine }), p, train.seed, ID_DROPOUT_OFFSET);
    return add(z, mul(this.idEmb, keep));
  }

  private concatTower(modalities: ModalityInput[], items: Tensor): Tensor {
    if (modalities.length !== this.modalityDims.length) throw new Error(`Mufasa: built for ${this.modalityDims.length} modalities, given ${modalities.length}`);
    const parts: Tensor[] = [];
    for (const m of modalities) {
      const p = gatherRows(m.present, items);
      parts.push(mul(gatherRows(m.values, items), p));
    }
    for (const m of modalities) parts.push(gatherRows(m.present, items));
    return linear(concat(parts, 1), this.concatProj!.w, this.concatProj!.b);
  }
  /** H [B, L, d]: item vectors along each sequence, zero at padding (pad id = numItems). */
  sequenceVectors(z: Tensor, batch: SequenceBatch): Tensor {
    const table = concat([z, zeros([1, this.cfg.dim], { engine: z.engine })], 0);
    const idx = indexTensor(batch.items, [batch.batch * batch.maxLen], this.numItems + 1, { engine: z.engine });
    return reshape(gatherRows(table, idx), [batch.batch, batch.maxLen, this.cfg.dim]);
  }

  /** User vectors: every position [B, L, d], or the last item only [B, 1, d]; `train` turns dropout on with that seed. */
  userVectors(z: Tensor, batch: SequenceBatch, lastOnly = false, train: { seed: number } | null = null): Tensor {
    let h = this.withPositions(this.sequenceVectors(z, batch), batch);
    const p = this.cfg.dropout ?? 0;
    if (train && p > 0) h = dropout(h, p, train.seed);
    return this.encode(h, batch, lastOnly, train);
  }

  /**
   * The user tower and head(s) on the sequence H [B, L, d] (after positions and dropout): every
   * position [B, L, d] or the last [B, 1, d]; `train` turns the layer dropout on with that seed.
   */
  encode(h: Tensor, batch: SequenceBatch, lastOnly = false, train: { seed: number } | null = null): Tensor {
    // Layer dropout continues H's random stream past its B·L·d draws (dropout's `offset`), so no
    // mask repeats another's.
    let offset = h.size;
    const pl = this.cfg.layerDropout ?? 0;
    const drop = (x: Tensor): Tensor => {
      if (!train || pl === 0) return x;
      const y = dropout(x, pl, train.seed, offset);
      offset += x.size;
      return y;
    };
    const layers = [{ sal: this.salLayer, dense: this.dense, head: this.head }, ...this.upper];
    // Every layer but the last runs on every position (the next layer attends to all of them).
    layers.forEach((layer, l) => {
      const last = lastOnly && l === layers.length - 1;
      // Only 'block' reads the query items (its residual); the other heads ignore the second argument.
      h = headOn(this.tower(layer, h, batch, last), layer.head?.ln0 && last ? lastItems(h, batch.lengths) : h, layer.head, drop);
    });
    return h;
  }

  /**
   * The first layer's user head on its tower's output u [.., d] (eps 1e-5): 'ffn' LN(u + FFN(u));
   * 'block' the same on x = LN(hq + u), `hq` the query items (H, or each sequence's last item: the
   * rows of u); 'none' u. No dropout (the evaluation path).
   */
  withHead(u: Tensor, hq: Tensor): Tensor {
    return headOn(u, hq, this.head, (x) => x);
  }

  private tower(layer: { sal: SAL | null; dense: Qkv | null }, h: Tensor, batch: SequenceBatch, lastOnly: boolean): Tensor {
    if (layer.sal) return layer.sal.forward(h, batch.lengths, { lastOnly });
    return tidy(() => {
      const len = tensor(batch.lengths, [batch.batch], { dtype: 'i32', engine: h.engine });
      const hq = lastOnly ? lastItems(h, batch.lengths) : h;
      if (layer.dense) {
        const { q, k, v } = layer.dense;
        return causalAttention(linear(hq, q), linear(h, k), linear(h, v), len, { lastOnly });
      }
      // Mean pooling: with q = 0 every visible key gets the same weight, so attention is the causal mean.
      return causalAttention(zeros(hq.shape, { engine: h.engine }), h, h, len, { lastOnly });
    });
  }

  /** H + position embeddings (`positions` > 0); padding rows stay zero. */
  private withPositions(h: Tensor, batch: SequenceBatch): Tensor {
    if (!this.posEmb) return h;
    const P = this.posEmb.shape[0];
    const { batch: B, maxLen: L, lengths } = batch;
    const idx = new Int32Array(B * L);
    for (let b = 0; b < B; b++) for (let t = 0; t < L; t++) idx[b * L + t] = t < lengths[b] ? Math.min(t, P - 1) : P;
    const table = concat([this.posEmb, zeros([1, this.cfg.dim], { engine: h.engine })], 0);
    return add(h, reshape(gatherRows(table, indexTensor(idx, [B * L], P + 1, { engine: h.engine })), [B, L, this.cfg.dim]));
  }

  /**
   * User–item loss over every valid position t < len − 1 (the user after t items predicts item t+1):
   * mean InfoNCE of u_t against z_{target}, negatives per `userItemLoss`.
   */
  userItemLoss(z: Tensor, batch: SequenceBatch, opts: LossOptions = {}): Tensor {
    const { batch: B, maxLen: L } = batch;
    const { rows, targets } = nextItemPairs(batch);
    const u = this.userVectors(z, batch, false, { seed: opts.seed ?? 0 });
    const e = z.engine;
    const uRows = gatherRows(reshape(u, [B * L, this.cfg.dim]), indexTensor(rows, [rows.length], B * L, { engine: e }));
    const score = { temperature: this.cfg.temperature, cosine: this.similarity === 'cosine' };
    if (this.cfg.userItemLoss === 'catalog') {
      const { candidates, positives } = catalogSoftmaxInputs(z, targets, opts.catalog);
      return mean(infoNCE(uRows, candidates, { ...score, positives }));
    }
    // In-batch negatives are the batch's targets: training items only, with or without a catalogue.
    const zt = gatherRows(z, indexTensor(targets, [targets.length], this.numItems, { engine: e }));
    const ids = tensor(Int32Array.from(targets), [targets.length], { dtype: 'i32', engine: e });
    return mean(infoNCE(uRows, zt, { ...score, anchorIds: ids, candidateIds: ids }));
  }

  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}

/**
 * Throws, naming the field, for a config the model cannot be built from, with `modalities` content
 * modalities left to it: the constructor runs it first, and `train()` before CF pretraining.
 */
export function checkMufasaConfig(cfg: MufasaConfig, modalities: number): void {
  const itemTower = cfg.itemTower ?? 'mfl';
  const userTower = cfg.userTower ?? 'sal';
  const head = cfg.userHead ?? 'none';
  if (!['cosine', 'dot'].includes(cfg.score ?? 'cosine')) throw new Error(`Mufasa: unknown score '${cfg.score}' (cosine, dot)`);
  if (!['mfl', 'concat', 'id'].includes(itemTower)) throw new Error(`Mufasa: unknown itemTower '${itemTower}' (mfl, concat, id)`);
  if (itemTower === 'id' && !cfg.useIdEmbedding) throw new Error("Mufasa: itemTower 'id' makes the item vectors the ID embedding alone, so it needs useIdEmbedding");
  if (!['sal', 'dense', 'mean'].includes(userTower)) throw new Error(`Mufasa: unknown userTower '${userTower}' (sal, dense, mean)`);
  if (!['none', 'ffn', 'block'].includes(head)) throw new Error(`Mufasa: unknown userHead '${head}' (none, ffn, block)`);
  const layers = cfg.layers ?? 1;
  if (!(Number.isInteger(layers) && layers >= 1)) throw new Error(`Mufasa: layers must be a positive integer, got ${layers}`);
  if (layers > 1 && head !== 'block') throw new Error(`Mufasa: layers ${layers} needs userHead 'block' (each layer is x ← LN(x + tower(x)), then the FFN), got '${cfg.userHead}'`);
  const pl = cfg.layerDropout ?? 0;
  if (!(pl >= 0 && pl < 1)) throw new Error(`Mufasa: layerDropout must be in [0, 1), got ${pl}`);
  const P = cfg.positions ?? 0;
  if (!(Number.isInteger(P) && P >= 0)) throw new Error(`Mufasa: positions must be a non-negative integer, got ${P}`);
  const p = cfg.dropout ?? 0;
  if (!(p >= 0 && p < 1)) throw new Error(`Mufasa: dropout must be in [0, 1), got ${p}`);
  const pid = cfg.idDropout ?? 0;
  if (!(pid >= 0 && pid < 1)) throw new Error(`Mufasa: idDropout must be in [0, 1), got ${pid}`);
  if (pid > 0 && !cfg.useIdEmbedding) throw new Error(`Mufasa: idDropout ${pid} drops ID embedding rows, so it needs useIdEmbedding`);
  if (pid > 0 && itemTower === 'id') throw new Error(`Mufasa: idDropout ${pid} leaves dropped items only their content, and itemTower 'id' has none`);
  if (pid > 0 && !modalities) throw new Error(`Mufasa: idDropout ${pid} leaves dropped items only their content, and the data set has no content modality`);
  if (itemTower === 'mfl' && modalities === 0)
    throw new Error("Mufasa: the MFL item tower needs at least one content modality, and the data set has none left (check the item features and excludeModalities); without content, train itemTower 'id' (item IDs only: --model mufasa-id-only) or --model sasrec");
  if (itemTower === 'concat' && !modalities && !cfg.useIdEmbedding) throw new Error('Mufasa: the concat item tower needs at least one modality or the ID embedding');
}

/** A head's parameters, in the order `parameters()` has always listed them (checkpoints, Adam state). */
function headTensors(h: HeadParams): Tensor[] {
  return [h.w1, h.b1, h.w2, h.b2, h.g, h.beta, ...(h.ln0 ? [h.ln0.g, h.ln0.beta] : [])];
}

export interface FfnHeadParams {
  w1: Tensor;
  b1: Tensor;
  w2: Tensor;
  b2: Tensor;
  g: Tensor;
  beta: Tensor;
}

/**
 * The user head's feed-forward block: LN(u + drop(W₂·gelu(W₁u + b₁) + b₂)), layer-norm eps 1e-5 (gelu:
 * tanh form); `drop` is the layer dropout (identity when off).
 */
export function ffnHead(u: Tensor, p: FfnHeadParams, drop: (x: Tensor) => Tensor = (x) => x): Tensor {
  const f = linear(gelu(linear(u, p.w1, p.b1)), p.w2, p.b2);
  return layerNorm(add(u, drop(f)), p.g, p.beta, 1e-5);
}

/**
 * A layer's head on its tower's output u (see Mufasa.withHead); `drop` (the layer dropout) applies
 * where a residual adds a branch: to u in 'block' (LN(hq + drop(u))) and to the FFN's output.
 */
function headOn(u: Tensor, hq: Tensor, hd: HeadParams | null, drop: (x: Tensor) => Tensor): Tensor {
  if (!hd) return u;
  return ffnHead(hd.ln0 ? layerNorm(add(hq, drop(u)), hd.ln0.g, hd.ln0.beta, 1e-5) : u, hd, drop);
}
