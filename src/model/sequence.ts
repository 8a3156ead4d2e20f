// What the trainer needs from a sequence recommender (issue #5): one data pipeline, one schedule,
// one evaluation for MUFASA, its ablations and SASRec. A model maps the catalog to item vectors z
// [I, d] and a batch of left-aligned sequences (pad id = numItems) to user vectors; the user–item
// loss trains every position t < len − 1 to predict item t + 1.

import type { Tensor } from '../tensor/tensor.ts';
import type { MFL, ModalityInput } from './mfl.ts';
import { l2Normalize } from '../tensor/ops/norm.ts';
import { gatherRows, indexTensor } from '../tensor/ops/gather.ts';

/** A batch of sequences on the CPU: left-aligned item ids [B, L] (pad id = numItems) and lengths. */
export interface SequenceBatch {
  items: Int32Array;
  lengths: Int32Array;
  batch: number;
  maxLen: number;
  /** Per row, the first position t whose next item is trained (default 0; makeBatches' windowStride
   *  makes the earlier positions of a window context only). */
  firstTarget?: Int32Array;
}

export interface LossOptions {
  /** Seed of the step's random numbers (dropout); the trainer passes a fresh one per step when `stochastic`. */
  seed?: number;
  /** The items a full-catalog softmax ranks against; default every item. */
  catalog?: TrainCatalog;
}

/**
 * A training catalogue smaller than the item table (TrainConfig.coldItems: the cold items are unknown
 * at training time, so they are not negatives either; a negative-only item would be trained to rank
 * last, which is not "unknown").
 */
export interface TrainCatalog {
  /** i32 [W]: the item ids in the catalogue, ascending. */
  items: Tensor;
  /** [numItems]: each item's row in `items`, −1 for an item outside the catalogue. */
  rowOf: Int32Array;
}

/**
 * The candidates and positive indices of a full-catalog softmax over `z` [I, d]: z and the target ids,
 * or, with a catalogue, z's catalogue rows and the targets' rows among them (a target outside the
 * catalogue is an error: training sequences never contain one).
 */
export function catalogSoftmaxInputs(z: Tensor, targets: number[], catalog?: TrainCatalog): { candidates: Tensor; positives: Tensor } {
  const I = z.shape[0];
  if (!catalog) return { candidates: z, positives: indexTensor(targets, [targets.length], I, { engine: z.engine }) };
  const W = catalog.items.shape[0];
  const rows = targets.map((t) => {
    const r = catalog.rowOf[t];
    if (!(r >= 0)) throw new Error(`userItemLoss: target item ${t} is outside the training catalogue`);
    return r;
  });
  return { candidates: gatherRows(z, catalog.items), positives: indexTensor(rows, [rows.length], W, { engine: z.engine }) };
}

export interface SequenceModel {
  /** Preset or architecture name (results tables). */
  readonly kind: string;
  readonly numItems: number;
  /** Size of the item and user vectors. */
  readonly dim: number;
  /**
   * The Multimodal Fusion Layer when the model has one: the trainer then runs the MFL pre-stage
   * (cascade stage 1) and adds L_MFL as the auxiliary loss in stage 2 (TrainConfig.schedule).
   */
  readonly fusion: MFL | null;
  /** True when the user–item loss draws random numbers (dropout): the trainer passes a new seed per step. */
  readonly stochastic: boolean;
  /**
   * The score the user–item loss trains: 'dot' (SASRec; MUFASA by default) or 'cosine' (MUFASA's
   * `model.score` 'cosine': s(a, b) = aᵀb/(|a||b|), the paper's §3.1 similarity). Ranking and
   * exported embeddings must use the same score: `rankingVectors` below.
   */
  readonly similarity: 'cosine' | 'dot';
  /** The item-ID embedding table [I, d] (a parameter), or null for a model without one (content only). */
  readonly idTable: Tensor | null;
  parameters(): Tensor[];
  /** z [I, d] for every item (`allItems` i32 [I]); models without content ignore `modalities`; `train` (a step's seed) turns on any dropout on z. */
  itemVectors(modalities: ModalityInput[], allItems: Tensor, train?: { seed: number } | null): Tensor;
  /** User vectors at every position [B, L, d], or after the last item [B, 1, d]; no dropout. */
  userVectors(z: Tensor, batch: SequenceBatch, lastOnly?: boolean): Tensor;
  /** Mean next-item loss over every position t < len − 1 (training mode: dropout on). */
  userItemLoss(z: Tensor, batch: SequenceBatch, opts?: LossOptions): Tensor;
  dispose(): void;
}

/**
 * Vectors whose dot product is the model's trained score: L2-normalised rows for 'cosine', `t` itself
 * for 'dot'. Ranking with raw dot products after cosine training lets item norms (which the loss never
 * sees) reorder the catalog: on ML-100K that cost MUFASA most of its accuracy (see the issue 5 note).
 */
export function rankingVectors(model: { readonly similarity: 'cosine' | 'dot' }, t: Tensor): Tensor {
  return model.similarity === 'cosine' ? l2Normalize(t) : t;
}

/** Rows b·L + t and next-item targets of every position firstTarget_b ≤ t < len_b − 1. */
export function nextItemPairs(batch: SequenceBatch): { rows: number[]; targets: number[] } {
  const { batch: B, maxLen: L, items, lengths, firstTarget } = batch;
  const rows: number[] = [];
  const targets: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let t = firstTarget?.[b] ?? 0; t + 1 < lengths[b]; t++) {
      rows.push(b * L + t);
      targets.push(items[b * L + t + 1]);
    }
  }
  if (!rows.length) throw new Error('userItemLoss: no sequence in the batch has two items');
  return { rows, targets };
}

/** Number of scalar parameters. */
export function countParameters(m: { parameters(): Tensor[] }): number {
  return m.parameters().reduce((s, p) => s + p.size, 0);
}
