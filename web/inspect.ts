// What the demo shows about a trained model, computed on the GPU right after an evaluation (the
// trainer's onEvaluated hook, while the model is alive) and kept on the CPU, so that choosing another
// user in the page needs no GPU work: the item vectors z, every user's vector after its history,
// SAL's view of each history (block weights, top-k blocks, window), and the items' 2-D PCA.
// Runs the same in Node (the browser test compares) and in the page.

import type { Tensor } from '../src/tensor/tensor.ts';
import { tidy } from '../src/tensor/scope.ts';
import { noGrad } from '../src/tensor/tape.ts';
import { reshape } from '../src/tensor/ops/layout.ts';
import type { SAL, SalExplanation } from '../src/model/sal.ts';
import type { SequenceBatch } from '../src/model/mufasa.ts';
import type { EvalCase } from '../src/data/split.ts';
import { historyBatch } from '../src/train/evaluate.ts';
import { pca2 } from './pca.ts';

/** The parts of the model the inspection reads (MUFASA; other towers give no SAL view). */
export interface InspectableModel {
  readonly numItems: number;
  readonly similarity: 'cosine' | 'dot';
  userVectors(z: Tensor, batch: SequenceBatch, lastOnly?: boolean): Tensor;
  sequenceVectors?(z: Tensor, batch: SequenceBatch): Tensor;
  readonly salLayer?: SAL | null;
}

export interface Snapshot {
  epoch: number;
  final: boolean;
  dim: number;
  /** [I, d] item vectors. */
  z: Float32Array;
  /** [U, d] user vectors after each case's history (row = index into `cases`). */
  users: Float32Array;
  /** Per case: SAL's view of the history (null without a SAL user tower; with `layers` > 1, the first layer's, which reads H itself). */
  explain: (SalExplanation | null)[];
  /** 2-D PCA of z: [I, 2]. */
  pcaAfter: Float32Array;
  /** The model's score is cosine: topItems normalises users and items (the evaluator's ranking). */
  cosine: boolean;
}

function salOf(m: InspectableModel): SAL | null {
  if ('salLayer' in m) return m.salLayer ?? null;
  return (m as { sal?: SAL }).sal ?? null;
}

/** Snapshot of model + z for the cases (one per user: the test cases, history = all but the last item). */
export async function inspect(model: InspectableModel, z: Tensor, cases: EvalCase[], maxLen: number, info: { epoch: number; final: boolean }, chunk = 256): Promise<Snapshot> {
  const [I, d] = z.shape;
  const zData = (await z.data()) as Float32Array;
  const users = new Float32Array(cases.length * d);
  const explain: (SalExplanation | null)[] = new Array(cases.length).fill(null);
  const sal = salOf(model);
  for (let s = 0; s < cases.length; s += chunk) {
    const part = cases.slice(s, s + chunk);
    const batch = historyBatch(part, model.numItems, maxLen);
    const u = tidy(() => noGrad(() => reshape(model.userVectors(z, batch, true), [part.length, d])));
    try {
      users.set((await u.data()) as Float32Array, s * d);
    } finally {
      u.dispose();
    }
    if (sal && model.sequenceVectors) {
      const h = tidy(() => noGrad(() => model.sequenceVectors!(z, batch)));
      try {
        (await sal.explain(h, batch.lengths)).forEach((x, i) => (explain[s + i] = x));
      } finally {
        h.dispose();
      }
    }
  }
  return { ...info, dim: d, z: zData, users, explain, pcaAfter: pca2(zData, I, d), cosine: model.similarity === 'cosine' };
}

/** Top-n items for case row `r` by the model's score (u·z, or cosine: the evaluator's ranking), seen items excluded (the evaluator's rule). */
export function topItems(snap: Snapshot, r: number, seen: Int32Array, n = 10): { item: number; score: number }[] {
  const d = snap.dim;
  const I = snap.z.length / d;
  const skip = new Set(seen);
  const scored: { item: number; score: number }[] = [];
  for (let i = 0; i < I; i++) {
    if (skip.has(i)) continue;
    let s = 0;
    let n = 0;
    for (let k = 0; k < d; k++) {
      s += snap.users[r * d + k] * snap.z[i * d + k];
      n += snap.z[i * d + k] ** 2;
    }
    // Cosine: the user's norm does not change its ranking, the item's does.
    scored.push({ item: i, score: snap.cosine ? s / Math.max(Math.sqrt(n), 1e-12) : s });
  }
  // Ties → lower item id, as in the evaluator's rank rule.
  scored.sort((a, b) => b.score - a.score || a.item - b.item);
  return scored.slice(0, n);
}
