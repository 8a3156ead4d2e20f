// Exporting embeddings for retrieval (issue 7's public API; the CLI's `embed` writes the same vectors
// to a file): every item's vector z [I, d] and every user's vector after their whole sequence [U, d].

import { join } from 'node:path';
import type { Dataset } from '../data/dataset.ts';
import { indexTensor } from '../tensor/ops/gather.ts';
import { reshape } from '../tensor/ops/layout.ts';
import { tidy } from '../tensor/scope.ts';
import { noGrad } from '../tensor/tape.ts';
import type { SequenceModel } from '../model/sequence.ts';
import { rankingVectors } from '../model/sequence.ts';
import { loadCheckpoint } from './checkpoint.ts';
import { defaultTrainConfig, savedTrainConfig } from './config.ts';
import { userSequences } from './data.ts';
import { buildModel, loadWeights, uploadModalities } from './build.ts';
import { historyBatch } from './evaluate.ts';
import type { TrainConfig } from './config.ts';
import type { TieOrder } from '../data/split.ts';

export interface Embeddings {
  dim: number;
  /** [numItems, dim], row = dense item id (ids in `itemIds`). */
  items: Float32Array;
  /** [numUsers, dim], row = dense user id; a user without interactions has a zero row. */
  users: Float32Array;
  itemIds: string[];
  userIds: string[];
}

/** Item and user vectors of `model` on data set `ds` (modalities as the training config uploads them). */
export async function computeEmbeddings(model: SequenceModel, ds: Dataset, opts: { excludeModalities?: string[]; maxLen?: number; batchSize?: number; tieOrder?: TieOrder; recentInteractions?: number } = {}): Promise<Embeddings> {
  const maxLen = opts.maxLen ?? defaultTrainConfig.maxLen;
  const bs = opts.batchSize ?? 256;
  const d = model.dim;
  const mods = uploadModalities(ds, opts.excludeModalities ?? defaultTrainConfig.excludeModalities);
  const all = indexTensor(Array.from({ length: ds.numItems }, (_, i) => i), [ds.numItems], ds.numItems);
  try {
    const z = tidy(() => noGrad(() => model.itemVectors(mods, all)));
    try {
      const users = new Float32Array(ds.numUsers * d);
      // The history as the model was trained on it (TrainConfig.tieOrder and recentInteractions).
      const seqs = userSequences(ds, { tieOrder: opts.tieOrder ?? 'itemId', recentInteractions: opts.recentInteractions ?? 0 }).sequences;
      const cases = seqs.map((s, u) => ({ user: u, history: s.slice(Math.max(0, s.length - maxLen)), targets: new Int32Array(0), seen: new Int32Array(0) }));
      for (let s = 0; s < cases.length; s += bs) {
        const chunk = cases.slice(s, s + bs).filter((c) => c.history.length > 0);
        if (!chunk.length) continue;
        const u = tidy(() => noGrad(() => rankingVectors(model, reshape(model.userVectors(z, historyBatch(chunk, ds.numItems, maxLen), true), [chunk.length, d]))));
        try {
          const v = await u.data();
          chunk.forEach((c, i) => users.set(v.subarray(i * d, (i + 1) * d), c.user * d));
        } finally {
          u.dispose();
        }
      }
      // Exported as the model scores them (unit rows for a cosine model), so retrieval by dot product ranks as evaluation does.
      const zr = tidy(() => noGrad(() => rankingVectors(model, z)));
      const items = (await zr.data()) as Float32Array;
      if (zr !== z) zr.dispose();
      return { dim: d, items, users, itemIds: ds.itemIds, userIds: ds.userIds };
    } finally {
      z.dispose();
    }
  } finally {
    all.dispose();
    mods.forEach((m) => (m.values.dispose(), m.present.dispose()));
  }
}

/** Embeddings of a saved model (`train`'s checkpointDir, or a `last` dir) for the data set it was trained on. */
export async function embeddingsFromCheckpoint(dir: string, ds: Dataset): Promise<Embeddings> {
  const ck = loadCheckpoint(dir);
  // Defaults merged field by field, as the CLI's restore does: an older checkpoint lacks newer nested fields.
  const cfg: TrainConfig = savedTrainConfig(ck.meta.config, `${dir} config`);
  const model = buildModel(ds, cfg);
  try {
    loadWeights(model, ck.weights, join(dir, String(ck.meta.files), 'model.safetensors'));
    return await computeEmbeddings(model, ds, { excludeModalities: cfg.excludeModalities, maxLen: cfg.maxLen, tieOrder: cfg.tieOrder, recentInteractions: cfg.recentInteractions });
  } finally {
    model.dispose();
  }
}
