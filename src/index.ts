// mufasa-gpu's Node entry (package.json "exports" → "node"/"default"): the browser entry plus what
// needs a file system — data loaders, checkpoints, the trainer, embedding export.
export * from './browser.ts';

// Loaders for files (errors: DataFormatError with file and line).
export { loadMovieLens } from './data/movielens.ts';
export type { MovieLensOptions } from './data/movielens.ts';
export { loadGeneric } from './data/generic.ts';
export type { GenericOptions } from './data/generic.ts';
export { loadWordVectors, sifEmbed } from './data/text.ts';
export type { WordVectors, SifOptions } from './data/text.ts';
export { makeSynthetic } from './data/synthetic.ts';
export type { SyntheticOptions, SyntheticDataset } from './data/synthetic.ts';

// Training (CF pretraining → MFL → SAL with early stopping), checkpoints, embeddings.
export { train } from './train/trainer.ts';
export { defaultTrainConfig } from './train/config.ts';
export { buildModel } from './train/build.ts';
export { evaluateCases, rankCases } from './train/evaluate.ts';
export { metricsByPopularity, itemCounts } from './train/breakdown.ts';
export type { PopularityGroup } from './train/breakdown.ts';
export type { TrainHooks, TrainResult, EpochLog } from './train/trainer.ts';
export type { TrainConfig } from './train/config.ts';
export { trainBPR } from './train/cf.ts';
export type { BPRData, BPROptions, BPRResult } from './train/cf.ts';
export { saveCheckpoint, loadCheckpoint, encodeSafetensors, decodeSafetensors } from './train/checkpoint.ts';
export type { NamedArray, CheckpointMeta } from './train/checkpoint.ts';
export { computeEmbeddings, embeddingsFromCheckpoint } from './train/embeddings.ts';
export type { Embeddings } from './train/embeddings.ts';
