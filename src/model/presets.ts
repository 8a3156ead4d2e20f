// Named models (`--model`, `mufasa compare --models`): each is a set of overrides of the training
// config, so an ablation is a config and trains through the same pipeline as the full model.
// Paper Tables 5–6 name the ablations; where the paper leaves the replacement open the choice is here.
//
// popularity and bpr are not sequence models: `mufasa compare` runs them itself (src/compare/baselines.ts).

const noLoss = (k: 'title' | 'cf' | 'cons' | 'fusCl') => ({ model: { mfl: { weights: { [k]: 0 } } } });

/** Overrides per model name (applied to defaultTrainConfig, or to --config when given). */
export const PRESETS: Record<string, { description: string; overrides: Record<string, unknown> }> = {
  mufasa: { description: 'MUFASA: MFL (four losses) → SAL (window, block, top-k selective attention, gate)', overrides: {} },
  'mufasa-no-mfl': {
    description: 'w/o MFL: modalities concatenated (missing ones zeroed, presence flags appended) and projected; no MFL losses, no CF pretraining',
    overrides: { model: { itemTower: 'concat' }, mflEpochs: 0, cfEpochs: 0 },
  },
  'mufasa-no-sal': { description: 'w/o SAL: MFL item vectors, user = mean of the items so far', overrides: { model: { userTower: 'mean' } } },
  'mufasa-dense': { description: 'MUFASA with one dense causal attention layer in place of the three sparse branches', overrides: { model: { userTower: 'dense' } } },
  'mufasa-no-id': {
    description: 'MUFASA without item ID embeddings: item vectors from the content alone (MFL), as a cold-start item tower must be',
    // How much of what MUFASA learns the content alone can carry (issue 5: "modality quality").
    overrides: { model: { useIdEmbedding: false } },
  },
  'mufasa-id-only': {
    description: "MUFASA without content: item vectors are ID embeddings alone (itemTower 'id'), no MFL, no CF pretraining",
    // The control for every MUFASA-vs-SASRec gap: what is left of it without the modalities is the
    // user tower, head and loss, not multimodal fusion. ML-100K, ties shuffled, 3 seeds (the issue 5
    // notes): test HR@10 / NDCG@10 0.2195 / 0.1187 against MUFASA's 0.2192 / 0.1203 and SASRec's
    // 0.2078 / 0.1115: there the content adds nothing measurable and SAL with its head is the lead.
    overrides: { model: { itemTower: 'id' }, mflEpochs: 0, cfEpochs: 0 },
  },
  'mufasa-cosine': {
    description: "MUFASA with cosine user–item scores at temperature 0.1 (the MFL losses' similarity, §3.1; the default until 'dot' measured better)",
    // Reproduces the comparison at MufasaConfig.score's default.
    overrides: { model: { score: 'cosine', temperature: 0.1 } },
  },
  // The four MFL losses with the dot default (ML-100K, ties shuffled; paired over users against MUFASA
  // of the same seed, test HR@10 / NDCG@10): without L_title (seed 0) +0.005 ± 0.009 / +0.005 ± 0.004,
  // L_cons +0.001 ± 0.003 / +0.001 ± 0.001, L_fus-cl +0.003 ± 0.006 / +0.002 ± 0.003 — level; without
  // L_cf and its BPR pretraining (seeds 0–1) −0.014 ± 0.006 / −0.008 ± 0.003, the one below. Content
  // without the CF target costs a little; with it, it is worth what no content is (mufasa-id-only).
  'mufasa-no-title': { description: 'MUFASA without L_title (weight 0)', overrides: noLoss('title') },
  'mufasa-no-cf': { description: 'MUFASA without L_cf (weight 0; no CF pretraining)', overrides: { ...noLoss('cf'), cfEpochs: 0 } },
  'mufasa-no-cons': { description: 'MUFASA without L_cons (weight 0)', overrides: noLoss('cons') },
  'mufasa-no-fuscl': { description: 'MUFASA without L_fus-cl (weight 0)', overrides: noLoss('fusCl') },
  sasrec: {
    description: 'SASRec (Kang & McAuley 2018): ID embeddings + positions, 2 causal self-attention blocks, 2 heads, full-catalog CE',
    // RecBole's SASRec anchor (issue #5) uses max length 50; no content, so no CF/MFL stages. 50 is
    // also the stronger SASRec on ML-100K: at MUFASA's 200 (ties shuffled, windowStride 'half', seeds
    // 0–1, llvmpipe-GL) best valid NDCG@10 0.1060 → test HR@10 / NDCG@10 0.1935 / 0.1027 against
    // 0.1205 → 0.2047 / 0.1100 at 50 (paired over users: test −0.011 ± 0.008 / −0.007 ± 0.005, valid
    // −0.022 ± 0.009 / −0.015 ± 0.005), at ≈ 1.4× the epoch time. So MUFASA's lead is over the better
    // of the two, and the longer context it reads is not what a dense SASRec can use.
    overrides: { arch: 'sasrec', maxLen: 50, mflEpochs: 0, cfEpochs: 0 },
  },
};

/** Non-sequence sanity rows of `mufasa compare` (src/compare/baselines.ts). */
export const BASELINES = ['popularity', 'bpr', 'content-knn'] as const;

export const MODEL_NAMES = [...Object.keys(PRESETS), ...BASELINES];

export function presetOverrides(name: string): Record<string, unknown> {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown model '${name}' (known: ${MODEL_NAMES.join(', ')})`);
  return p.overrides;
}

/**
 * base with `over` merged in, recursively; a field `over` has that `base` lacks is an error naming it
 * (`where` says whose field: a config file, a preset).
 */
export function deepMerge<T>(base: T, over: unknown, where = 'config'): T {
  if (!over || typeof over !== 'object' || Array.isArray(over)) return (over ?? base) as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    if (!(k in out)) throw new Error(`${where}: unknown field '${k}' (known: ${Object.keys(out).join(', ')})`);
    out[k] = v && typeof v === 'object' && !Array.isArray(v) ? deepMerge(out[k], v, where) : v;
  }
  return out as T;
}
