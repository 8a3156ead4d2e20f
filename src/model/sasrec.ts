// SASRec (Kang & McAuley 2018, "Self-Attentive Sequential Recommendation") in the engine: the
// baseline of issue #5, trained by the same trainer as MUFASA (same batches, early stopping and
// evaluation). Structure as RecBole 1.2.1's SASRec, the implementation behind the issue's anchor:
//
//   x_0 = dropout(LN(E[item_t] + P[t]))                       E [I, d] item IDs, P [maxLen, d] positions
//   per block (post-LN Transformer encoder, RecBole TransformerLayer):
//     a   = W_o · MHA(W_q x + b_q, W_k x + b_k, W_v x + b_v) + b_o      causal, `heads` heads
//     x   = LN(x + dropout(a))
//     f   = W_2 · gelu(W_1 x + b_1) + b_2                      point-wise FFN, inner size `inner`
//     x   = LN(x + dropout(f))
//   u_t = x_t;  loss = full-catalog softmax cross-entropy of u_t · E^T against item t + 1, every t
//
// Choices (SasrecConfig fields):
// - Positions are absolute from the start of the (left-aligned, last-maxLen) sequence, as RecBole's
//   position_ids; RecBole does not scale E by √d (the 2018 paper's code does): `scaleEmbedding`.
// - The attention is the engine's dense causalAttention (shaders/sparse_attention.wgsl, causal mode),
//   heads folded into the batch: [B, L, d] → [B·h, L, d/h] (a transpose + copy each way). The kernel
//   has no attention-weight dropout, so RecBole's attn_dropout_prob has no counterpart here; hidden
//   dropout is RecBole's hidden_dropout_prob (0.5 in its SASRec defaults).
// - GELU is the engine's tanh approximation (RecBole: erf); init N(0, 0.02²) for every weight matrix
//   and embedding, zero biases, LN γ = 1, β = 0 (RecBole's _init_weights). LN eps 1e-12 (RecBole).
// - The loss is the fused InfoNCE with candidates = the catalog, dot product, τ = 1 (= softmax CE).
// - Padding (id numItems) embeds to 0; padded positions never act as keys (causalAttention's lengths).

import type { Tensor } from '../tensor/tensor.ts';
import { tensor, zeros } from '../tensor/ops/creation.ts';
import { reshape, concat, transpose, slice } from '../tensor/ops/layout.ts';
import { add } from '../tensor/ops/binary.ts';
import { gelu, mulScalar } from '../tensor/ops/unary.ts';
import { linear } from '../tensor/ops/matmul.ts';
import { layerNorm } from '../tensor/ops/norm.ts';
import { dropout } from '../tensor/ops/dropout.ts';
import { gatherRows, indexTensor } from '../tensor/ops/gather.ts';
import { infoNCE } from '../tensor/ops/infonce.ts';
import { mean } from '../tensor/ops/reduce.ts';
import { causalAttention } from '../tensor/ops/attention.ts';
import { tidy } from '../tensor/scope.ts';
import { normalParam, zerosParam } from '../nn/init.ts';
import { lastItems } from './sal.ts';
import { nextItemPairs, catalogSoftmaxInputs } from './sequence.ts';
import type { SequenceModel, SequenceBatch, LossOptions } from './sequence.ts';
import type { ModalityInput } from './mfl.ts';

export interface SasrecConfig {
  dim: number;
  heads: number;
  layers: number;
  /** Point-wise FFN inner size (RecBole inner_size 256). */
  inner: number;
  /** Hidden dropout (embeddings, attention output, FFN output). */
  dropout: number;
  /** Multiply item embeddings by √d before adding positions (Kang & McAuley's code; RecBole: no). */
  scaleEmbedding: boolean;
  layerNormEps: number;
  initStd: number;
}

export const defaultSasrecConfig: SasrecConfig = {
  dim: 64,
  heads: 2,
  layers: 2,
  inner: 256,
  dropout: 0.5,
  scaleEmbedding: false,
  layerNormEps: 1e-12,
  initStd: 0.02,
};

interface Block {
  q: { w: Tensor; b: Tensor };
  k: { w: Tensor; b: Tensor };
  v: { w: Tensor; b: Tensor };
  o: { w: Tensor; b: Tensor };
  ln1: { g: Tensor; b: Tensor };
  ff1: { w: Tensor; b: Tensor };
  ff2: { w: Tensor; b: Tensor };
  ln2: { g: Tensor; b: Tensor };
}

function onesParam(n: number, name: string): Tensor {
  return tensor(new Float32Array(n).fill(1), [n], { requiresGrad: true, name });
}

export class SASRec implements SequenceModel {
  readonly kind = 'sasrec';
  readonly similarity = 'dot' as const;
  readonly fusion = null;
  readonly itemEmb: Tensor;
  readonly posEmb: Tensor;
  readonly ln0: { g: Tensor; b: Tensor };
  readonly blocks: Block[];

  /** The item embedding table is both the ID table and the candidates (z). */
  get idTable(): Tensor {
    return this.itemEmb;
  }

  constructor(
    readonly cfg: SasrecConfig,
    readonly numItems: number,
    /** Longest sequence (positions); the trainer passes its maxLen. */
    readonly maxLen: number,
    rand: () => number,
  ) {
    const d = cfg.dim;
    if (!(cfg.heads >= 1 && Number.isInteger(cfg.heads)) || d % cfg.heads !== 0) throw new Error(`SASRec: dim ${d} must be a multiple of heads ${cfg.heads}`);
    if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new Error(`SASRec: dropout must be in [0, 1), got ${cfg.dropout}`);
    const s = cfg.initStd;
    const lin = (i: number, o: number, name: string) => ({ w: normalParam([i, o], s, rand, `${name}`), b: zerosParam([o], `${name}.bias`) });
    const ln = (name: string) => ({ g: onesParam(d, `${name}.gamma`), b: zerosParam([d], `${name}.beta`) });
    this.itemEmb = normalParam([numItems, d], s, rand, 'sasrec.item');
    this.posEmb = normalParam([maxLen, d], s, rand, 'sasrec.pos');
    this.ln0 = ln('sasrec.ln0');
    this.blocks = Array.from({ length: cfg.layers }, (_, l) => {
      const p = `sasrec.block${l}`;
      return {
        q: lin(d, d, `${p}.q`),
        k: lin(d, d, `${p}.k`),
        v: lin(d, d, `${p}.v`),
        o: lin(d, d, `${p}.o`),
        ln1: ln(`${p}.ln1`),
        ff1: lin(d, cfg.inner, `${p}.ff1`),
        ff2: lin(cfg.inner, d, `${p}.ff2`),
        ln2: ln(`${p}.ln2`),
      };
    });
  }

  get dim(): number {
    return this.cfg.dim;
  }

  get stochastic(): boolean {
    return this.cfg.dropout > 0;
  }

  parameters(): Tensor[] {
    return [
      this.itemEmb,
      this.posEmb,
      this.ln0.g,
      this.ln0.b,
      ...this.blocks.flatMap((b) => [b.q.w, b.q.b, b.k.w, b.k.b, b.v.w, b.v.b, b.o.w, b.o.b, b.ln1.g, b.ln1.b, b.ff1.w, b.ff1.b, b.ff2.w, b.ff2.b, b.ln2.g, b.ln2.b]),
    ];
  }

  /** The item ID embeddings (a view: disposing it leaves the parameter alone). */
  itemVectors(_modalities: ModalityInput[], _allItems: Tensor): Tensor {
    return reshape(this.itemEmb, [this.numItems, this.cfg.dim]);
  }

  /** Hidden states [B, L, d] after the last block; `train` turns dropout on with that seed. */
  encode(z: Tensor, batch: SequenceBatch, train: { seed: number } | null): Tensor {
    const { batch: B, maxLen: L, lengths } = batch;
    const d = this.cfg.dim;
    const h = this.cfg.heads;
    const dh = d / h;
    if (L > this.maxLen) throw new Error(`SASRec: sequence length ${L} exceeds the ${this.maxLen} learned positions`);
    const e = z.engine;
    let offset = 0;
    const drop = (x: Tensor): Tensor => {
      if (!train || this.cfg.dropout === 0) return x;
      const y = dropout(x, this.cfg.dropout, train.seed, offset);
      offset += x.size;
      return y;
    };
    const table = concat([z, zeros([1, d], { engine: e })], 0);
    const idx = indexTensor(batch.items, [B * L], this.numItems + 1, { engine: e });
    let emb = reshape(gatherRows(table, idx), [B, L, d]);
    if (this.cfg.scaleEmbedding) emb = mulScalar(emb, Math.sqrt(d));
    const eps = this.cfg.layerNormEps;
    let x = drop(layerNorm(add(emb, reshape(slice(this.posEmb, 0, 0, L), [1, L, d])), this.ln0.g, this.ln0.b, eps));
    // Heads folded into the batch: lengths repeated per head, b·h + head.
    const lenH = tensor(Int32Array.from({ length: B * h }, (_, i) => lengths[Math.floor(i / h)]), [B * h], { dtype: 'i32', engine: e });
    const split = (t: Tensor) => reshape(transpose(reshape(t, [B, L, h, dh]), [0, 2, 1, 3]), [B * h, L, dh]);
    const merge = (t: Tensor) => reshape(transpose(reshape(t, [B, h, L, dh]), [0, 2, 1, 3]), [B, L, d]);
    for (const bk of this.blocks) {
      const att = causalAttention(split(linear(x, bk.q.w, bk.q.b)), split(linear(x, bk.k.w, bk.k.b)), split(linear(x, bk.v.w, bk.v.b)), lenH);
      const a = linear(merge(att), bk.o.w, bk.o.b);
      x = layerNorm(add(x, drop(a)), bk.ln1.g, bk.ln1.b, eps);
      const f = linear(gelu(linear(x, bk.ff1.w, bk.ff1.b)), bk.ff2.w, bk.ff2.b);
      x = layerNorm(add(x, drop(f)), bk.ln2.g, bk.ln2.b, eps);
    }
    return x;
  }

  userVectors(z: Tensor, batch: SequenceBatch, lastOnly = false): Tensor {
    return tidy(() => {
      const x = this.encode(z, batch, null);
      return lastOnly ? lastItems(x, batch.lengths) : x;
    });
  }

  userItemLoss(z: Tensor, batch: SequenceBatch, opts: LossOptions = {}): Tensor {
    const { batch: B, maxLen: L } = batch;
    const { rows, targets } = nextItemPairs(batch);
    const e = z.engine;
    const x = this.encode(z, batch, { seed: opts.seed ?? 0 });
    const u = gatherRows(reshape(x, [B * L, this.cfg.dim]), indexTensor(rows, [rows.length], B * L, { engine: e }));
    const { candidates, positives } = catalogSoftmaxInputs(z, targets, opts.catalog);
    return mean(infoNCE(u, candidates, { temperature: 1, cosine: false, positives }));
  }

  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}
