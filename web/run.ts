// The demo's training run, free of the DOM: the page (web/main.ts) and the browser test's Node side
// (test/browser/demo.browser.test.ts) call this same function with the same config, so their losses
// can be compared step by step. It is the library trainer (src/train/trainer.ts) with the demo's
// hooks: per-term losses, pause (an awaited onStep), stop (AbortSignal), a step limit, and an
// inspection snapshot after every evaluation.

import type { Dataset } from '../src/data/dataset.ts';
import { makeSynthetic } from '../src/data/synthetic.ts';
import { ML100K_GENRES } from '../src/data/movielens.ts';
import type { SyntheticDataset } from '../src/data/synthetic.ts';
import { leaveOneOut } from '../src/data/split.ts';
import type { EvalCase } from '../src/data/split.ts';
import { train } from '../src/train/trainer.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import type { TrainResult, EpochLog, StepLosses } from '../src/train/trainer.ts';
import type { TrainConfig } from '../src/train/config.ts';
import { inspect } from './inspect.ts';
import type { Snapshot, InspectableModel } from './inspect.ts';

export interface DemoConfig {
  seed: number;
  /** Synthetic set size (ignored for MovieLens files). */
  users: number;
  items: number;
  dim: number;
  blockSize: number;
  topK: number;
  /** 0 = the paper's rule (8 if the history is longer than 30, else 4). */
  window: number;
  weights: { title: number; cf: number; cons: number; fusCl: number };
  /** SAL epochs, MFL epochs, BPR epochs (0: no L_cf). */
  epochs: number;
  mflEpochs: number;
  cfEpochs: number;
  lr: number;
  batchSize: number;
  itemBatchSize: number;
  maxLen: number;
  lossReadEvery: number;
  /** Stop after this many optimizer steps (0: no limit). */
  maxSteps: number;
}

export const defaultDemoConfig: DemoConfig = {
  seed: 0,
  users: 200,
  items: 300,
  dim: 32,
  blockSize: 8,
  topK: 4,
  window: 0,
  weights: { ...defaultTrainConfig.model.mfl.weights },
  epochs: 6,
  mflEpochs: 3,
  cfEpochs: 5,
  lr: 2e-3,
  batchSize: 32,
  itemBatchSize: 128,
  maxLen: 60,
  lossReadEvery: 5,
  maxSteps: 0,
};

export function trainConfig(c: DemoConfig): TrainConfig {
  const base = defaultTrainConfig;
  return {
    ...base,
    seed: c.seed,
    epochs: c.epochs,
    mflEpochs: c.mflEpochs,
    cfEpochs: c.cfEpochs,
    lr: c.lr,
    batchSize: c.batchSize,
    itemBatchSize: c.itemBatchSize,
    maxLen: c.maxLen,
    lossReadEvery: c.lossReadEvery,
    patience: c.epochs, // the demo shows every epoch it was asked for
    model: {
      ...base.model,
      dim: c.dim,
      mfl: { ...base.model.mfl, weights: { ...c.weights } },
      sal: { ...base.model.sal, blockSize: c.blockSize, topK: c.topK, window: c.window > 0 ? c.window : 'paper' },
    },
  };
}

export function syntheticData(c: DemoConfig): SyntheticDataset {
  return makeSynthetic({ seed: c.seed, users: c.users, items: c.items });
}

/** Category per item for colouring (synthetic: the planted topic; MovieLens: the first genre flag). */
export function itemGroups(ds: Dataset): { group: Int32Array; names: string[] } {
  const topic = (ds as Partial<SyntheticDataset>).itemTopic;
  if (topic) return { group: topic, names: Array.from({ length: Math.max(...topic) + 1 }, (_, t) => `topic ${t}`) };
  const g = ds.items.modalities.find((m) => m.name === 'genre');
  const group = new Int32Array(ds.numItems);
  if (!g) return { group, names: ['item'] };
  for (let i = 0; i < ds.numItems; i++) {
    let k = 0;
    while (k < g.dim && g.values[i * g.dim + k] <= 0) k++;
    group[i] = k < g.dim ? k : 0;
  }
  return { group, names: g.dim === ML100K_GENRES.length ? [...ML100K_GENRES] : Array.from({ length: g.dim }, (_, k) => `genre ${k}`) };
}

/** The MFL input of each item (its modalities, concatenated; missing ones zero), for the "before MFL" view. */
export function mflInputs(ds: Dataset, cfg: TrainConfig): { x: Float32Array; dim: number } {
  const mods = ds.items.modalities.filter((m) => !cfg.excludeModalities.includes(m.name));
  const dim = mods.reduce((a, m) => a + m.dim, 0);
  const x = new Float32Array(ds.numItems * dim);
  let off = 0;
  for (const m of mods) {
    for (let i = 0; i < ds.numItems; i++) if (m.present[i]) for (let k = 0; k < m.dim; k++) x[i * dim + off + k] = m.values[i * m.dim + k];
    off += m.dim;
  }
  return { x, dim };
}

export interface DemoCallbacks {
  onLosses?: (stage: 'mfl' | 'sal', step: number, l: StepLosses) => void;
  onEpoch?: (e: EpochLog) => void;
  /** Before every step (global count from 0); awaited: the page pauses here. */
  onStep?: (stage: string, globalStep: number, stepInEpoch: number, stepsPerEpoch: number) => void | Promise<void>;
  onSnapshot?: (s: Snapshot, cases: EvalCase[]) => void | Promise<void>;
  /** The user's Stop. */
  signal?: AbortSignal;
}

export interface DemoRun {
  result: TrainResult;
  steps: number;
  /** Test cases (history = all but the last item; row order of snapshots). */
  cases: EvalCase[];
}

export async function runDemo(ds: Dataset, c: DemoConfig, cb: DemoCallbacks = {}): Promise<DemoRun> {
  const cfg = trainConfig(c);
  const stop = new AbortController();
  const forward = () => stop.abort();
  cb.signal?.addEventListener('abort', forward);
  if (cb.signal?.aborted) stop.abort();
  const cases = leaveOneOut(ds, { maxLen: cfg.maxLen }).test;
  let steps = 0;
  try {
    const result = await train(ds, cfg, {
      signal: stop.signal,
      onLosses: cb.onLosses,
      onEpoch: cb.onEpoch,
      onStep: async (stage, step, per) => {
        await cb.onStep?.(stage, steps, step, per);
        if (c.maxSteps > 0 && steps >= c.maxSteps) stop.abort();
        if (!stop.signal.aborted) steps++;
      },
      onEvaluated: cb.onSnapshot
        ? async ({ epoch, final, model, z }) => cb.onSnapshot!(await inspect(model as unknown as InspectableModel, z, cases, cfg.maxLen, { epoch, final }), cases)
        : undefined,
    });
    return { result, steps, cases };
  } finally {
    cb.signal?.removeEventListener('abort', forward);
  }
}
