// Training benchmark (issue #4 §5): seconds per SAL epoch and per 1000 training sequences for MUFASA,
// wall time to the best validation NDCG@10, and the test metrics of that run.
//   npm run bench -- train [--data DIR] [--word-vectors FILE] [--epochs N] [--model PRESET] [--json FILE] [--quick]
//                          [--target-hr10 X]
// --target-hr10: time-to-quality (issue #5 §3): after every SAL epoch the test split is also ranked,
// for this report only (model selection stays on validation), and the wall time at which test HR@10
// first reaches X is printed; the time spent on these extra test evaluations is not counted.
// --model: a preset of src/model/presets.ts (default mufasa; e.g. sasrec, mufasa-dense).
// Default data: ../shared/data/ml-100k with its GloVe subset when present; --quick (or no data) uses
// the synthetic set.

import { existsSync } from 'node:fs';
import { initEngine } from '../src/gpu/engine.ts';
import { loadMovieLens } from '../src/data/movielens.ts';
import { makeSynthetic } from '../src/data/synthetic.ts';
import { train } from '../src/train/trainer.ts';
import { defaultTrainConfig } from '../src/train/config.ts';
import { dataSplit } from '../src/train/data.ts';
import { evaluateCases } from '../src/train/evaluate.ts';
import { finalize } from '../src/train/metrics.ts';
import { presetOverrides, deepMerge } from '../src/model/presets.ts';
import type { EpochLog } from '../src/train/trainer.ts';
import type { BenchArgs } from './lib/args.ts';
import { markdownTable, fmtNum } from './lib/table.ts';
import { writeJson, machineInfo, currentLoad } from './lib/json.ts';

export async function run(args: BenchArgs): Promise<void> {
  const e = await initEngine();
  const info = machineInfo();
  const dataDir = args.extra.data ?? new URL('../../shared/data/ml-100k', import.meta.url).pathname;
  const glove = args.extra['word-vectors'] ?? new URL('../../shared/data/glove/glove-ml100k-100d.txt', import.meta.url).pathname;
  const useReal = !args.quick && existsSync(dataDir);
  const ds = useReal ? await loadMovieLens(dataDir, { wordVectors: glove }) : makeSynthetic({ seed: 0 });
  const epochs = +(args.extra.epochs ?? (args.quick ? 3 : 10));
  console.log(`train: adapter ${e.gpu.kind} — ${e.gpu.description}; data ${ds.name} (${ds.numUsers} users, ${ds.numItems} items); ${epochs} SAL epochs`);
  const log: EpochLog[] = [];
  const model = args.extra.model ?? 'mufasa';
  const cfg = { ...deepMerge(defaultTrainConfig, presetOverrides(model), `model preset '${model}'`), epochs, patience: epochs };
  const target = args.extra['target-hr10'] !== undefined ? +args.extra['target-hr10'] : null;
  const testCases = target !== null ? dataSplit(ds, cfg).test : [];
  const curve: { epoch: number; wall_s: number; test_hr10: number; test_ndcg10: number }[] = [];
  let extra = 0; // ms spent on the report-only test evaluations
  const t0 = performance.now();
  const res = await train(ds, cfg, {
    onEvaluated: async ({ epoch, final, model: m, z }) => {
      if (target === null || final) return;
      const ts = performance.now();
      const t = finalize(await evaluateCases(m, z, testCases, cfg.maxLen));
      curve.push({ epoch, wall_s: (ts - t0 - extra) / 1000, test_hr10: t['HR@10'], test_ndcg10: t['NDCG@10'] });
      console.log(`    (report only) test HR@10 ${fmtNum(t['HR@10'], 4)} NDCG@10 ${fmtNum(t['NDCG@10'], 4)} at ${fmtNum(curve[curve.length - 1].wall_s)} s`);
      extra += performance.now() - ts;
    },
    onEpoch: (l) => {
      log.push(l);
      console.log(`  [${l.stage}] epoch ${l.epoch}: loss ${fmtNum(l.loss, 4)}, ${fmtNum(l.seconds)} s${l.valid ? `, valid NDCG@10 ${fmtNum(l.valid['NDCG@10'], 4)}` : ''}`);
    },
  });
  const sal = log.filter((l) => l.stage === 'sal');
  const secPerEpoch = sal.reduce((a, l) => a + l.seconds, 0) / Math.max(1, sal.length);
  const trainSeqs = ds.sequences.filter((s) => s.length >= 4).length; // users with ≥ 2 training items
  const pre = log.filter((l) => l.stage !== 'sal').reduce((a, l) => a + l.seconds, 0);
  const toBest = pre + sal.filter((l) => l.epoch <= res.bestEpoch).reduce((a, l) => a + l.seconds, 0);
  const row = {
    model,
    dataset: ds.name,
    adapter: e.gpu.kind,
    sal_epochs: sal.length,
    s_per_epoch: secPerEpoch,
    s_per_1000_sequences: (secPerEpoch / trainSeqs) * 1000,
    pretrain_s: pre,
    best_epoch: res.bestEpoch,
    wall_s_to_best: toBest,
    wall_s: res.wallSeconds,
    test: res.test,
    valid: res.valid,
    target_hr10: target,
    wall_s_to_target: curve.find((c) => c.test_hr10 >= (target ?? Infinity))?.wall_s ?? null,
    test_curve: curve,
  };
  if (target !== null) console.log(`time to test HR@10 ≥ ${target}: ${row.wall_s_to_target === null ? 'not reached' : `${fmtNum(row.wall_s_to_target)} s`}`);
  console.log(
    '\n' +
      markdownTable(
        ['model', 'data', 'adapter', 's/epoch', 's/1000 seq', 'CF+MFL s', 'best epoch', 'wall s to best', 'test HR@10', 'test NDCG@10'],
        [[row.model, row.dataset, row.adapter, fmtNum(row.s_per_epoch), fmtNum(row.s_per_1000_sequences), fmtNum(row.pretrain_s), row.best_epoch, fmtNum(row.wall_s_to_best), fmtNum(res.test['HR@10'], 4), fmtNum(res.test['NDCG@10'], 4)]],
      ),
  );
  if (args.json) console.log(`wrote ${writeJson(args.json, { bench: 'train', adapter: e.gpu.description, machine: { ...info, loadavg_end: currentLoad() }, config: cfg, rows: [row], log })}`);
  e.destroy();
}
