// `mufasa compare` (issue #5 §2): train every model × seed through the one trainer (same split,
// early stopping on validation NDCG@10, same GPU evaluation), then a table of mean ± std over seeds.
//
//   OUT/<model>/seed-<s>/results.json   one run (the schema of `mufasa train`); its presence marks
//                                       the run finished: a rerun with the same config reads it instead
//                                       of training again; one with only a larger patience, epoch cap
//                                       or time budget continues it from last/ (see runPlan)
//   OUT/<model>/seed-<s>/ranks.json     every validation and test target's rank (paired differences),
//                                       written just before results.json
//   OUT/<model>/seed-<s>/last/          the run's resumable checkpoint (an interrupted run continues)
//   OUT/<model>/seed-<s>/checkpoint/    the best model (`mufasa eval|embed --checkpoint`)
//   OUT/compare.json, OUT/compare.md    the aggregate (src/compare/tables.ts), rewritten after every run
//
// std is the sample standard deviation over seeds (n − 1); with one seed it is 0.
// s/epoch is the mean wall time of a main-stage epoch (SAL stage, or BPR epochs), validation included;
// "to best" is the wall time from the start of the run (CF and MFL pretraining included) to the end of
// the best epoch.

import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.ts';
import { train } from '../train/trainer.ts';
import { defaultTrainConfig, savedTrainConfig, smallerStopping, STOPPING_FIELDS } from '../train/config.ts';
import type { TrainResult, EpochLog } from '../train/trainer.ts';
import type { TrainConfig } from '../train/config.ts';
import { writeFileAtomic, loadCheckpoint } from '../train/checkpoint.ts';
import { presetOverrides, deepMerge, BASELINES } from '../model/presets.ts';
import { trainPopularity, trainBprMf, trainContentKnn } from './baselines.ts';
import type { PopularityGroup, GapGroup, ColdnessGroup } from '../train/breakdown.ts';
import type { RunRanks } from './paired.ts';
import { aggregate, pairedRows, compareMarkdown } from './tables.ts';
import type { RunRow, ModelRow, PairedRow } from './tables.ts';

export type { RunRow, ModelRow, PairedRow, MeanGroup } from './tables.ts';

export const LOO_COLUMNS = ['HR@10', 'HR@20', 'NDCG@10', 'NDCG@20', 'MRR@10'];
export const ZERO_SHOT_COLUMNS = ['Recall@5', 'Recall@10', 'Recall@20', 'Recall@50', 'Recall@100'];

export interface CompareOptions {
  models: string[];
  /** Seeds 0 … seeds − 1. */
  seeds: number;
  out: string;
  /** Base config (e.g. from --config); each model's preset is merged over it. */
  base?: TrainConfig;
  /** Cap on main-stage epochs (early stopping may end sooner). */
  epochs?: number;
  /** Per-run wall-clock budget in seconds (the run stops after the epoch that passes it). */
  timeBudget?: number;
  /** Early-stopping patience of every run (validation evaluations without a better NDCG@10). */
  patience?: number;
  zeroShot?: boolean;
  /** Recorded in checkpoints and results (how to reload the data). */
  dataSource?: Record<string, unknown>;
  log?: (line: string) => void;
  onEpoch?: (model: string, seed: number, e: EpochLog) => void;
}

export interface CompareResult {
  dataset: string;
  protocol: 'leaveOneOut' | 'zeroShot';
  columns: string[];
  rows: ModelRow[];
  paired: PairedRow[];
  skipped: { model: string; reason: string }[];
  markdown: string;
}

/** results.json of a run (the `mufasa train` schema, plus params and timing). */
export function resultsJson(model: string, ds: Dataset, res: TrainResult): Record<string, unknown> {
  const main = mainEpochs(res.log);
  const best = main.find((l) => l.epoch === res.bestEpoch);
  return {
    model,
    dataset: ds.name,
    seed: res.config.seed,
    config: res.config,
    protocol: res.config.protocol ?? 'leaveOneOut',
    epochs: main.length,
    best_epoch: res.bestEpoch,
    wall_s: res.wallSeconds,
    params: res.numParameters,
    s_per_epoch: main.length ? main.reduce((a, l) => a + l.seconds, 0) / main.length : 0,
    wall_to_best_s: best?.wall ?? res.wallSeconds,
    seen_items_excluded: true,
    metrics: { valid: res.valid, test: res.test, test_seen_in_ranking: res.testWithSeen, ...(res.testByPopularity ? { test_by_popularity: res.testByPopularity } : {}), ...(res.validByGap ? { valid_by_gap: res.validByGap } : {}), ...(res.testByGap ? { test_by_gap: res.testByGap } : {}), ...(res.testByColdness ? { test_by_coldness: res.testByColdness } : {}) },
    log: res.log,
  };
}

function mainEpochs(log: EpochLog[]): EpochLog[] {
  const sal = log.filter((l) => l.stage === 'sal');
  return sal.length ? sal : log.filter((l) => l.stage === 'cf');
}

/**
 * Writes a finished run: ranks.json (every target's rank, compact) first, then results.json, whose
 * presence marks the run finished (so a finished run always has both).
 */
export function writeRunFiles(dir: string, results: Record<string, unknown>, ranks: RunRanks | undefined): void {
  if (ranks) writeFileAtomic(join(dir, 'ranks.json'), JSON.stringify(ranks) + '\n');
  writeFileAtomic(join(dir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
}

/** A finished run's ranks.json, if it has one (runs from before it do not). */
function readRanks(dir: string): RunRanks | undefined {
  const f = join(dir, 'ranks.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as RunRanks) : undefined;
}

function rowOf(model: string, seed: number, r: Record<string, unknown>, ranks: RunRanks | undefined): RunRow {
  const m = r.metrics as { valid: Record<string, number>; test: Record<string, number>; test_seen_in_ranking?: Record<string, number>; test_by_popularity?: PopularityGroup[]; valid_by_gap?: GapGroup[]; test_by_gap?: GapGroup[]; test_by_coldness?: ColdnessGroup[] };
  return {
    model,
    seed,
    test: m.test,
    testWithSeen: m.test_seen_in_ranking,
    testByPopularity: m.test_by_popularity,
    validByGap: m.valid_by_gap,
    testByGap: m.test_by_gap,
    testByColdness: m.test_by_coldness,
    ranks,
    valid: m.valid,
    params: Number(r.params ?? 0),
    s_per_epoch: Number(r.s_per_epoch ?? 0),
    wall_to_best_s: Number(r.wall_to_best_s ?? r.wall_s),
    best_epoch: Number(r.best_epoch),
    epochs: Number(r.epochs),
    wall_s: Number(r.wall_s),
  };
}

/** The config one model × seed trains with. */
export function runConfig(model: string, seed: number, o: Pick<CompareOptions, 'base' | 'epochs' | 'timeBudget' | 'patience' | 'zeroShot'>): TrainConfig {
  let cfg = o.base ?? defaultTrainConfig;
  if (!BASELINES.includes(model as (typeof BASELINES)[number])) cfg = deepMerge(cfg, presetOverrides(model), `model preset '${model}'`);
  cfg = { ...cfg, seed };
  if (o.epochs !== undefined) cfg = { ...cfg, epochs: o.epochs };
  if (o.timeBudget !== undefined) cfg = { ...cfg, timeBudget: o.timeBudget };
  if (o.patience !== undefined) cfg = { ...cfg, patience: o.patience };
  if (o.zeroShot) cfg = { ...cfg, protocol: 'zeroShot' };
  return cfg;
}

/** Every field (dotted path) whose value differs between two configs, with both values. */
export function configChanges(before: unknown, after: unknown, path = ''): { field: string; before: unknown; after: unknown }[] {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => configChanges(before[k], after[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ field: path, before, after }];
}

/**
 * What to do with OUT/<model>/seed-<s> given the config it must have: 'train' (nothing there yet, or an
 * interrupted run to resume from last/), 'reuse' (finished with this config), 'extend' (finished, and
 * only STOPPING_FIELDS grew: a sequence model resumes from last/ and the trainer decides again whether
 * it has stopped; a baseline, which has no last/, is retrained). Any other change is an error: mixing
 * runs of two configs in one table would be silently wrong, and a run cannot be cut back to a smaller
 * epoch cap, patience or budget than it ran with.
 */
export function runPlan(dir: string, cfg: TrainConfig): { action: 'train' | 'reuse' | 'extend'; changes: string[] } {
  const file = join(dir, 'results.json');
  const last = join(dir, 'last');
  const done = existsSync(file);
  const saved = done ? JSON.parse(readFileSync(file, 'utf8')).config : existsSync(join(last, 'checkpoint.json')) ? loadCheckpoint(last).meta.config : undefined;
  if (saved === undefined) return { action: done ? 'reuse' : 'train', changes: [] }; // results without a config: nothing to check
  const savedCfg = savedTrainConfig(saved, `${done ? file : last} config`);
  const changes = configChanges(savedCfg, cfg);
  const fmt = (c: (typeof changes)[number]) => `${c.field} ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`;
  const smaller = new Set<string>(smallerStopping(savedCfg, cfg));
  const other = changes.filter((c) => !(STOPPING_FIELDS as readonly string[]).includes(c.field) || smaller.has(c.field));
  if (other.length) {
    throw new Error(`${dir}: ${done ? 'trained' : 'started'} with another config (${other.map(fmt).join(', ')}); only a larger epochs, patience or timeBudget continues a run; use another --out, or delete that directory to train it again`);
  }
  return { action: !done ? 'train' : changes.length ? 'extend' : 'reuse', changes: changes.map(fmt) };
}

export async function compare(ds: Dataset, o: CompareOptions): Promise<CompareResult> {
  const log = o.log ?? (() => {});
  if (!o.models.length) throw new Error('compare: no models given');
  if (!(Number.isInteger(o.seeds) && o.seeds >= 1)) throw new Error(`compare: --seeds must be a positive integer, got ${o.seeds}`);
  for (const m of o.models) if (!BASELINES.includes(m as (typeof BASELINES)[number])) presetOverrides(m); // unknown names fail before any training
  const protocol = o.zeroShot ? 'zeroShot' : 'leaveOneOut';
  const columns = o.zeroShot ? ZERO_SHOT_COLUMNS : LOO_COLUMNS;
  mkdirSync(o.out, { recursive: true });
  const runs: RunRow[] = [];
  const skipped: { model: string; reason: string }[] = [];
  let result: CompareResult = { dataset: ds.name, protocol, columns, rows: [], paired: [], skipped, markdown: '' };
  const write = () => {
    const rows = aggregate(runs, columns);
    const paired = pairedRows(runs);
    const markdown = compareMarkdown({ dataset: ds.name, protocol, columns, rows, paired, skipped, base: o.base ?? defaultTrainConfig });
    result = { dataset: ds.name, protocol, columns, rows, paired, skipped, markdown };
    writeFileAtomic(join(o.out, 'compare.md'), markdown);
    writeFileAtomic(join(o.out, 'compare.json'), JSON.stringify({ dataset: ds.name, protocol, seen_items_excluded: true, columns, std: 'sample (n-1)', models: rows.map(({ runs: rr, ...m }) => ({ ...m, runs: rr.map(({ ranks: _r, ...run }) => run) })), paired, skipped }, null, 2) + '\n');
  };
  // Every run directory is checked against its config before anything trains (runPlan).
  const withRuns = o.models.filter((m) => !(m === 'bpr' && o.zeroShot));
  const plans = new Map(withRuns.flatMap((model) => Array.from({ length: o.seeds }, (_, seed) => {
    const dir = join(o.out, model, `seed-${seed}`);
    const cfg = runConfig(model, seed, o);
    return [`${model}/${seed}`, { cfg, ...runPlan(dir, cfg) }] as const;
  })));
  for (const model of o.models) {
    if (model === 'bpr' && o.zeroShot) {
      skipped.push({ model, reason: 'BPR-MF has no vector for users held out of training (no zero-shot row)' });
      continue;
    }
    for (let seed = 0; seed < o.seeds; seed++) {
      const dir = join(o.out, model, `seed-${seed}`);
      const file = join(dir, 'results.json');
      const plan = plans.get(`${model}/${seed}`)!;
      if (plan.action === 'reuse') {
        log(`[${model} seed ${seed}] finished before: ${file}`);
        runs.push(rowOf(model, seed, JSON.parse(readFileSync(file, 'utf8')), readRanks(dir)));
        write();
        continue;
      }
      if (plan.action === 'extend') {
        // The old results go first: until the run finishes again, results.json must not describe a
        // run whose checkpoint/ (best model) and last/ have moved on. An interruption leaves a
        // resumable run, not a stale finished one.
        log(`[${model} seed ${seed}] finished before with ${plan.changes.join(', ')}: continuing`);
        rmSync(file);
      }
      mkdirSync(dir, { recursive: true });
      const cfg = plan.cfg;
      log(`[${model} seed ${seed}] training → ${dir}`);
      let res: TrainResult;
      if (model === 'popularity') res = await trainPopularity(ds, cfg);
      else if (model === 'bpr') res = await trainBprMf(ds, cfg);
      else if (model === 'content-knn') res = await trainContentKnn(ds, cfg);
      else {
        const last = join(dir, 'last');
        const resumeFrom = existsSync(join(last, 'checkpoint.json')) ? last : undefined;
        if (resumeFrom) log(`[${model} seed ${seed}] resuming from epoch ${loadCheckpoint(last).meta.epoch}`);
        const dataSource = { ...(o.dataSource ?? {}), model };
        res = await train(ds, cfg, { lastDir: last, checkpointDir: join(dir, 'checkpoint'), resumeFrom, dataSource, onEpoch: (e) => o.onEpoch?.(model, seed, e) });
      }
      const json = resultsJson(model, ds, res);
      writeRunFiles(dir, json, res.ranks);
      runs.push(rowOf(model, seed, json, res.ranks));
      const t = res.test;
      log(`[${model} seed ${seed}] test ${columns.slice(0, 3).map((c) => `${c} ${(t[c] ?? NaN).toFixed(4)}`).join(', ')} (best epoch ${res.bestEpoch}, ${res.wallSeconds.toFixed(1)} s)`);
      write();
    }
  }
  write();
  return result;
}
